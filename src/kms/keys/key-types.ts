import type { Selectable } from "kysely";
import type { ProtectionLevel } from "../protection/protection.js";
import type { KeysTable, KeyVersionsTable } from "../store/schema.js";

export type KeyRow = Selectable<KeysTable>;
export type KeyVersionRow = Selectable<KeyVersionsTable>;
export type KeyState = "Enabled" | "Disabled" | "PendingDeletion";

/** Plaintext limit of Encrypt (bytes of the Plaintext parameter), as Alibaba KMS. */
export const MAX_PLAINTEXT_BYTES = 6144;
export const DAY_MS = 86_400_000;

/** A tag as the API spells it (validated by key-params.ts parseTags). */
export interface TagInput {
  readonly TagKey: string;
  readonly TagValue: string;
}

export interface CreateKeyInput {
  description: string;
  protectionLevel: ProtectionLevel;
  keySpec: string;
  keyUsage: string;
  origin: string;
  rotationIntervalS: number | undefined;
  automaticRotation: boolean;
  creator: string;
  /** Set with the key, in the same transaction (CreateKey's Tags). */
  tags?: readonly TagInput[];
}

export interface KeyListFilters {
  KeyState?: readonly string[];
  KeySpec?: readonly string[];
  ProtectionLevel?: readonly string[];
}

export interface Page {
  pageNumber: number;
  pageSize: number;
}

export interface EncryptResult {
  ciphertextBlob: string;
  keyId: string;
  keyVersionId: string;
}

export interface DecryptResult {
  plaintext: Buffer;
  keyId: string;
  keyVersionId: string;
}

export interface KeyTag {
  tag_key: string;
  tag_value: string;
}
