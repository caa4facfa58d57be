/**
 * `atrest up`'s control plane: started on the KMS's identity store (one set of principals, keys and
 * policies for both), with up's own cluster registered by the admin — so the admin's profile works
 * for the cs API, UpdateKMSEncryption runs the operations on up's cluster file, and the events of
 * both services answer one LookupEvents.
 */
import { readTlsFiles } from "../common/tls.js";
import type { Logger } from "../common/logger.js";
import { writeFileAtomic } from "../common/atomic-file.js";
import {
  startControlPlane,
  type Caller,
  type ClusterEngineFactory,
  type ClusterWatchOptions,
  type RunningControlPlane,
} from "../control-plane/index.js";
import type { ManagedClustersPort } from "../control-plane/service/managed-port.js";
import { ADMIN_PRINCIPAL, kmsPaths, type KmsServer } from "../kms/index.js";
import { renderClusterFile, type ClusterFileInput } from "../operations/index.js";
import { AtrestError } from "../common/errors.js";
import { consoleMount, type UpstreamEndpoints } from "../control-plane/console/index.js";

/** The RAM policy up's admin gets for the cs API (besides the KMS's and the identity services'). */
export const UP_ADMIN_CS_POLICY = "AliyunCSFullAccess";

export async function startUpControlPlane(options: {
  kms: KmsServer;
  kmsDir: string;
  engines: ClusterEngineFactory;
  managed?: ManagedClustersPort;
  port?: number;
  cooldownMs?: number;
  /** Key health and automatic re-encryption of the control plane's clusters (its defaults otherwise). */
  watch?: ClusterWatchOptions;
  /** Where the web console (mounted on the control plane) sends the KMS and identity calls. */
  console: UpstreamEndpoints;
  logger: Logger;
}): Promise<RunningControlPlane> {
  const { kms } = options;
  const paths = kmsPaths(options.kmsDir);
  const tls =
    kms.caCertPem === undefined
      ? undefined
      : readTlsFiles({
          caCertFile: paths.caCert,
          certFile: `${paths.tlsDir}/tls.crt`,
          keyFile: `${paths.tlsDir}/tls.key`,
        });
  await kms.identity.attachPolicy(UP_ADMIN_CS_POLICY, ADMIN_PRINCIPAL);
  return startControlPlane({
    identity: kms.identity,
    idb: kms.idb,
    accountId: kms.accountId,
    regionId: kms.region,
    eventSources: [kms.eventSource],
    engines: options.engines,
    ...(options.managed === undefined ? {} : { managed: options.managed }),
    host: new URL(kms.url).hostname.replace(/^\[|\]$/g, ""),
    port: options.port ?? 0,
    // Tasks are taken over once the cluster's apiserver is up (registerUpCluster), not before.
    startTasks: false,
    mounts: [consoleMount(options.console)],
    logger: options.logger,
    ...(options.cooldownMs === undefined ? {} : { cooldownMs: options.cooldownMs }),
    ...(options.watch === undefined ? {} : { watch: options.watch }),
    ...(tls === undefined ? {} : { tls: { keyPem: tls.keyPem, certPem: tls.certPem } }),
  });
}

/**
 * Writes up's cluster file (rewritten on every start: the apiserver's port may differ; 0600 like the
 * profile it names), registers the cluster once, by the admin (who becomes its administrator), and
 * then lets the control plane resume any change a previous start left unfinished.
 */
export async function registerUpCluster(
  cp: RunningControlPlane,
  kms: KmsServer,
  options: { clusterFile: string; cluster: ClusterFileInput; adminAccessKeyId: string },
): Promise<string> {
  writeFileAtomic(options.clusterFile, renderClusterFile(options.cluster), 0o600);
  const known = await cp.service.store.getClusterByName(options.cluster.name);
  let clusterId = known?.cluster_id;
  if (clusterId === undefined) {
    const admin = await kms.identity.resolveAccessKey(options.adminAccessKeyId);
    if (admin === undefined)
      throw new AtrestError(
        "failed-precondition",
        "the admin access key of kms-profile.json is not known to the KMS",
      );
    const caller: Caller = {
      identity: admin.caller,
      sourceIp: "127.0.0.1",
      requestId: "atrest-up",
      userAgent: "atrest-up",
      via: "cli",
    };
    clusterId = (await cp.service.registerCluster(caller, { clusterFile: options.clusterFile })).clusterId;
  }
  await cp.service.start();
  return clusterId;
}
