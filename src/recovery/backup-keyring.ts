/**
 * The key versions a KMS backup holds, able to open KMS CiphertextBlobs without a running KMS: the
 * blob names its key and version (src/kms/ciphertext-blob.ts), the backup holds that version's
 * material (SOFTWARE) or its token reference (HSM, opened by the token given, never exported).
 * Decryption is the KMS's own: AES-256-GCM, AAD = blob header ‖ canonical EncryptionContext. Key
 * state is not enforced here (a Disabled key's Secrets are still recoverable): it is reported.
 */
import { createDecipheriv } from "node:crypto";
import { AtrestError } from "../common/errors.js";
import { decodeBlob } from "../kms/ciphertext-blob.js";
import { canonicalEncryptionContext, type EncryptionContext } from "../kms/encryption-context.js";
import type { ProtectionBackend } from "../kms/protection/protection.js";
import type { OpenedBackup } from "./backup-file.js";
import { backupRecords } from "./backup-reader.js";

type Version =
  { readonly level: "SOFTWARE"; readonly material: Buffer } | { readonly level: "HSM"; readonly ref: Buffer };

export interface OpenedBlob {
  readonly plaintext: Buffer;
  readonly keyId: string;
  readonly keyVersionId: string;
}

export class BackupKeyring {
  readonly #versions = new Map<string, Version>();
  readonly #keyStates = new Map<string, string>();
  readonly #hsm: ProtectionBackend | undefined;
  readonly backupId: string;

  private constructor(backupId: string, hsm: ProtectionBackend | undefined) {
    this.backupId = backupId;
    this.#hsm = hsm;
  }

  /** Reads the key versions out of an unlocked backup (everything else in it is skipped). */
  static async load(
    opened: OpenedBackup,
    encryptionKey: Buffer,
    options: { hsm?: ProtectionBackend } = {},
  ): Promise<BackupKeyring> {
    const ring = new BackupKeyring(opened.header.backupId, options.hsm);
    for await (const r of backupRecords(opened, encryptionKey)) {
      if (r.t === "key") ring.#keyStates.set(r.key_id, r.key_state);
      if (r.t !== "keyVersion") continue;
      ring.#versions.set(
        `${r.key_id}/${r.key_version_id}`,
        r.protection_level === "SOFTWARE"
          ? { level: "SOFTWARE", material: Buffer.from(r.material!, "base64") }
          : { level: "HSM", ref: Buffer.from(r.hsmRef!, "utf8") },
      );
    }
    return ring;
  }

  get keyVersions(): number {
    return this.#versions.size;
  }

  /** The key's state in the backup (Enabled, Disabled, PendingDeletion), or undefined when it is not in it. */
  keyState(keyId: string): string | undefined {
    return this.#keyStates.get(keyId);
  }

  /** Opens a CiphertextBlob as the KMS's Decrypt would (empty EncryptionContext unless given). */
  async open(blob: string, context: EncryptionContext = {}): Promise<OpenedBlob> {
    const parsed = (() => {
      try {
        return decodeBlob(blob);
      } catch (err) {
        throw new AtrestError("data-corrupt", "the ciphertext is not an atrest KMS CiphertextBlob", {
          cause: err,
        });
      }
    })();
    const id = { keyId: parsed.keyId, keyVersionId: parsed.keyVersionId };
    const v = this.#versions.get(`${id.keyId}/${id.keyVersionId}`);
    if (v === undefined)
      throw new AtrestError(
        "not-found",
        this.#keyStates.has(id.keyId)
          ? `key version ${id.keyId}/${id.keyVersionId} is not in backup ${this.backupId} (made after it?)`
          : `key ${id.keyId} is not in backup ${this.backupId} (another KMS, or a key made after the backup)`,
        { details: id },
      );
    const aad = Buffer.concat([parsed.header, canonicalEncryptionContext(context)]);
    if (v.level === "HSM") {
      if (this.#hsm === undefined)
        throw new AtrestError(
          "failed-precondition",
          `key version ${id.keyId}/${id.keyVersionId} lives in an HSM: give the token (--pkcs11-module …) to open it`,
        );
      const plaintext = await this.#hsm.decrypt(
        id,
        v.ref,
        parsed.iv,
        { ciphertext: parsed.ciphertext, tag: parsed.tag },
        aad,
      );
      return { plaintext, ...id };
    }
    try {
      const d = createDecipheriv("aes-256-gcm", v.material, parsed.iv);
      d.setAAD(aad);
      d.setAuthTag(parsed.tag);
      return { plaintext: Buffer.concat([d.update(parsed.ciphertext), d.final()]), ...id };
    } catch (err) {
      throw new AtrestError(
        "data-corrupt",
        `the ciphertext does not authenticate under ${id.keyId}/${id.keyVersionId} (tampered, or another EncryptionContext)`,
        { cause: err },
      );
    }
  }

  /** Wipes the material from memory. */
  close(): void {
    for (const v of this.#versions.values()) if (v.level === "SOFTWARE") v.material.fill(0);
    this.#versions.clear();
  }
}
