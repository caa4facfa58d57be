/** Keys: lifecycle, versions, cryptography, aliases, tags and sweeps, under the rules of key-policy.ts. */
export { KeyService, type KeyServiceOptions } from "./key-service.js";
export {
  MAX_PLAINTEXT_BYTES,
  DAY_MS,
  type CreateKeyInput,
  type DecryptResult,
  type EncryptResult,
  type KeyListFilters,
  type KeyRow,
  type KeyState,
  type KeyTag,
  type KeyVersionRow,
  type Page,
  type TagInput,
} from "./key-types.js";
export {
  assertCryptoAllowed,
  assertKeyInvariants,
  checkRotationInterval,
  isRotationDue,
  planKeyChange,
  MAX_DESCRIPTION_CHARS,
  MAX_PENDING_WINDOW_DAYS,
  MAX_ROTATION_S,
  MAX_TAGS_PER_KEY,
  MIN_PENDING_WINDOW_DAYS,
  MIN_ROTATION_S,
  type KeyChange,
  type KeyPatch,
} from "./key-policy.js";
