/**
 * One managed cluster running in the control plane's process: a KMS plugin per key it uses (each on
 * its own socket, KMS credentials from assuming the service role with the cluster as session name)
 * and an atrest apiserver on the cluster's store, encrypting per the cluster's configuration file.
 * Started plugins first (the apiserver's first Status poll must find them healthy, else it refuses
 * Secret writes for up to 10 s), stopped in the reverse order.
 */
import { readFileSync } from "node:fs";
import { AtrestError, wrapError } from "../../common/errors.js";
import type { Logger } from "../../common/logger.js";
import { removeStaleSocket } from "../../common/listen-address.js";
import { renderClusterFile } from "../../operations/index.js";
import {
  MANAGED_ENCRYPTION_RELOAD_INTERVAL_MS,
  startApiServer,
  type ApiServer,
} from "../../apiserver/index.js";
import {
  startPlugin,
  waitForPluginHealthy,
  type AlibabaCredentials,
  type RunningPlugin,
} from "../../plugin/index.js";
import { openStore, type StoreEndpoint } from "../../storage/open-store.js";
import type { Store } from "../../storage/store.js";
import { writeFileAtomic } from "../../common/atomic-file.js";
import type { ClusterPaths } from "./cluster-paths.js";
import type { ManagedPlugin, ManagedRecord } from "./managed-record.js";

/** How the clusters' plugins get KMS credentials: the service principal's key, which may only assume the role. */
export interface ServiceRoleAccess {
  readonly credentials: AlibabaCredentials;
  /** STS (atrest's identity endpoint): `https://host:port`. */
  readonly stsEndpoint: string;
  /** `acs:ram::<account>:role/AliyunCSManagedSecurityRole`. */
  readonly roleArn: string;
  /** Of each STS session; default 3600 (the plugin renews before expiry). */
  readonly durationSeconds?: number;
}

export interface ClusterEnvironment {
  readonly kmsEndpoint: string;
  readonly regionId: string;
  readonly kmsCaPem?: string;
  /** The profile the cluster file names, for the operations engine (the control plane's KMS access). */
  readonly kmsProfile: string;
  readonly serviceRole: ServiceRoleAccess;
  readonly bindAddress: string;
  readonly pluginReadyTimeoutMs: number;
  /** How often each plugin re-checks its key (and so notices a rotation); the plugin's default when absent. */
  readonly pluginStatusRefreshMs?: number;
  readonly logger: Logger;
}

export interface ClusterRuntime {
  readonly apiserver: ApiServer;
  readonly plugins: ReadonlyMap<string, RunningPlugin>;
  /** Starts the plugin of a key added to the record (the cluster file is rewritten). */
  addPlugin(record: ManagedRecord, plugin: ManagedPlugin): Promise<RunningPlugin>;
  /** The cluster file, rewritten from the record and the running apiserver. */
  writeClusterFile(record: ManagedRecord): void;
  close(): Promise<void>;
}

function storeEndpointOf(record: ManagedRecord, paths: ClusterPaths): StoreEndpoint {
  return "sqlite" in record.store
    ? { sqlitePath: paths.apiserverDb }
    : { etcdServers: record.store.etcd.endpoints };
}

async function startKeyPlugin(
  env: ClusterEnvironment,
  record: ManagedRecord,
  paths: ClusterPaths,
  plugin: ManagedPlugin,
): Promise<RunningPlugin> {
  const socket = paths.pluginSocket(plugin.socket);
  await removeStaleSocket(socket);
  const running = await startPlugin({
    listen: `unix://${socket}`,
    backend: {
      kind: "alibaba",
      endpoint: env.kmsEndpoint,
      regionId: env.regionId,
      keyId: plugin.keyId,
      credentials: env.serviceRole.credentials,
      assumeRole: {
        stsEndpoint: env.serviceRole.stsEndpoint,
        roleArn: env.serviceRole.roleArn,
        // ActionTrail then shows `AliyunCSManagedSecurityRole:<cluster id>` for every KMS call.
        roleSessionName: record.clusterId,
        ...(env.serviceRole.durationSeconds === undefined
          ? {}
          : { durationSeconds: env.serviceRole.durationSeconds }),
      },
      ...(env.kmsCaPem === undefined ? {} : { caPem: env.kmsCaPem }),
    },
    logger: env.logger.child({ part: "plugin", cluster: record.clusterId, provider: plugin.name }),
    ...(env.pluginStatusRefreshMs === undefined ? {} : { statusRefreshMs: env.pluginStatusRefreshMs }),
  }).catch((err: unknown) => {
    throw wrapError(err, `cluster ${record.clusterId}: plugin ${plugin.name}`);
  });
  const health = await waitForPluginHealthy(running, env.pluginReadyTimeoutMs);
  if (!health.healthy) {
    await running.close({ graceMs: 0 });
    throw new AtrestError(
      "unavailable",
      `cluster ${record.clusterId}: the plugin of KMS key ${plugin.keyId} is not healthy: ${health.reason ?? "no answer"}`,
      { details: { reason: "KmsPluginUnhealthy", keyId: plugin.keyId } },
    );
  }
  return running;
}

