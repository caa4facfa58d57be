/**
 * `atrest up`: the whole system in one process on one machine — atrest kms (SQLite, software keys),
 * the KMS plugin on a unix socket, and the apiserver encrypting Secrets through it — all state in one
 * data dir, so a second start with the same dir picks up the same keys, Secrets, tokens and certs.
 * Typed options only: argv, environment and signals belong to src/cli/up.ts.
 */
import { accessSync, constants, readFileSync } from "node:fs";
import { AtrestError, isAtrestError, wrapError } from "../common/errors.js";
import { ensurePrivateDir, octalMode } from "../common/secret-file.js";
import { silentLogger, type Logger } from "../common/logger.js";
import { MANAGED_ENCRYPTION_RELOAD_INTERVAL_MS, startApiServer, type ApiServer } from "../apiserver/index.js";
import { KmsClient } from "../kms/client/index.js";
import { startKmsIdentityEndpoint, startKmsServer, type KmsServer } from "../kms/index.js";
import type { IdentityServer } from "../iam/index.js";
import { startPlugin, waitForPluginHealthy, type RunningPlugin } from "../plugin/index.js";
import { removeStaleSocket } from "../common/listen-address.js";
import { openStore, type StoreEndpoint } from "../storage/open-store.js";
import type { Store } from "../storage/store.js";
import { ensureUpEncryptionConfig, UP_KMS_PROVIDER_NAME } from "./encryption-config-file.js";
import { ensureKmsDir, readKmsDir } from "./kms-dir.js";
import { ensureUpKey, type UpKey } from "./kms-key.js";
import { writeUpKmsProfile } from "./kms-profile-file.js";
import { authorizeUpServiceRole, UP_CLUSTER_NAME, type UpPluginIdentity } from "./service-role.js";
import { upPaths, type UpPaths } from "./paths.js";
import type {
  ClusterEngineFactory,
  ClusterWatchOptions,
  RunningControlPlane,
} from "../control-plane/index.js";
import { renderClusterFile, type ClusterFileInput } from "../operations/index.js";
import { writeFileAtomic } from "../common/atomic-file.js";
import { ManagedClusters } from "../control-plane/managed/index.js";
import { registerUpCluster, startUpControlPlane } from "./control-plane.js";
import { consoleUrlOf } from "../control-plane/console/index.js";

export const DEFAULT_PLUGIN_READY_TIMEOUT_MS = 15_000;
/** sun_path is 108 bytes on Linux, one of them the terminating NUL. */
const MAX_SOCKET_PATH_BYTES = 107;

export interface UpOptions {
  readonly dataDir: string;
  /** HOST:PORT of the KMS; default 127.0.0.1:0 (a free port: only the plugin and the profile use it). */
  readonly kmsListen?: string;
  /** Port of the identity endpoint (STS, RAM, ActionTrail) on the KMS's host; default 0 (a free one). */
  readonly identityPort?: number;
  /** HOST:PORT for the plugin's /healthz, /livez, /metrics; none by default. */
  readonly pluginHealthListen?: string;
  /** Default 6443; 0 picks a free port. */
  readonly securePort?: number;
  readonly bindAddress?: string;
  /** Where the apiserver keeps objects; default SQLite at <dataDir>/apiserver.db. */
  readonly storeEndpoint?: StoreEndpoint;
  readonly etcdPrefix?: string;
  /** The apiserver's --watch-cache and in-flight limits (kube's defaults when absent). */
  readonly apiserverLimits?: {
    readonly watchCache?: boolean;
    readonly maxRequestsInflight?: number;
    readonly maxMutatingRequestsInflight?: number;
  };
  /** How long to wait for the plugin's first healthy check before starting the apiserver anyway. */
  readonly pluginReadyTimeoutMs?: number;
  /**
   * The operation engine factory for the control plane (the CLI's openClusterEngine); without it the
   * control plane is not started (in-process tests of the other parts).
   */
  readonly clusterEngines?: ClusterEngineFactory;
  /** Port of the control plane (cs API) on the KMS's host; default 0 (a free one). */
  readonly controlPlanePort?: number;
  /** UpdateKMSEncryption's cool-down after a change (default ACK's 5 minutes). */
  readonly updateCooldownMs?: number;
  /** How often the plugin re-reads its key (a rotation shows in its key_id); the plugin's default 60 s. */
  readonly pluginStatusRefreshMs?: number;
  /** The control plane's watch of its clusters (key health, automatic re-encryption) intervals. */
  readonly clusterWatch?: ClusterWatchOptions;
  readonly logger?: Logger;
}

