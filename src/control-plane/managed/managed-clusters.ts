/**
 * CreateCluster's managed clusters: the control plane runs, for each, an atrest apiserver (embedded
 * SQLite in `<data-dir>/clusters/<id>/`, or an etcd the caller names) and, when a key is chosen, a KMS
 * plugin on that key working as the service role, so the cluster's Secrets are encrypted from the
 * first write. The key is checked (Enabled, Aliyun_AES_256, the cluster's region), tagged
 * `atrest:cluster:<id>` = write and deletion-protected before the cluster starts — the contract
 * operations' key checks keep with atrest kms — and released when the cluster is deleted. Each cluster
 * gets a kubeconfig and a cluster file, so the operations engine (UpdateKMSEncryption) runs against it
 * like against any registered cluster. The records on disk are the truth: `startAll` after a
 * control-plane restart starts every recorded cluster again.
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import { AtrestError, wrapError } from "../../common/errors.js";
import { silentLogger, type Logger } from "../../common/logger.js";
import { KmsClient, loadKmsProfile, type KmsProfile } from "../../kms/client/index.js";
import { assertUsable, describeKey, protectKey, releaseKey } from "../../operations/index.js";
import {
  assertClusterId,
  assertSocketFits,
  clusterPaths,
  clustersRoot,
  CLUSTER_ID_PATTERN,
  type ClusterPaths,
} from "./cluster-paths.js";
import {
  readCaPem,
  startClusterRuntime,
  type ClusterEnvironment,
  type ClusterRuntime,
  type ServiceRoleAccess,
} from "./cluster-runtime.js";
import { ensureManagedEncryptionConfig, renderManagedEncryptionConfig } from "./encryption-config-file.js";
import {
  managedRecordExists,
  pluginName,
  readManagedRecord,
  writeManagedRecord,
  type ManagedPlugin,
  type ManagedRecord,
} from "./managed-record.js";

export interface ManagedClustersOptions {
  /** The control plane's data dir: clusters live in `<dataDir>/clusters/<id>/`. */
  readonly dataDir: string;
  /**
   * The control plane's KMS profile (endpoint, regionId, caFile): it checks, tags and protects keys and
   * the clusters' files name it for their operations. Its regionId is the clusters' region.
   */
  readonly kmsProfile: string;
  readonly serviceRole: ServiceRoleAccess;
  /** The apiservers' address; default 127.0.0.1. */
  readonly bindAddress?: string;
  readonly pluginReadyTimeoutMs?: number;
  /** How often the plugins re-check their key (a rotation shows after at most this); default 60 s. */
  readonly pluginStatusRefreshMs?: number;
  readonly logger?: Logger;
}

export interface CreateManagedClusterRequest {
  readonly clusterId: string;
  /** The name people see (ACK's `name`); default the id. */
  readonly name?: string;
  /** Encrypt Secrets with this KMS key (id or alias) from the first write; none: stored as they are. */
  readonly kmsKeyId?: string;
  /** The caller's etcd instead of SQLite in the cluster's folder. */
  readonly etcd?: { readonly endpoints: readonly string[]; readonly prefix?: string };
}

export interface ManagedClusterInfo {
  readonly clusterId: string;
  readonly name: string;
  readonly region: string;
  readonly createdAt: string;
  readonly running: boolean;
  /** While running. */
  readonly apiserverUrl?: string;
  readonly kubeconfig: string;
  readonly clusterFile: string;
  readonly encryptionConfig: string;
  readonly store:
    | { readonly sqlite: string; readonly prefix: string }
    | { readonly etcd: readonly string[]; readonly prefix: string };
  /** The keys its plugins serve, first the one it was created with. */
  readonly plugins: ReadonlyArray<{
    readonly name: string;
    readonly keyId: string;
    readonly endpoint: string;
  }>;
}

export interface StartAllResult {
  readonly clusterId: string;
  readonly started: boolean;
  readonly error?: string;
}

/** How long a cluster's start waits for each plugin's first healthy check (as `atrest up` does). */
const DEFAULT_PLUGIN_READY_TIMEOUT_MS = 15_000;
const ETCD_ENDPOINT = /^https?:\/\/[^/\s]+\/?$/;
const PREFIX = /^\/[^\s]*[^/\s]$|^\/$/;

