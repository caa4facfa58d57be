/**
 * The KMS plugin, as far as reading goes, backed by a backup instead of a KMS: it answers Decrypt the
 * way the atrest plugin's alibaba backend does (the ciphertext is the KMS CiphertextBlob as text, the
 * annotations name the key version, the plaintext the KMS returns is the base64 text the plugin sent),
 * so the envelope's own KMS v2 and v1 transformers read the values, unchanged.
 *
 * It never encrypts anything that could be stored: KMS v2 reads wait for the provider's first Status
 * and seed (as in kube-apiserver), so Encrypt answers that priming call with a marker no one can
 * decrypt; recovery only reads, and a v1 Encrypt is refused outright.
 */
import { AtrestError } from "../common/errors.js";
import type { KmsClientFactories } from "../encryption-config/build.js";
import type {
  Closeable,
  DecryptRequest,
  KmsV1Service,
  KmsV2Service,
  StatusResponse,
} from "../envelope/kms-service.js";
import { parseAlibabaKeyId } from "../plugin/alibaba-backend.js";
import { decodeAnnotations } from "../plugin/annotations.js";
import type { BackupKeyring, OpenedBlob } from "./backup-keyring.js";

const BLOB_TEXT = /^[A-Za-z0-9+/=_-]+$/;
/** What the priming Encrypt returns: not a CiphertextBlob, so it fails to decrypt anywhere. */
const READ_ONLY_MARKER = Buffer.from("atrest-kms-backup:read-only", "utf8");

/** Which key versions opened values, as the plugin's key_id (`<key id>:<version id>`). */
export type DecryptTally = Map<string, number>;

function canonicalBase64(text: string): Buffer | undefined {
  const bytes = Buffer.from(text, "base64");
  return bytes.toString("base64") === text ? bytes : undefined;
}

async function openPluginCiphertext(
  keyring: BackupKeyring,
  ciphertext: Uint8Array,
  expected: { keyId: string; keyVersionId: string } | undefined,
): Promise<OpenedBlob & { seed: Buffer }> {
  const text = Buffer.from(ciphertext).toString("utf8");
  if (!BLOB_TEXT.test(text))
    throw new AtrestError(
      "data-corrupt",
      "the ciphertext is not a KMS CiphertextBlob (not written by the atrest plugin)",
    );
  const opened = await keyring.open(text);
  if (
    expected !== undefined &&
    (expected.keyId !== opened.keyId || expected.keyVersionId !== opened.keyVersionId)
  )
    throw new AtrestError(
      "data-corrupt",
      "the ciphertext's key version differs from the one its annotations name",
    );
  const seed = canonicalBase64(opened.plaintext.toString("utf8"));
  opened.plaintext.fill(0);
  if (seed === undefined)
    throw new AtrestError(
      "data-corrupt",
      "the decrypted KMS plaintext is not base64: not written by the atrest plugin",
    );
  return { ...opened, seed };
}

export interface KeyringPlugin {
  readonly clients: KmsClientFactories;
  /** Successful KMS decryptions per key_id (one per seed or DEK, not per object: seeds are cached). */
  readonly decrypts: DecryptTally;
}

/** Client factories for buildEncryptionState: every KMS provider, whatever its endpoint, reads through the backup. */
export function keyringPlugin(keyring: BackupKeyring): KeyringPlugin {
  const decrypts: DecryptTally = new Map();
  const count = (o: OpenedBlob) => {
    const id = `${o.keyId}:${o.keyVersionId}`;
    decrypts.set(id, (decrypts.get(id) ?? 0) + 1);
  };
  const refuseEncrypt = (): never => {
    throw new AtrestError("unimplemented", "a KMS backup only decrypts; writes need the running KMS");
  };
  const keyId = `backup-${keyring.backupId}`;
  const v2 = (): KmsV2Service & Closeable => ({
    status: (): Promise<StatusResponse> => Promise.resolve({ version: "v2", healthz: "ok", keyId }),
    encrypt: () => Promise.resolve({ ciphertext: Buffer.from(READ_ONLY_MARKER), keyId, annotations: {} }),
    async decrypt(req: DecryptRequest): Promise<Buffer> {
      const fromAnnotations =
        Object.keys(req.annotations).length === 0 ? undefined : decodeAnnotations(req.annotations);
      const expected = fromAnnotations ?? parseAlibabaKeyId(req.keyId);
      const o = await openPluginCiphertext(keyring, req.ciphertext, expected);
      count(o);
      return o.seed;
    },
    close: () => undefined,
  });
  const v1 = (): KmsV1Service & Closeable => ({
    encrypt: () => Promise.resolve().then(refuseEncrypt),
    async decrypt(ciphertext: Uint8Array): Promise<Buffer> {
      const o = await openPluginCiphertext(keyring, ciphertext, undefined);
      count(o);
      return o.seed;
    },
    close: () => undefined,
  });
  return { clients: { createKmsV2Client: v2, createKmsV1Client: v1 }, decrypts };
}
