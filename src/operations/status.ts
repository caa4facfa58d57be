/**
 * `atrest encryption status`: the cluster as an operator of a managed cloud sees it — phase (Running /
 * Updating / Failed), the operation (stage, progress, errors), per managed resource the writer, its
 * key_id and how many objects sit under each key_id / provider (read from the store, values never),
 * every apiserver's loaded configuration hash and health, and the key with its deletion protection.
 */
import type { Clock } from "../common/clock.js";
import type { KmsClient } from "../kms/client/index.js";
import { pluginKeyId } from "./canary.js";
import type { ClusterSpec } from "./cluster-file.js";
import type { ConfigDelivery } from "./config-delivery.js";
import { observeAll } from "./convergence.js";
import { clusterTags, describeKey, kmsKeyOfKeyId } from "./key-checks.js";
import type { KubeClient } from "./kube-client.js";
import {
  encryptedCondition,
  phaseOf,
  type ClusterPhase,
  type Condition,
  type OperationRecord,
} from "./operation-record.js";
import type { HistoryEntry, RecordStore } from "./record-store.js";
import { providerId, providersFor, type RenderedConfig } from "./render.js";
import { scanCluster, underTarget, type ClusterScanner } from "./verify.js";
import { keyIdHash } from "../common/key-id-hash.js";

export interface ClusterStatus {
  readonly apiVersion: "atrest.io/v1alpha1";
  readonly kind: "EncryptionStatus";
  readonly cluster: string;
  readonly phase: ClusterPhase;
  readonly reason?: string;
  readonly conditions: readonly Condition[];
  readonly operation: OperationRecord | null;
  readonly lease: { owner: string; expiresAt: string; live: boolean } | null;
  readonly configuration: { hash: string | null; converged: boolean };
  readonly resources: Record<
    string,
    {
      writer: string;
      keyId: string | null;
      keyIdHash: string | null;
      total: number;
      underWriter: number;
      byProvider: Record<string, number>;
      byKeyId: Record<string, { count: number; keyIdHash: string }>;
    }
  >;
  readonly resourcesError?: string;
  readonly apiservers: ReadonlyArray<{
    url: string;
    apiserverIdHash: string | null;
    loadedConfigHash: string | null;
    converged: boolean;
    healthy: boolean;
    error?: string;
  }>;
  readonly key: {
    id: string;
    state: string;
    spec: string;
    region: string;
    deletionProtection: string;
    primaryKeyVersion: string | null;
    clusters: Record<string, string>;
  } | null;
  readonly keyError?: string;
  readonly history: readonly HistoryEntry[];
}