/** What `atrest up` prints: everything a user needs to talk to the parts it started. */
export interface UpSummary {
  readonly dataDir: string;
  readonly kubeconfig: string;
  readonly apiserverUrl: string;
  readonly kmsEndpoint: string;
  /** STS, RAM and ActionTrail (LookupEvents) on one RPC endpoint; the admin's profile works there too. */
  readonly identityEndpoint: string;
  /** The role the plugin assumes, and its session name (the cluster). */
  readonly pluginRoleArn: string;
  readonly pluginRoleSessionName: string;
  readonly kmsProfile: string;
  readonly pluginSocket: string;
  readonly pluginHealthUrl?: string;
  /** The KMS key (its id, not the alias) that encrypts the Secrets' seeds. */
  readonly keyId: string;
  readonly keyAlias: string;
  /** True on the start that created the key. */
  readonly keyCreated: boolean;
  readonly encryptionConfig: string;
  readonly store: string;
  /** Where the objects are (the cluster file's `store`). */
  readonly storeLocation:
    { readonly sqlite: string } | { readonly etcd: { readonly endpoints: readonly string[] } };
  readonly etcdPrefix: string;
  readonly region: string;
  /** The KMS v2 provider name in the encryption configuration. */
  readonly kmsProviderName: string;
  /** Where `atrest up` writes the cluster file for `atrest encryption … --cluster`. */
  readonly clusterFile: string;
  /** The control plane (cs API 2015-12-15, and STS/RAM/ActionTrail at `/`); the admin's profile works there. */
  readonly controlPlaneUrl?: string;
  /** Up's cluster as the control plane knows it (DescribeClusterDetail's ClusterId). */
  readonly clusterId?: string;
  /** The web console on the control plane (sign in with the profile's access key pair). */
  readonly consoleUrl?: string;
}

export interface RunningUp {
  readonly summary: UpSummary;
  readonly kms: KmsServer;
  readonly identity: IdentityServer;
  readonly plugin: RunningPlugin;
  readonly apiserver: ApiServer;
  readonly controlPlane: RunningControlPlane | undefined;
  /** Stops the apiserver, then the plugin, then the KMS (each user before what it uses). */
  close(): Promise<void>;
}

function describeStore(endpoint: StoreEndpoint): { description: string; checkName: "etcd" | "datastore" } {
  if (endpoint === "memory") return { description: "memory", checkName: "datastore" };
  if ("etcdServers" in endpoint)
    return { description: `etcd ${endpoint.etcdServers.join(",")}`, checkName: "etcd" };
  return { description: `sqlite ${endpoint.sqlitePath}`, checkName: "datastore" };
}

function prepareDataDir(paths: UpPaths, logger: Logger): void {
  // Checked here, before anything is created, rather than by the plugin half-way through the start.
  if (Buffer.byteLength(paths.pluginSocket) > MAX_SOCKET_PATH_BYTES)
    throw new AtrestError(
      "invalid-argument",
      `the data dir ${paths.root} is too deep: the plugin socket path must be at most ${MAX_SOCKET_PATH_BYTES} bytes`,
    );
  try {
    const hadMode = ensurePrivateDir(paths.root);
    // Others could have replaced the plugin socket or read the credentials: owner-only from now on.
    if (hadMode !== undefined)
      logger.warn(
        { dataDir: paths.root, mode: octalMode(hadMode), newMode: octalMode(hadMode & 0o700) },
        "data dir was open to other users; its mode is now owner-only",
      );
    accessSync(paths.root, constants.W_OK);
  } catch (err) {
    if (isAtrestError(err)) throw err;
    const code = (err as NodeJS.ErrnoException).code ?? "error";
    throw new AtrestError("invalid-argument", `the data dir ${paths.root} is not writable (${code})`, {
      cause: err,
    });
  }
}