function checkRequest(req: CreateManagedClusterRequest): void {
  assertClusterId(req.clusterId);
  const bad = (message: string, reason: string): never => {
    throw new AtrestError("invalid-argument", message, { details: { reason } });
  };
  if (req.name !== undefined && (req.name.length < 1 || req.name.length > 128))
    bad("name must be 1-128 characters", "InvalidName");
  if (req.kmsKeyId !== undefined && (req.kmsKeyId.length < 1 || req.kmsKeyId.length > 128))
    bad("kms key id must be 1-128 characters", "InvalidKmsKeyId");
  if (req.etcd !== undefined) {
    if (req.etcd.endpoints.length === 0) bad("etcd: name at least one endpoint", "InvalidEtcd");
    for (const e of req.etcd.endpoints)
      if (!ETCD_ENDPOINT.test(e))
        bad(`etcd endpoint ${JSON.stringify(e)} must be http(s)://host:port`, "InvalidEtcd");
    if (req.etcd.prefix !== undefined && !PREFIX.test(req.etcd.prefix))
      bad(
        `etcd prefix ${JSON.stringify(req.etcd.prefix)} must be an absolute key prefix like /registry`,
        "InvalidEtcd",
      );
  }
}

export class ManagedClusters {
  readonly #dataDir: string;
  readonly #options: ManagedClustersOptions;
  #profileCache: KmsProfile | undefined;
  #envCache: ClusterEnvironment | undefined;
  readonly #logger: Logger;
  readonly #running = new Map<string, ClusterRuntime>();
  /** One change at a time per cluster (create, start, stop, add key, delete). */
  readonly #locks = new Map<string, Promise<unknown>>();

  constructor(options: ManagedClustersOptions) {
    this.#dataDir = options.dataDir;
    this.#logger = options.logger ?? silentLogger();
    this.#options = options;
  }