export interface StatusDeps {
  readonly cluster: ClusterSpec;
  readonly kube: KubeClient;
  readonly kms: KmsClient;
  readonly delivery: ConfigDelivery;
  readonly records: RecordStore;
  readonly scanner: ClusterScanner;
  readonly clock: Clock;
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export async function clusterStatus(deps: StatusDeps): Promise<ClusterStatus> {
  const { cluster } = deps;
  const [snapshot, observations] = await Promise.all([
    deps.records.read(),
    observeAll(deps.kube, cluster.apiservers),
  ]);
  const loaded = [
    ...new Set(observations.map((o) => o.loadedConfigHash).filter((h): h is string => h !== undefined)),
  ];
  const converged = loaded.length === 1 && observations.every((o) => o.loadedConfigHash === loaded[0]);
  const hash = loaded.length === 1 ? loaded[0]! : null;

  // The configuration in effect: the cluster's copy or a local file with the loaded hash.
  let config: RenderedConfig | undefined;
  try {
    const stored = await deps.delivery.read();
    config =
      stored.current?.hash === hash && hash !== null
        ? stored.current
        : (deps.delivery.localFiles().find((f) => f.config?.hash === hash)?.config ?? stored.current);
  } catch {
    config = deps.delivery.localFiles().find((f) => f.config?.hash === hash)?.config;
  }

  const resources: ClusterStatus["resources"] = {};
  let resourcesError: string | undefined;
  let writerKeyId: string | undefined;
  let writerIsIdentity = true;
  let counts = { total: 0, underWriter: 0, encrypted: 0 };
  try {
    const scan = await scanCluster(deps.scanner);
    for (const name of cluster.resources) {
      const r = scan.resources[name];
      const writer = config === undefined ? undefined : providersFor(config.config, name)[0];
      const label = writer === undefined ? "unknown" : providerId(writer);
      let keyId: string | undefined;
      if (writer?.type === "kms" && writer.apiVersion === "v2") {
        keyId = await pluginKeyId({ endpoint: writer.endpoint, timeout: `${writer.timeoutMs}ms` }).catch(
          () => undefined,
        );
        writerKeyId ??= keyId;
      }
      writerIsIdentity = writerIsIdentity && label === "identity";
      const total = r?.total ?? 0;
      const under =
        r === undefined ? 0 : underTarget(r, { provider: label, ...(keyId === undefined ? {} : { keyId }) });
      counts = {
        total: counts.total + total,
        underWriter: counts.underWriter + under,
        encrypted: counts.encrypted + (r?.encrypted ?? 0),
      };
      resources[name] = {
        writer: label,
        keyId: keyId ?? null,
        keyIdHash: keyId === undefined ? null : keyIdHash(keyId),
        total,
        underWriter: under,
        byProvider: { ...(r?.byProvider ?? {}), ...(r?.byKmsProvider ?? {}) },
        byKeyId: Object.fromEntries(
          Object.entries(r?.byKeyId ?? {}).map(([k, v]) => [k, { count: v.count, keyIdHash: v.keyIdHash }]),
        ),
      };
    }
  } catch (err) {
    resourcesError = message(err);
  }

  let key: ClusterStatus["key"] = null;
  let keyError: string | undefined;
  const kmsKey =
    (writerKeyId === undefined ? undefined : kmsKeyOfKeyId(writerKeyId)) ?? snapshot.record?.target.keyId;
  if (kmsKey !== undefined) {
    try {
      const k = await describeKey(deps.kms, kmsKey);
      key = {
        id: k.keyId,
        state: k.state,
        spec: k.spec,
        region: k.region,
        deletionProtection: k.deletionProtection,
        primaryKeyVersion: k.primaryKeyVersion ?? null,
        clusters: Object.fromEntries(await clusterTags(deps.kms, k.keyId)),
      };
    } catch (err) {
      keyError = message(err);
    }
  }

  const { phase, reason } = phaseOf(snapshot.record);
  const lastType = snapshot.record?.state === "Succeeded" ? snapshot.record.type : undefined;
  const conditions: Condition[] =
    resourcesError === undefined
      ? [encryptedCondition(cluster.resources, writerIsIdentity, counts, lastType)]
      : [];
  // While an operation runs, the condition says so from its first stage on (the writer may still be
  // the old one until switch-writer), as library-go's condition controller does during a migration.
  if (conditions[0] !== undefined && snapshot.record?.state === "Running")
    conditions[0] =
      snapshot.record.type === "disable"
        ? {
            type: "Encrypted",
            status: "False",
            reason: "DecryptionInProgress",
            message: "Encryption mode set to identity and decryption is not finished",
          }
        : {
            type: "Encrypted",
            status: "False",
            reason: "EncryptionInProgress",
            message: `Resource ${cluster.resources.join(", ")} is being encrypted`,
          };
  const lease = snapshot.lease;
  return {
    apiVersion: "atrest.io/v1alpha1",
    kind: "EncryptionStatus",
    cluster: cluster.name,
    phase,
    ...(reason === undefined ? {} : { reason }),
    conditions,
    operation: snapshot.record ?? null,
    lease:
      lease === undefined
        ? null
        : {
            owner: lease.owner,
            expiresAt: lease.expiresAt,
            live: Date.parse(lease.expiresAt) > deps.clock.now(),
          },
    configuration: { hash, converged },
    resources,
    ...(resourcesError === undefined ? {} : { resourcesError }),
    apiservers: observations.map((o) => ({
      url: o.url,
      apiserverIdHash: o.apiserverIdHash ?? null,
      loadedConfigHash: o.loadedConfigHash ?? null,
      converged: converged && o.loadedConfigHash === hash,
      healthy: o.healthy,
      ...(o.error === undefined ? {} : { error: o.error }),
    })),
    key,
    ...(keyError === undefined ? {} : { keyError }),
    history: snapshot.history,
  };
}
