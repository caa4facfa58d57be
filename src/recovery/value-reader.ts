/**
 * How recovery reads a stored value: through an EncryptionConfiguration's transformers, as the
 * apiserver would (AAD = storage key), with KMS access either through the configuration's plugins
 * (decode-value.ts, as `atrest decode`) or through a KMS backup (keyring-plugin.ts). With a backup
 * and no configuration, each KMS provider named in a value's prefix gets a transformer of its own
 * (the value says which provider wrote it, so nothing needs guessing); unencrypted values read as
 * identity; values under a local key (aescbc, aesgcm, secretbox) need the configuration that holds it.
 */
import { AtrestError } from "../common/errors.js";
import { buildEncryptionState, type KmsClientFactories } from "../encryption-config/build.js";
import { decodeStoredValue } from "../encryption-config/decode-value.js";
import type { EncryptionState } from "../encryption-config/encryption-state.js";
import type { EncryptionConfiguration } from "../encryption-config/types.js";
import { contextForKey, type ValueOrigin } from "../envelope/transformer.js";

export interface ReadValue {
  readonly plaintext: Buffer;
  readonly origin: ValueOrigin;
  readonly stale: boolean;
}

export interface ValueReader {
  /** Decrypts one stored value of `resource` at `storageKey`. The plaintext is secret. */
  read(storageKey: string, value: Uint8Array, resource: string): Promise<ReadValue>;
  close(): void;
}

const KMS_PREFIX = /^k8s:enc:kms:(v1|v2):([^:]+):/;
const LOCAL_PREFIX = /^k8s:enc:(aescbc|aesgcm|secretbox):v1:([^:]+):/;
const NO_RULES: EncryptionConfiguration = {
  apiVersion: "apiserver.config.k8s.io/v1",
  kind: "EncryptionConfiguration",
  resources: [],
};

const noClients: KmsClientFactories = {
  createKmsV1Client: () => {
    throw new AtrestError("internal", "no KMS clients");
  },
  createKmsV2Client: () => {
    throw new AtrestError("internal", "no KMS clients");
  },
};

function build(
  config: EncryptionConfiguration,
  clients: KmsClientFactories,
  contentHash = "",
): Promise<EncryptionState> {
  return buildEncryptionState(config, {
    clients,
    contentHash,
    background: false,
  });
}

/**
 * Reads through a configuration. With the real plugins (grpcKmsClients) a value that fails is read
 * as `atrest decode` reads it, which names an unhealthy plugin as the cause; with a backup's clients
 * there is no plugin to blame, so the transformer's own error stands.
 */
export async function configuredValueReader(
  config: EncryptionConfiguration,
  clients: KmsClientFactories,
  options: { contentHash?: string; livePlugins: boolean },
): Promise<ValueReader> {
  const state = await build(config, clients, options.contentHash);
  return {
    async read(storageKey, value, resource) {
      if (options.livePlugins) {
        const d = await decodeStoredValue(state, storageKey, value, { resource });
        return { plaintext: d.plaintext, origin: d.origin, stale: d.stale };
      }
      const r = await state.transformerFor(resource).transformFromStorage(value, contextForKey(storageKey));
      return { plaintext: r.plaintext, origin: r.origin, stale: r.stale };
    },
    close: () => state.close(),
  };
}

/**
 * Reads with a backup alone: one transformer per KMS provider a value names. Without `clients` (no
 * backup, no configuration) only unencrypted values read.
 */
export async function backupOnlyValueReader(clients: KmsClientFactories | undefined): Promise<ValueReader> {
  const identity = await build(NO_RULES, clients ?? noClients);
  const byProvider = new Map<string, Promise<EncryptionState>>();
  const stateFor = (apiVersion: "v1" | "v2", name: string): Promise<EncryptionState> => {
    const k = `${apiVersion}:${name}`;
    let s = byProvider.get(k);
    if (s === undefined) {
      s = build(
        {
          ...NO_RULES,
          resources: [
            {
              resources: ["*.*"],
              providers: [
                {
                  type: "kms",
                  apiVersion,
                  name,
                  endpoint: "unix:///atrest-kms-backup",
                  timeoutMs: 3_000,
                  ...(apiVersion === "v1" ? { cacheSize: 1000 } : {}),
                },
              ],
            },
          ],
        },
        clients ?? noClients,
      );
      byProvider.set(k, s);
    }
    return s;
  };
  return {
    async read(storageKey, value, resource) {
      const head = Buffer.from(value.subarray(0, 300)).toString("latin1");
      const local = LOCAL_PREFIX.exec(head);
      if (local !== null)
        throw new AtrestError(
          "failed-precondition",
          `encrypted with the ${local[1]} key "${local[2]}", which a KMS backup does not hold: give --encryption-provider-config`,
        );
      const kms = KMS_PREFIX.exec(head);
      if (kms !== null && clients === undefined)
        throw new AtrestError(
          "failed-precondition",
          `encrypted by the KMS ${kms[1]} provider "${kms[2]}": give --encryption-provider-config (with its plugin running) or --kms-backup`,
        );
      const state = kms === null ? identity : await stateFor(kms[1] as "v1" | "v2", kms[2]!);
      const r = await state.transformerFor(resource).transformFromStorage(value, contextForKey(storageKey));
      return { plaintext: r.plaintext, origin: r.origin, stale: r.stale };
    },
    close() {
      identity.close();
      for (const s of byProvider.values())
        void s.then(
          (x) => x.close(),
          () => undefined,
        );
    },
  };
}
