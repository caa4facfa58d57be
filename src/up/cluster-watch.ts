/**
 * `atrest up`'s watch over the control plane's clusters (its own and those CreateCluster made): each
 * key's health as the service role (control-plane/health), recorded as a cluster event when it
 * changes, and automatic re-encryption after a key rotation (control-plane/auto-reencrypt), on for
 * every cluster that is `running` (a change the control plane drives comes first). Each health round
 * also brings the set of watched clusters up to date.
 */
import { AtrestError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import { systemRandom } from "../common/random.js";
import type { ClusterEngineFactory, RunningControlPlane } from "../control-plane/index.js";
import { AutoReencrypt, type AutoReencryptEvent } from "../control-plane/auto-reencrypt/index.js";
import { KeyHealthWatch, type KeyHealth } from "../control-plane/health/index.js";
import { KmsClient } from "../kms/client/index.js";
import { KubeClient, loadClusterFile, loadKubeconfig } from "../operations/index.js";
import { AssumedRoleCredentials, type AlibabaCredentials, type AssumeRoleSettings } from "../plugin/index.js";

export interface UpClusterWatch {
  readonly health: KeyHealthWatch;
  readonly reencrypt: AutoReencrypt;
  close(): void;
}

export async function startUpClusterWatch(options: {
  readonly controlPlane: RunningControlPlane;
  readonly engines: ClusterEngineFactory;
  readonly kms: { readonly endpoint: string; readonly regionId: string; readonly caPem?: string };
  readonly serviceRole: { readonly credentials: AlibabaCredentials; readonly assumeRole: AssumeRoleSettings };
  readonly logger: Logger;
}): Promise<UpClusterWatch> {
  const store = options.controlPlane.service.store;
  const event = (clusterId: string, e: { level: "Normal" | "Warning"; reason: string; message: string }) =>
    store.addEvent({
      event_id: `E-${systemRandom.bytes(12).toString("hex")}`,
      cluster_id: clusterId,
      task_id: "",
      time: Date.now(),
      type: "cluster_health",
      source: "atrest control plane",
      ...e,
    });
  // DescribeKey as the service role the plugins use (a session of its own, renewed before expiry).
  const sts = new AssumedRoleCredentials(
    {
      ...options.serviceRole.assumeRole,
      roleSessionName: "atrest-control-plane",
      base: options.serviceRole.credentials,
      regionId: options.kms.regionId,
      ...(options.kms.caPem === undefined ? {} : { caPem: options.kms.caPem }),
    },
    { logger: options.logger },
  );
  await sts.start();
  const kubes = new Map<string, KubeClient>();
  const reencrypt = new AutoReencrypt({
    enabled: async (id) => (await store.getCluster(id))?.state === "running",
    onEvent: (e: AutoReencryptEvent) =>
      void event(e.clusterId, {
        level: e.type === "AutoReencryptFailed" ? "Warning" : "Normal",
        reason: e.type,
        message: e.type === "AutoReencryptStarted" ? `${e.startedBy}: ${e.message}` : e.message,
      }).catch(() => undefined),
    logger: options.logger,
  });
  const sync = async (): Promise<Array<{ clusterId: string; keyId: string }>> => {
    const rows = await store.listClusters();
    for (const id of [...kubes.keys()])
      if (!rows.some((r) => r.cluster_id === id)) {
        reencrypt.unwatch(id);
        kubes.get(id)?.close();
        kubes.delete(id);
      }
    for (const row of rows) {
      if (kubes.has(row.cluster_id)) continue;
      try {
        const cluster = loadClusterFile(row.cluster_file);
        const kube = new KubeClient(loadKubeconfig(cluster.kubeconfig));
        kubes.set(row.cluster_id, kube);
        reencrypt.watch({
          clusterId: row.cluster_id,
          cluster,
          kube,
          operations: (owner) => options.engines(cluster, { progress: () => undefined, owner }),
        });
      } catch (err) {
        options.logger.warn(
          { cluster: row.cluster_id, err: err instanceof Error ? err.message : String(err) },
          "cluster watch: cannot watch the cluster",
        );
      }
    }
    return rows
      .filter((r) => r.kms_key_id !== "")
      .map((r) => ({ clusterId: r.cluster_id, keyId: r.kms_key_id }));
  };
  const health = new KeyHealthWatch({
    clusters: sync,
    kms: () => {
      const c = sts.current();
      return Promise.resolve(
        new KmsClient({
          endpoint: options.kms.endpoint,
          regionId: options.kms.regionId,
          accessKeyId: c.accessKeyId,
          accessKeySecret: c.accessKeySecret,
          ...(c.securityToken === undefined ? {} : { securityToken: c.securityToken }),
          ...(options.kms.caPem === undefined ? {} : { caPem: options.kms.caPem }),
        }),
      );
    },
    onChange: (clusterId: string, h: KeyHealth) =>
      event(
        clusterId,
        h.healthy
          ? { level: "Normal", reason: "KmsKeyHealthy", message: `KMS key ${h.keyId} is usable again` }
          : {
              level: "Warning",
              reason: h.issues[0]?.code ?? "Other",
              message: h.issues.map((i) => i.message).join("; "),
            },
      ),
    logger: options.logger,
  });
  try {
    await health.checkNow();
  } catch (err) {
    sts.close();
    reencrypt.close();
    throw new AtrestError(
      "unavailable",
      `cluster watch: ${err instanceof Error ? err.message : String(err)}`,
      {
        cause: err,
      },
    );
  }
  health.start();
  return {
    health,
    reencrypt,
    close() {
      health.close();
      reencrypt.close();
      sts.close();
      for (const k of kubes.values()) k.close();
    },
  };
}
