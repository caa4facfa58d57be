/**
 * The `local` backend: the KEK is on this node (a key file or a PKCS#11 token), for a single node
 * without a KMS server. The first KEK encrypts; all of them decrypt (rotation: put the new key first).
 *
 * Ciphertext (format 1, never changed in place):
 *   0x01 ‖ fingerprint(16) ‖ nonce(12) ‖ AES-256-GCM ciphertext ‖ tag(16); AAD = the first 17 bytes.
 */
import { AtrestError } from "../common/errors.js";
import { systemRandom, type Random } from "../common/random.js";
import { decodeAnnotations, encodeAnnotations } from "./annotations.js";
import type { BackendCiphertext, BackendDecryptRequest, CallContext, KmsBackend } from "./backend.js";
import type { LocalKek } from "./local-kek.js";

const FORMAT_V1 = 0x01;
const FINGERPRINT_BYTES = 16;
const HEADER_BYTES = 1 + FINGERPRINT_BYTES;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** The key id the annotations carry for a local KEK; the version is its fingerprint. */
export const LOCAL_KEY_NAME = "local-kek";
export const LOCAL_MAX_PLAINTEXT_BYTES = 4608;

export function localKeyId(fingerprint: string): string {
  return `local:${fingerprint}`;
}

export function createLocalBackend(options: { keks: readonly LocalKek[]; random?: Random }): KmsBackend {
  const primary = options.keks[0];
  if (primary === undefined)
    throw new AtrestError("invalid-argument", "the local backend needs a KEK (--key-file or --pkcs11-*)");
  const random = options.random ?? systemRandom;
  const byFingerprint = new Map(options.keks.map((k) => [k.fingerprint, k]));

  return {
    kind: "local",
    description: `local ${primary.description} (${localKeyId(primary.fingerprint)})`,

    async encrypt(plaintext: Buffer, _ctx: CallContext): Promise<BackendCiphertext> {
      if (plaintext.length > LOCAL_MAX_PLAINTEXT_BYTES) {
        throw new AtrestError(
          "invalid-argument",
          `plaintext is ${plaintext.length} bytes; at most ${LOCAL_MAX_PLAINTEXT_BYTES} are accepted`,
        );
      }
      const header = Buffer.concat([Buffer.of(FORMAT_V1), Buffer.from(primary.fingerprint, "hex")]);
      const nonce = random.bytes(NONCE_BYTES);
      const sealed = await primary.seal(nonce, plaintext, header);
      return {
        ciphertext: Buffer.concat([header, nonce, sealed.ciphertext, sealed.tag]),
        keyId: localKeyId(primary.fingerprint),
        annotations: encodeAnnotations({ keyId: LOCAL_KEY_NAME, keyVersionId: primary.fingerprint }),
      };
    },

    async decrypt(request: BackendDecryptRequest, _ctx: CallContext): Promise<Buffer> {
      const ct = request.ciphertext;
      if (ct.length < HEADER_BYTES + NONCE_BYTES + TAG_BYTES || ct[0] !== FORMAT_V1) {
        throw new AtrestError("invalid-argument", "ciphertext is not a local-backend ciphertext (format 1)");
      }
      const fingerprint = ct.subarray(1, HEADER_BYTES).toString("hex");
      const ref = request.annotations === undefined ? undefined : decodeAnnotations(request.annotations);
      if (ref !== undefined && (ref.keyId !== LOCAL_KEY_NAME || ref.keyVersionId !== fingerprint)) {
        throw new AtrestError("invalid-argument", "the annotations name a different key than the ciphertext");
      }
      if (request.keyId !== undefined && request.keyId !== localKeyId(fingerprint)) {
        throw new AtrestError(
          "invalid-argument",
          "key_id does not match the key that produced the ciphertext",
        );
      }
      const kek = byFingerprint.get(fingerprint);
      if (kek === undefined) {
        throw new AtrestError(
          "failed-precondition",
          `the ciphertext needs KEK ${localKeyId(fingerprint)}, which this plugin was not given (add its key file as an old key)`,
        );
      }
      const nonce = ct.subarray(HEADER_BYTES, HEADER_BYTES + NONCE_BYTES);
      const body = ct.subarray(HEADER_BYTES + NONCE_BYTES, ct.length - TAG_BYTES);
      const tag = ct.subarray(ct.length - TAG_BYTES);
      return kek.open(
        Buffer.from(nonce),
        { ciphertext: Buffer.from(body), tag: Buffer.from(tag) },
        Buffer.from(ct.subarray(0, HEADER_BYTES)),
      );
    },

    kmsCalls: () => 0,
    async close() {
      for (const kek of options.keks) await kek.close();
    },
  };
}
