/**
 * `atrest verify-backup`: proves that what a KMS backup holds is enough to read every Secret of a
 * snapshot — each value decrypted through the envelope (KMS v2 seeds / v1 DEKs opened with the
 * backup's key material, no KMS running) and decoded as an object. Counts per KMS key_id; every
 * failure named by its storage key (never a value). Exit status non-zero on any failure.
 */
import { decodeStoredBytes } from "../kube-object/stored-bytes.js";
import { AtrestError } from "../common/errors.js";
import { mapLimited } from "../common/map-limited.js";
import { decodeEncryptedObject } from "../envelope/kmsv2/encrypted-object.js";
import { decodeBlob } from "../kms/ciphertext-blob.js";
import { DEFAULT_ETCD_PREFIX, normalizePrefix } from "../scan/storage-path.js";
import type { Store } from "../storage/store.js";
import type { BackupKeyring } from "./backup-keyring.js";
import { listAtRevision } from "./object-source.js";
import type { ValueReader } from "./value-reader.js";

export const VERIFY_BACKUP_EXIT = Object.freeze({ ok: 0, failed: 12 });
const MAX_FAILURES_LISTED = 50;
const KMS_PREFIX = /^k8s:enc:kms:(v1|v2):[^:]+:/;

export interface VerifyBackupOptions {
  readonly store: Store;
  readonly reader: ValueReader;
  readonly keyring: BackupKeyring;
  readonly backup: { readonly id: string; readonly createdAt: string };
  readonly prefix?: string;
  readonly pageSize?: number;
  readonly concurrency?: number;
}

export interface KeyIdTally {
  secrets: number;
  failed: number;
  /** The KMS key's state in the backup; absent when the key is not in it. */
  keyState?: string;
}

export interface VerifyBackupReport {
  readonly apiVersion: "recovery.atrest.io/v1";
  readonly kind: "BackupVerification";
  readonly backup: { readonly id: string; readonly createdAt: string };
  readonly revision: number;
  readonly secrets: number;
  readonly decrypted: number;
  /** Stored without encryption: readable without any key. */
  readonly plaintext: number;
  readonly failed: number;
  readonly byKeyId: Record<string, KeyIdTally>;
  readonly failures: ReadonlyArray<{ key: string; keyId?: string; reason: string }>;
  readonly exitCode: number;
}

/** The KMS key_id a value names (v2: its EncryptedObject; v1: the key version in its CiphertextBlob). */
export function kmsKeyIdOfValue(value: Buffer): string | undefined {
  const head = value.subarray(0, 300).toString("latin1");
  const m = KMS_PREFIX.exec(head);
  if (m === null) return undefined;
  const body = value.subarray(m[0].length);
  try {
    if (m[1] === "v2") return decodeEncryptedObject(body).keyID;
    const len = body.readUInt16BE(0);
    const blob = decodeBlob(body.subarray(2, 2 + len).toString("utf8"));
    return `${blob.keyId}:${blob.keyVersionId}`;
  } catch {
    return undefined;
  }
}

export async function verifyBackup(options: VerifyBackupOptions): Promise<VerifyBackupReport> {
  const prefix = normalizePrefix(options.prefix ?? DEFAULT_ETCD_PREFIX);
  const revision = await options.store.currentRevision();
  const byKeyId: Record<string, KeyIdTally> = {};
  const failures: Array<{ key: string; keyId?: string; reason: string }> = [];
  let secrets = 0;
  let decrypted = 0;
  let plaintext = 0;
  let failed = 0;
  const tally = (keyId: string): KeyIdTally => {
    let t = byKeyId[keyId];
    if (t === undefined) {
      const kmsKey = keyId.includes(":") ? keyId.slice(0, keyId.lastIndexOf(":")) : keyId;
      const state = options.keyring.keyState(kmsKey);
      t = byKeyId[keyId] = { secrets: 0, failed: 0, ...(state === undefined ? {} : { keyState: state }) };
    }
    return t;
  };
  const check = async (kv: { key: string; value: Buffer }): Promise<void> => {
    secrets += 1;
    const keyId = kmsKeyIdOfValue(kv.value);
    try {
      const read = await options.reader.read(kv.key, kv.value, "secrets");
      try {
        const obj = decodeStoredBytes(read.plaintext, kv.key);
        if (obj.kind !== undefined && obj.kind !== "Secret")
          throw new AtrestError("data-corrupt", `${kv.key} decrypts to an object that is not a Secret`);
      } finally {
        read.plaintext.fill(0);
      }
      if (read.origin.provider === "identity") plaintext += 1;
      else decrypted += 1;
      if (keyId !== undefined) tally(keyId).secrets += 1;
    } catch (err) {
      failed += 1;
      if (keyId !== undefined) {
        const t = tally(keyId);
        t.secrets += 1;
        t.failed += 1;
      }
      if (failures.length < MAX_FAILURES_LISTED)
        failures.push({
          key: kv.key,
          ...(keyId === undefined ? {} : { keyId }),
          reason: (err instanceof Error ? err.message : String(err)).slice(0, 300),
        });
    }
  };
  let page: Array<{ key: string; value: Buffer }> = [];
  const pageSize = options.pageSize ?? 500;
  for await (const kv of listAtRevision(options.store, `${prefix}/secrets/`, revision, pageSize)) {
    page.push(kv);
    if (page.length >= pageSize) {
      await mapLimited(page, options.concurrency ?? 8, check);
      page = [];
    }
  }
  await mapLimited(page, options.concurrency ?? 8, check);
  return {
    apiVersion: "recovery.atrest.io/v1",
    kind: "BackupVerification",
    backup: options.backup,
    revision,
    secrets,
    decrypted,
    plaintext,
    failed,
    byKeyId,
    failures,
    exitCode: failed > 0 ? VERIFY_BACKUP_EXIT.failed : VERIFY_BACKUP_EXIT.ok,
  };
}