async function startClusterApiServer(
  env: ClusterEnvironment,
  record: ManagedRecord,
  paths: ClusterPaths,
  store: Store,
): Promise<ApiServer> {
  const start = (securePort: number): Promise<ApiServer> =>
    startApiServer({
      store,
      storeCheckName: "sqlite" in record.store ? "datastore" : "etcd",
      dataDir: paths.apiserverDir,
      kubeconfigOut: paths.kubeconfig,
      encryptionProviderConfig: paths.encryptionConfig,
      encryptionProviderConfigAutomaticReload: true,
      encryptionReloadIntervalMs: MANAGED_ENCRYPTION_RELOAD_INTERVAL_MS,
      bindAddress: env.bindAddress,
      securePort,
      etcdPrefix: record.store.prefix,
      // As ACK's clusters: RBAC, with its predefined roles (cs:admin, cs:ops, cs:dev, cs:restricted).
      authorizationMode: "RBAC",
      ackClusterRoles: true,
      logger: env.logger.child({ part: "apiserver", cluster: record.clusterId }),
    });
  if (record.securePort === undefined || record.securePort === 0) return start(0);
  try {
    // The port it had, so kubeconfigs handed out before a restart keep working.
    return await start(record.securePort);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
    env.logger.warn(
      { cluster: record.clusterId, port: record.securePort },
      "managed cluster: its former port is taken; using a free one",
    );
    return start(0);
  }
}

export async function startClusterRuntime(
  env: ClusterEnvironment,
  record: ManagedRecord,
  paths: ClusterPaths,
): Promise<ClusterRuntime> {
  const stack: Array<() => Promise<void>> = [];
  const unwind = async (): Promise<void> => {
    for (const stop of stack.splice(0).reverse())
      await stop().catch((err: unknown) =>
        env.logger.error(
          { cluster: record.clusterId, err: err instanceof Error ? err.message : String(err) },
          "managed cluster: stop failed",
        ),
      );
  };
  const plugins = new Map<string, RunningPlugin>();
  try {
    for (const p of record.plugins) {
      const running = await startKeyPlugin(env, record, paths, p);
      plugins.set(p.name, running);
      stack.push(() => running.close());
    }
    let store: Store;
    try {
      store = openStore(storeEndpointOf(record, paths));
    } catch (err) {
      throw wrapError(err, `cluster ${record.clusterId}: cannot open its store`);
    }
    stack.push(() => store.close());
    const apiserver = await startClusterApiServer(env, record, paths, store).catch((err: unknown) => {
      throw wrapError(err, `cluster ${record.clusterId}: apiserver`);
    });
    stack.push(() => apiserver.close());

    const writeClusterFile = (r: ManagedRecord): void =>
      writeFileAtomic(
        paths.clusterFile,
        renderClusterFile({
          name: r.clusterId,
          region: r.region,
          kubeconfig: paths.kubeconfig,
          apiservers: [{ url: apiserver.url, configFile: paths.encryptionConfig }],
          store:
            "sqlite" in r.store
              ? { sqlite: paths.apiserverDb, prefix: r.store.prefix }
              : { etcd: { endpoints: r.store.etcd.endpoints }, prefix: r.store.prefix },
          kmsProfile: env.kmsProfile,
          plugins: r.plugins.map((p) => ({
            name: p.name,
            endpoint: `unix://${paths.pluginSocket(p.socket)}`,
          })),
        }),
        0o600,
      );
    writeClusterFile(record);
    let closing: Promise<void> | undefined;
    return {
      apiserver,
      plugins,
      writeClusterFile,
      async addPlugin(r, p) {
        const running = await startKeyPlugin(env, r, paths, p);
        plugins.set(p.name, running);
        // Before the store and apiserver in the stack's order: stopped after them.
        stack.unshift(() => running.close());
        writeClusterFile(r);
        return running;
      },
      close: () => (closing ??= unwind()),
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

/** The PEM of a CA file, read once (plugins take the PEM). */
export function readCaPem(file: string | undefined): string | undefined {
  return file === undefined ? undefined : readFileSync(file, "utf8");
}
