/**
 * In-process fakes of the KMS plugin services (src/envelope/kms-service.ts) with knobs and call
 * counters. By default they "encrypt" like Kubernetes' own mock plugin (Base64Plugin): ciphertext =
 * base64(plaintext), key_id "1", annotation local-kek.kms.kubernetes.io = "encrypted-local-kek".
 *
 *   const kms = new FakeKmsV2Service();
 *   kms.keyId = "2";                    // Status (and Encrypt) report a new key
 *   kms.encryptKeyId = "3";             // Encrypt disagrees with Status
 *   kms.down = true;                    // every call fails with "unavailable"
 *   kms.table.push({ plaintext, ciphertext });  // fixed answers (recorded vectors)
 *   kms.calls.encrypt;                  // what the transformer did
 */
import { randomBytes } from "node:crypto";
import { AtrestError } from "../../src/common/errors.js";
import type {
  DecryptRequest,
  EncryptResponse,
  KmsV1Service,
  KmsV2Service,
  StatusResponse,
} from "../../src/envelope/kms-service.js";

export const MOCK_KEK_ANNOTATION = "local-kek.kms.kubernetes.io";
export const MOCK_KEK_ANNOTATION_VALUE = "encrypted-local-kek";

export interface FixedCiphertext {
  readonly plaintext: Buffer;
  readonly ciphertext: Buffer;
}

function unavailable(method: string): AtrestError {
  return new AtrestError("unavailable", `fake kms plugin is down (${method})`);
}

export class FakeKmsV2Service implements KmsV2Service {
  /** key_id reported by Status (and by Encrypt unless encryptKeyId is set). */
  keyId = "1";
  /** When set, Encrypt answers with this key_id instead of keyId. */
  encryptKeyId: string | undefined;
  healthz = "ok";
  version = "v2";
  annotations: Record<string, Buffer> = { [MOCK_KEK_ANNOTATION]: Buffer.from(MOCK_KEK_ANNOTATION_VALUE) };
  /** Every call fails with "unavailable" (the plugin is down). */
  down = false;
  failEncrypt = false;
  failDecrypt = false;
  /** Fixed plaintext ⇄ ciphertext pairs consulted before base64 (for recorded vectors). */
  readonly table: FixedCiphertext[] = [];
  /** Replaces Encrypt's ciphertext (e.g. an oversized one). */
  encryptCiphertextOverride: Buffer | undefined;
  readonly calls = { status: 0, encrypt: 0, decrypt: 0 };
  readonly uids: string[] = [];
  readonly decryptRequests: DecryptRequest[] = [];

  status(options?: { uid?: string }): Promise<StatusResponse> {
    this.calls.status++;
    if (options?.uid !== undefined) this.uids.push(options.uid);
    if (this.down) return Promise.reject(unavailable("Status"));
    return Promise.resolve({ version: this.version, healthz: this.healthz, keyId: this.keyId });
  }

  encrypt(plaintext: Uint8Array, options?: { uid?: string }): Promise<EncryptResponse> {
    this.calls.encrypt++;
    if (options?.uid !== undefined) this.uids.push(options.uid);
    if (this.down || this.failEncrypt) return Promise.reject(unavailable("Encrypt"));
    const fixed = this.table.find((e) => e.plaintext.equals(plaintext));
    const ciphertext =
      this.encryptCiphertextOverride ??
      fixed?.ciphertext ??
      Buffer.from(Buffer.from(plaintext).toString("base64"));
    return Promise.resolve({
      ciphertext,
      keyId: this.encryptKeyId ?? this.keyId,
      annotations: { ...this.annotations },
    });
  }

  decrypt(request: DecryptRequest): Promise<Buffer> {
    this.calls.decrypt++;
    this.decryptRequests.push(request);
    if (request.uid !== undefined) this.uids.push(request.uid);
    if (this.down || this.failDecrypt) return Promise.reject(unavailable("Decrypt"));
    const fixed = this.table.find((e) => e.ciphertext.equals(request.ciphertext));
    if (fixed !== undefined) return Promise.resolve(Buffer.from(fixed.plaintext));
    return Promise.resolve(Buffer.from(Buffer.from(request.ciphertext).toString("latin1"), "base64"));
  }
}

/** KMS v1beta1 fake: ciphertext = base64(plaintext), like the v2 fake. */
export class FakeKmsV1Service implements KmsV1Service {
  down = false;
  readonly calls = { encrypt: 0, decrypt: 0 };

  encrypt(plaintext: Uint8Array): Promise<Buffer> {
    this.calls.encrypt++;
    if (this.down) return Promise.reject(unavailable("Encrypt"));
    return Promise.resolve(Buffer.from(Buffer.from(plaintext).toString("base64")));
  }

  decrypt(ciphertext: Uint8Array): Promise<Buffer> {
    this.calls.decrypt++;
    if (this.down) return Promise.reject(unavailable("Decrypt"));
    return Promise.resolve(Buffer.from(Buffer.from(ciphertext).toString("latin1"), "base64"));
  }
}

/** Random with queued answers (then fresh bytes), for fixing nonces, seeds and infos in tests. */
export class QueuedRandom {
  readonly queue: Buffer[] = [];
  private uuidSeq = 0;

  constructor(...bytes: Buffer[]) {
    this.queue.push(...bytes);
  }

  bytes(length: number): Buffer {
    const next = this.queue.shift();
    if (next === undefined) return randomBytes(length);
    if (next.length !== length)
      throw new Error(`QueuedRandom: asked for ${length} bytes, queued ${next.length}`);
    return Buffer.from(next);
  }

  uuid(): string {
    this.uuidSeq++;
    return `00000000-0000-4000-8000-${this.uuidSeq.toString().padStart(12, "0")}`;
  }
}