  /** The profile is read on first use: `atrest up` writes it after the control plane started. */
  get #env(): ClusterEnvironment {
    if (this.#envCache !== undefined) return this.#envCache;
    const options = this.#options;
    const profile = loadKmsProfile(options.kmsProfile);
    if (profile.regionId === undefined)
      throw new AtrestError(
        "invalid-argument",
        `${options.kmsProfile}: managed clusters need the profile's regionId`,
      );
    this.#profileCache = profile;
    this.#envCache = {
      kmsEndpoint: profile.endpoint,
      regionId: profile.regionId,
      ...(profile.caFile === undefined ? {} : { kmsCaPem: readCaPem(profile.caFile)! }),
      kmsProfile: options.kmsProfile,
      serviceRole: options.serviceRole,
      bindAddress: options.bindAddress ?? "127.0.0.1",
      pluginReadyTimeoutMs: options.pluginReadyTimeoutMs ?? DEFAULT_PLUGIN_READY_TIMEOUT_MS,
      ...(options.pluginStatusRefreshMs === undefined
        ? {}
        : { pluginStatusRefreshMs: options.pluginStatusRefreshMs }),
      logger: this.#logger,
    };
    return this.#envCache;
  }

  get #profile(): KmsProfile {
    void this.#env;
    return this.#profileCache!;
  }

  /** The ids of every recorded cluster, sorted. */
  ids(): string[] {
    let entries: string[];
    try {
      entries = readdirSync(clustersRoot(this.#dataDir));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    return entries
      .filter(
        (id) => CLUSTER_ID_PATTERN.test(id) && managedRecordExists(clusterPaths(this.#dataDir, id).record),
      )
      .sort();
  }

  /** What is known of a cluster; undefined when none has this id. */
  info(clusterId: string): ManagedClusterInfo | undefined {
    if (!CLUSTER_ID_PATTERN.test(clusterId)) return undefined;
    const paths = clusterPaths(this.#dataDir, clusterId);
    if (!managedRecordExists(paths.record)) return undefined;
    return this.#infoOf(readManagedRecord(paths.record), paths);
  }

  list(): ManagedClusterInfo[] {
    return this.ids().flatMap((id) => {
      const i = this.info(id);
      return i === undefined ? [] : [i];
    });
  }

  /**
   * Creates and starts a cluster. Bad input or an unusable key: a typed error and nothing made. A
   * failure after the key was tagged undoes it all (key released, folder removed).
   */
  async create(req: CreateManagedClusterRequest): Promise<ManagedClusterInfo> {
    checkRequest(req);
    return this.#exclusive(req.clusterId, async () => {
      const paths = clusterPaths(this.#dataDir, req.clusterId);
      assertSocketFits(paths);
      if (managedRecordExists(paths.record))
        throw new AtrestError("already-exists", `cluster ${req.clusterId} already exists`, {
          details: { reason: "ClusterAlreadyExists" },
        });
      const keyId = req.kmsKeyId === undefined ? undefined : await this.#checkKey(req.kmsKeyId);
      const plugin: ManagedPlugin | undefined =
        keyId === undefined ? undefined : { name: pluginName(1), keyId, socket: 1 };
      const record: ManagedRecord = {
        version: 1,
        clusterId: req.clusterId,
        name: req.name ?? req.clusterId,
        region: this.#env.regionId,
        createdAt: new Date().toISOString(),
        store:
          req.etcd === undefined
            ? { sqlite: true, prefix: "/registry" }
            : { etcd: { endpoints: [...req.etcd.endpoints] }, prefix: req.etcd.prefix ?? "/registry" },
        plugins: plugin === undefined ? [] : [plugin],
      };
      const configText = renderManagedEncryptionConfig(
        plugin === undefined ? undefined : { name: plugin.name, socket: paths.pluginSocket(plugin.socket) },
      );
      let tagged = false;
      try {
        mkdirSync(paths.root, { recursive: true, mode: 0o700 });
        if (keyId !== undefined) {
          await this.#withKms((kms) =>
            describeKey(kms, keyId).then((k) => protectKey(kms, k, req.clusterId, "write")),
          );
          tagged = true;
        }
        ensureManagedEncryptionConfig(paths.encryptionConfig, configText);
        writeManagedRecord(paths.record, record);
        const runtime = await startClusterRuntime(this.#env, record, paths);
        this.#running.set(req.clusterId, runtime);
        this.#rememberPort(record, paths, runtime);
        this.#logger.info(
          { cluster: req.clusterId, encrypted: keyId !== undefined },
          "managed cluster created",
        );
        return this.#infoOf(readManagedRecord(paths.record), paths);
      } catch (err) {
        if (tagged)
          await this.#withKms((kms) => releaseKey(kms, keyId!, req.clusterId)).catch((e: unknown) =>
            this.#logger.error(
              { cluster: req.clusterId, err: e instanceof Error ? e.message : String(e) },
              "managed cluster: releasing the key after a failed create failed",
            ),
          );
        rmSync(paths.root, { recursive: true, force: true });
        throw err;
      }
    });
  }

  /** Starts a recorded cluster (no-op when it runs). */
  start(clusterId: string): Promise<ManagedClusterInfo> {
    return this.#exclusive(clusterId, async () => {
      const { record, paths } = this.#load(clusterId);
      if (!this.#running.has(clusterId)) {
        const runtime = await startClusterRuntime(this.#env, record, paths);
        this.#running.set(clusterId, runtime);
        this.#rememberPort(record, paths, runtime);
      }
      return this.#infoOf(readManagedRecord(paths.record), paths);
    });
  }

  /** After a control-plane restart: starts every recorded cluster; one that fails does not stop the rest. */
  async startAll(): Promise<StartAllResult[]> {
    const results: StartAllResult[] = [];
    for (const clusterId of this.ids()) {
      try {
        await this.start(clusterId);
        results.push({ clusterId, started: true });
      } catch (err) {
        const error = err instanceof Error ? err.message : String(err);
        this.#logger.error({ cluster: clusterId, err: error }, "managed cluster: start failed");
        results.push({ clusterId, started: false, error });
      }
    }
    return results;
  }

  /** Stops a cluster's apiserver and plugins; its data stays. */
  stop(clusterId: string): Promise<void> {
    return this.#exclusive(clusterId, async () => {
      const runtime = this.#running.get(clusterId);
      this.#running.delete(clusterId);
      await runtime?.close();
    });
  }

  /**
   * A plugin for another KMS key (before UpdateKMSEncryption switches the cluster to it): started,
   * recorded, listed in the cluster file. Idempotent per key. The caller runs the operation; tagging
   * the key is the operation's part.
   */
  addKeyPlugin(
    clusterId: string,
    kmsKeyId: string,
  ): Promise<{ name: string; endpoint: string; keyId: string }> {
    return this.#exclusive(clusterId, async () => {
      const { record, paths } = this.#load(clusterId);
      const runtime = this.#running.get(clusterId);
      if (runtime === undefined)
        throw new AtrestError("failed-precondition", `cluster ${clusterId} is not running`, {
          details: { reason: "ClusterNotRunning" },
        });
      const keyId = await this.#checkKey(kmsKeyId);
      const known = record.plugins.find((p) => p.keyId === keyId);
      if (known !== undefined)
        return { name: known.name, keyId, endpoint: `unix://${paths.pluginSocket(known.socket)}` };
      const n = Math.max(0, ...record.plugins.map((p) => p.socket)) + 1;
      const plugin: ManagedPlugin = { name: pluginName(n), keyId, socket: n };
      const next: ManagedRecord = { ...record, plugins: [...record.plugins, plugin] };
      await runtime.addPlugin(next, plugin);
      writeManagedRecord(paths.record, next);
      return { name: plugin.name, keyId, endpoint: `unix://${paths.pluginSocket(n)}` };
    });
  }

  /**
   * Deletes a cluster: stops it, releases every key it recorded (the tag goes; deletion protection
   * too when atrest set it and no other cluster needs the key), removes its folder. Keys first: a
   * failure there leaves the cluster recorded, so the delete can be retried.
   */
  delete(clusterId: string): Promise<{ keysReleased: string[] }> {
    return this.#exclusive(clusterId, async () => {
      const { record, paths } = this.#load(clusterId);
      const runtime = this.#running.get(clusterId);
      this.#running.delete(clusterId);
      await runtime?.close();
      const keysReleased: string[] = [];
      for (const p of record.plugins)
        await this.#withKms(async (kms) => {
          await releaseKey(kms, p.keyId, clusterId);
          keysReleased.push(p.keyId);
        }).catch((err: unknown) => {
          throw wrapError(err, `cluster ${clusterId}: releasing KMS key ${p.keyId}`);
        });
      rmSync(paths.root, { recursive: true, force: true });
      this.#logger.info({ cluster: clusterId, keysReleased: keysReleased.length }, "managed cluster deleted");
      return { keysReleased };
    });
  }

  /** The running cluster's parts (tests, the control plane's health checks); undefined when stopped. */
  runtime(clusterId: string): ClusterRuntime | undefined {
    return this.#running.get(clusterId);
  }

  /** Stops every running cluster (the control plane is stopping); their records stay for startAll. */
  async close(): Promise<void> {
    await Promise.all([...this.#running.keys()].map((id) => this.stop(id)));
  }

  #load(clusterId: string): { record: ManagedRecord; paths: ClusterPaths } {
    assertClusterId(clusterId);
    const paths = clusterPaths(this.#dataDir, clusterId);
    if (!managedRecordExists(paths.record))
      throw new AtrestError("not-found", `cluster ${clusterId} not found`, {
        details: { reason: "ClusterNotFound" },
      });
    return { record: readManagedRecord(paths.record), paths };
  }

  /** DescribeKey + the usability rules; returns the key id (an alias resolved). */
  async #checkKey(keyIdOrAlias: string): Promise<string> {
    return this.#withKms(async (kms) => {
      const key = await describeKey(kms, keyIdOrAlias);
      assertUsable(key, this.#env.regionId);
      return key.keyId;
    });
  }

  async #withKms<T>(fn: (kms: KmsClient) => Promise<T>): Promise<T> {
    const kms = new KmsClient({
      endpoint: this.#profile.endpoint,
      regionId: this.#env.regionId,
      accessKeyId: this.#profile.accessKeyId,
      accessKeySecret: this.#profile.accessKeySecret,
      ...(this.#env.kmsCaPem === undefined ? {} : { caPem: this.#env.kmsCaPem }),
    });
    try {
      return await fn(kms);
    } finally {
      kms.close();
    }
  }

  #rememberPort(record: ManagedRecord, paths: ClusterPaths, runtime: ClusterRuntime): void {
    if (record.securePort === runtime.apiserver.port) return;
    writeManagedRecord(paths.record, {
      ...readManagedRecord(paths.record),
      securePort: runtime.apiserver.port,
    });
  }

  #infoOf(record: ManagedRecord, paths: ClusterPaths): ManagedClusterInfo {
    const runtime = this.#running.get(record.clusterId);
    return {
      clusterId: record.clusterId,
      name: record.name,
      region: record.region,
      createdAt: record.createdAt,
      running: runtime !== undefined,
      ...(runtime === undefined ? {} : { apiserverUrl: runtime.apiserver.url }),
      kubeconfig: paths.kubeconfig,
      clusterFile: paths.clusterFile,
      encryptionConfig: paths.encryptionConfig,
      store:
        "sqlite" in record.store
          ? { sqlite: paths.apiserverDb, prefix: record.store.prefix }
          : { etcd: record.store.etcd.endpoints, prefix: record.store.prefix },
      plugins: record.plugins.map((p) => ({
        name: p.name,
        keyId: p.keyId,
        endpoint: `unix://${paths.pluginSocket(p.socket)}`,
      })),
    };
  }

  async #exclusive<T>(clusterId: string, fn: () => Promise<T>): Promise<T> {
    const before = this.#locks.get(clusterId) ?? Promise.resolve();
    const run = before.catch(() => undefined).then(fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(clusterId, tail);
    try {
      return await run;
    } finally {
      if (this.#locks.get(clusterId) === tail) this.#locks.delete(clusterId);
    }
  }
}
