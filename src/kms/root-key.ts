import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { AtrestError } from "../common/errors.js";

/** Format byte of a value sealed by the root key; a new format gets a new byte, old ones stay readable. */
const SEALED_V1 = 0x01;
const IV_BYTES = 12;
const TAG_BYTES = 16;
export const ROOT_KEY_BYTES = 32;

/**
 * The KMS root key: seals software key material and access key secrets at rest (AES-256-GCM, with AAD
 * binding each sealed value to what it belongs to, so a value moved to another row fails to open).
 */
export class RootKey {
  readonly #key: Buffer;

  constructor(key: Buffer) {
    if (key.length !== ROOT_KEY_BYTES)
      throw new AtrestError("invalid-argument", `root key must be ${ROOT_KEY_BYTES} bytes`);
    this.#key = Buffer.from(key);
  }

  seal(plaintext: Buffer, aad: Buffer, iv: Buffer = randomBytes(IV_BYTES)): Buffer {
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(aad);
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return Buffer.concat([Buffer.of(SEALED_V1), iv, ct, cipher.getAuthTag()]);
  }

  open(sealed: Buffer, aad: Buffer): Buffer {
    if (sealed.length < 1 + IV_BYTES + TAG_BYTES || sealed[0] !== SEALED_V1) {
      throw new AtrestError("data-corrupt", "sealed value has an unknown format");
    }
    const iv = sealed.subarray(1, 1 + IV_BYTES);
    const tag = sealed.subarray(sealed.length - TAG_BYTES);
    const ct = sealed.subarray(1 + IV_BYTES, sealed.length - TAG_BYTES);
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, iv);
      decipher.setAAD(aad);
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(ct), decipher.final()]);
    } catch (err) {
      throw new AtrestError(
        "data-corrupt",
        "sealed value failed authentication (wrong root key or moved value)",
        { cause: err },
      );
    }
  }
}

/** Writes a fresh root key (base64, mode 0600). Refuses to overwrite. */
export function createRootKeyFile(path: string, key: Buffer = randomBytes(ROOT_KEY_BYTES)): void {
  writeFileSync(path, key.toString("base64") + "\n", { mode: 0o600, flag: "wx" });
}

export function loadRootKeyFile(path: string): RootKey {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (err) {
    throw new AtrestError(
      "failed-precondition",
      `cannot read root key ${path}; run \`atrest kms init\` first`,
      { cause: err },
    );
  }
  const mode = statSync(path).mode & 0o077;
  if (mode !== 0)
    throw new AtrestError(
      "failed-precondition",
      `root key ${path} must not be readable by group or others (chmod 600)`,
    );
  const key = Buffer.from(text.trim(), "base64");
  if (key.length !== ROOT_KEY_BYTES)
    throw new AtrestError("data-corrupt", `root key ${path} does not hold ${ROOT_KEY_BYTES} base64 bytes`);
  return new RootKey(key);
}