/** Starts everything; on any failure stops what already started and rethrows one clear error. */
export async function startUp(options: UpOptions): Promise<RunningUp> {
  const logger = options.logger ?? silentLogger();
  const paths = upPaths(options.dataDir);
  const stack: Array<() => Promise<void>> = [];
  const unwind = async (): Promise<void> => {
    // Keep stopping the rest when one part fails to stop: a half-closed KMS would hold its files.
    for (const stop of stack.splice(0).reverse())
      await stop().catch((err: unknown) =>
        logger.error({ err: err instanceof Error ? err.message : String(err) }, "up: stop failed"),
      );
  };
  try {
    prepareDataDir(paths, logger);
    // Before anything starts: a live socket means another `atrest up` owns this data dir.
    await removeStaleSocket(paths.pluginSocket).catch((err: unknown) => {
      throw wrapError(err, `the data dir ${paths.root} is in use`);
    });

    const { created: kmsCreated } = await ensureKmsDir(paths.kmsDir, paths.keyFile);
    const kmsDir = readKmsDir(paths.kmsDir);
    const kms = await startKmsServer({
      dataDir: paths.kmsDir,
      logger: logger.child({ part: "kms" }),
      ...(options.kmsListen === undefined ? {} : { listen: options.kmsListen }),
    }).catch((err: unknown) => {
      throw wrapError(err, "kms");
    });
    stack.push(() => kms.close());
    logger.info({ url: kms.url, initialised: kmsCreated }, "up: kms started");
    const identity = await startKmsIdentityEndpoint(kms, {
      dataDir: paths.kmsDir,
      host: new URL(kms.url).hostname.replace(/^\[|\]$/g, ""),
      port: options.identityPort ?? 0,
      logger: logger.child({ part: "identity" }),
    }).catch((err: unknown) => {
      throw wrapError(err, "identity endpoint");
    });
    stack.push(() => identity.close());

    const client = new KmsClient({
      endpoint: kms.url,
      regionId: kmsDir.region,
      accessKeyId: kmsDir.credentials.accessKeyId,
      accessKeySecret: kmsDir.credentials.accessKeySecret,
      caFile: kmsDir.caCertFile,
    });
    let key: UpKey;
    try {
      key = await ensureUpKey(client, paths.keyFile, UP_CLUSTER_NAME, logger.child({ part: "up" })).catch(
        (err: unknown) => {
          throw wrapError(err, "kms key");
        },
      );
    } finally {
      client.close();
    }
    // The plugin runs as the service role from the first start (service-role.ts).
    const pluginIdentity: UpPluginIdentity = await authorizeUpServiceRole(kms.identity, {
      credentialsFile: paths.pluginCredentials,
      stsEndpoint: identity.url,
    }).catch((err: unknown) => {
      throw wrapError(err, "service role");
    });
    let controlPlane: RunningControlPlane | undefined;
    let managed: ManagedClusters | undefined;
    if (options.clusterEngines !== undefined) {
      // CreateCluster's clusters: their plugins assume the service role as up's own plugin does.
      const clusters = new ManagedClusters({
        dataDir: paths.managedDir,
        kmsProfile: paths.kmsProfile,
        serviceRole: {
          credentials: pluginIdentity.credentials,
          stsEndpoint: pluginIdentity.assumeRole.stsEndpoint,
          roleArn: pluginIdentity.assumeRole.roleArn,
        },
        logger: logger.child({ part: "managed" }),
      });
      managed = clusters;
      // Stopped after the control plane (its tasks use them), before the KMS their plugins call.
      stack.push(() => clusters.close());
      const cp = await startUpControlPlane({
        kms,
        kmsDir: paths.kmsDir,
        engines: options.clusterEngines,
        // The console's KMS, RAM, STS and ActionTrail pages call these, signed as the user.
        console: {
          kmsEndpoint: kms.url,
          identityEndpoint: identity.url,
          regionId: kmsDir.region,
          caPem: readFileSync(kmsDir.caCertFile, "utf8"),
        },
        managed: clusters,
        logger: logger.child({ part: "control-plane" }),
        ...(options.controlPlanePort === undefined ? {} : { port: options.controlPlanePort }),
        ...(options.updateCooldownMs === undefined ? {} : { cooldownMs: options.updateCooldownMs }),
        ...(options.clusterWatch === undefined ? {} : { watch: options.clusterWatch }),
      }).catch((err: unknown) => {
        throw wrapError(err, "control plane");
      });
      controlPlane = cp;
      stack.push(() => cp.close());
    }
    writeUpKmsProfile(paths.kmsProfile, {
      ...(controlPlane === undefined ? {} : { controlPlaneEndpoint: controlPlane.url }),
      endpoint: kms.url,
      identityEndpoint: identity.url,
      regionId: kmsDir.region,
      accessKeyId: kmsDir.credentials.accessKeyId,
      accessKeySecret: kmsDir.credentials.accessKeySecret,
      caFile: kmsDir.caCertFile,
    });
    const { written } = ensureUpEncryptionConfig(paths.encryptionConfig, paths.pluginSocket);
    // A kept file that names another socket (the data dir was moved) would make every Secret
    // write fail; say so, but leave the operator's file alone.
    if (!written && !readFileSync(paths.encryptionConfig, "utf8").includes(`unix://${paths.pluginSocket}`))
      logger.warn(
        { encryptionConfig: paths.encryptionConfig, pluginSocket: paths.pluginSocket },
        "up: the encryption configuration does not name this plugin socket",
      );

    const plugin = await startPlugin({
      listen: `unix://${paths.pluginSocket}`,
      backend: {
        kind: "alibaba",
        endpoint: kms.url,
        regionId: kmsDir.region,
        keyId: key.keyId,
        credentials: pluginIdentity.credentials,
        assumeRole: pluginIdentity.assumeRole,
        caPem: readFileSync(kmsDir.caCertFile, "utf8"),
      },
      logger: logger.child({ part: "plugin" }),
      ...(options.pluginStatusRefreshMs === undefined
        ? {}
        : { statusRefreshMs: options.pluginStatusRefreshMs }),
      ...(options.pluginHealthListen === undefined ? {} : { healthListen: options.pluginHealthListen }),
    }).catch((err: unknown) => {
      throw wrapError(err, "plugin");
    });
    stack.push(() => plugin.close());
    const health = await waitForPluginHealthy(
      plugin,
      options.pluginReadyTimeoutMs ?? DEFAULT_PLUGIN_READY_TIMEOUT_MS,
    );
    // Not fatal: the apiserver reports it on /readyz, and the operator can fix the key (enable it)
    // through the running KMS; refusing to start would take that way out too.
    if (!health.healthy) logger.warn({ reason: health.reason }, "up: the plugin is not healthy yet");

    const storeEndpoint = options.storeEndpoint ?? { sqlitePath: paths.apiserverDb };
    const { description, checkName } = describeStore(storeEndpoint);
    let store: Store;
    try {
      store = openStore(storeEndpoint);
    } catch (err) {
      throw wrapError(err, `cannot open the store (${description})`);
    }
    stack.push(() => store.close());
    const apiserver = await startApiServer({
      store,
      storeCheckName: checkName,
      dataDir: paths.apiserverDir,
      kubeconfigOut: paths.kubeconfig,
      encryptionProviderConfig: paths.encryptionConfig,
      encryptionProviderConfigAutomaticReload: true,
      encryptionReloadIntervalMs: MANAGED_ENCRYPTION_RELOAD_INTERVAL_MS,
      bindAddress: options.bindAddress ?? "127.0.0.1",
      securePort: options.securePort ?? 6443,
      // As a managed cluster authorizes: RBAC (up's admin token is in system:masters), with ACK's
      // predefined cluster roles (cs:admin, cs:ops, cs:dev, cs:restricted) ready to be bound.
      authorizationMode: "RBAC",
      ackClusterRoles: true,
      logger: logger.child({ part: "apiserver" }),
      ...(options.etcdPrefix === undefined ? {} : { etcdPrefix: options.etcdPrefix }),
      ...options.apiserverLimits,
    }).catch((err: unknown) => {
      if ((err as NodeJS.ErrnoException).code === "EADDRINUSE")
        throw new AtrestError(
          "unavailable",
          `apiserver: ${options.bindAddress ?? "127.0.0.1"}:${options.securePort ?? 6443} is already in use (choose another --secure-port, or 0 for a free one)`,
          { cause: err },
        );
      throw wrapError(err, "apiserver");
    });
    stack.push(() => apiserver.close());
    const storeLocation: UpSummary["storeLocation"] =
      storeEndpoint !== "memory" && "etcdServers" in storeEndpoint
        ? { etcd: { endpoints: [...storeEndpoint.etcdServers] } }
        : { sqlite: paths.apiserverDb };
    const etcdPrefix = options.etcdPrefix ?? "/registry";
    const cluster: ClusterFileInput = {
      name: UP_CLUSTER_NAME,
      region: kmsDir.region,
      kubeconfig: paths.kubeconfig,
      apiservers: [{ url: apiserver.url, configFile: paths.encryptionConfig }],
      store: { ...storeLocation, prefix: etcdPrefix },
      kmsProfile: paths.kmsProfile,
      plugins: [{ name: UP_KMS_PROVIDER_NAME, endpoint: `unix://${paths.pluginSocket}` }],
    };
    let clusterId: string | undefined;
    if (controlPlane === undefined)
      // Rewritten on every start: the apiserver's port may differ. 0600 like the profile it names.
      writeFileAtomic(paths.clusterFile, renderClusterFile(cluster), 0o600);
    else
      clusterId = await registerUpCluster(controlPlane, kms, {
        clusterFile: paths.clusterFile,
        cluster,
        adminAccessKeyId: kmsDir.credentials.accessKeyId,
      }).catch((err: unknown) => {
        throw wrapError(err, "control plane: registering the cluster");
      });
    // A restart brings the clusters CreateCluster made back (each failure is logged, not fatal).
    if (managed !== undefined) await managed.startAll();
    const summary: UpSummary = {
      dataDir: paths.root,
      kubeconfig: paths.kubeconfig,
      apiserverUrl: apiserver.url,
      kmsEndpoint: kms.url,
      identityEndpoint: identity.url,
      pluginRoleArn: pluginIdentity.assumeRole.roleArn,
      pluginRoleSessionName: UP_CLUSTER_NAME,
      kmsProfile: paths.kmsProfile,
      pluginSocket: paths.pluginSocket,
      ...(plugin.health === undefined ? {} : { pluginHealthUrl: plugin.health.url }),
      keyId: key.keyId,
      keyAlias: key.alias,
      keyCreated: key.created,
      encryptionConfig: paths.encryptionConfig,
      store: description,
      storeLocation,
      etcdPrefix,
      region: kmsDir.region,
      kmsProviderName: UP_KMS_PROVIDER_NAME,
      clusterFile: paths.clusterFile,
      ...(controlPlane === undefined
        ? {}
        : { controlPlaneUrl: controlPlane.url, consoleUrl: consoleUrlOf(controlPlane.url) }),
      ...(clusterId === undefined ? {} : { clusterId }),
    };
    let closing: Promise<void> | undefined;
    return {
      summary,
      kms,
      identity,
      plugin,
      apiserver,
      controlPlane,
      close: () => (closing ??= unwind()),
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}
