/**
 * A key-encryption key held by this node (the `local` backend): AES-256-GCM either in process (a key
 * file) or inside a PKCS#11 token (pkcs11-kek.ts). Both identify themselves by the same check value,
 * so a key moved from a file into a token keeps its key_id.
 */
import { createCipheriv, createDecipheriv, createHash } from "node:crypto";
import { AtrestError } from "../common/errors.js";

export interface GcmOutput {
  readonly ciphertext: Buffer;
  readonly tag: Buffer;
}

export interface LocalKek {
  /** 32 hex characters; derived from the key's check value, safe to show. */
  readonly fingerprint: string;
  readonly description: string;
  seal(iv: Buffer, plaintext: Buffer, aad: Buffer): Promise<GcmOutput>;
  /** Throws AtrestError "data-corrupt" when authentication fails. */
  open(iv: Buffer, sealed: GcmOutput, aad: Buffer): Promise<Buffer>;
  close(): Promise<void>;
}

// Check value input: must never change, key_ids of stored data derive from it.
const CHECK_IV = Buffer.alloc(12);
const CHECK_PLAINTEXT = Buffer.alloc(32);
const CHECK_AAD = Buffer.from("atrest local kek check value v1", "utf8");

/** Runs synchronous work as a promise, a throw becoming a rejection. */
export function settle<T>(fn: () => T): Promise<T> {
  try {
    return Promise.resolve(fn());
  } catch (err) {
    return Promise.reject(err instanceof Error ? err : new Error(String(err)));
  }
}

/** sha256 over the GCM encryption of a fixed block (a key check value); reveals nothing of the key. */
export async function kekFingerprint(
  seal: (iv: Buffer, plaintext: Buffer, aad: Buffer) => Promise<GcmOutput>,
): Promise<string> {
  const out = await seal(CHECK_IV, CHECK_PLAINTEXT, CHECK_AAD);
  return createHash("sha256").update(out.ciphertext).update(out.tag).digest("hex").slice(0, 32);
}

/** Parses a key file's content: 32 raw bytes, or base64 of 32 bytes (surrounding whitespace ignored). */
export function parseKeyFileContent(content: Buffer, path: string): Buffer {
  if (content.length === 32) return Buffer.from(content);
  const text = content.toString("utf8").trim();
  const decoded = Buffer.from(text, "base64");
  if (decoded.length === 32 && decoded.toString("base64").replace(/=+$/, "") === text.replace(/=+$/, ""))
    return decoded;
  throw new AtrestError(
    "invalid-argument",
    `key file ${path} must hold 32 random bytes, raw or base64 (e.g. head -c 32 /dev/urandom | base64)`,
  );
}

export async function createMemoryKek(key: Buffer, description: string): Promise<LocalKek> {
  if (key.length !== 32) throw new AtrestError("invalid-argument", "a local KEK is 32 bytes (AES-256)");
  const material = Buffer.from(key);
  const seal = (iv: Buffer, plaintext: Buffer, aad: Buffer): Promise<GcmOutput> =>
    settle(() => {
      const cipher = createCipheriv("aes-256-gcm", material, iv);
      cipher.setAAD(aad);
      const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return { ciphertext, tag: cipher.getAuthTag() };
    });
  const fingerprint = await kekFingerprint(seal);
  return {
    fingerprint,
    description,
    seal,
    open(iv, sealed, aad) {
      try {
        const decipher = createDecipheriv("aes-256-gcm", material, iv);
        decipher.setAAD(aad);
        decipher.setAuthTag(sealed.tag);
        return Promise.resolve(Buffer.concat([decipher.update(sealed.ciphertext), decipher.final()]));
      } catch (cause) {
        return Promise.reject(
          new AtrestError("data-corrupt", "ciphertext failed authentication under the local KEK", { cause }),
        );
      }
    },
    close() {
      material.fill(0);
      return Promise.resolve();
    },
  };
}
