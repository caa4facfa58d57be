import type { Timer } from "../../common/clock.js";
import { AtrestError } from "../../common/errors.js";
import {
  assumeRole,
  CS_SERVICE_PRINCIPAL,
  CS_SERVICE_ROLE,
  ensureServicePrincipal,
  serviceRoleArn,
  STS_MIN_DURATION_SECONDS,
  type CallerIdentity,
} from "../../iam/index.js";
import { KmsClient, loadKmsProfile } from "../../kms/client/index.js";
import { KubeClient, loadClusterFile, loadKubeconfig } from "../../operations/index.js";
import { AutoReencrypt, DEFAULT_SETTLE_MS, DEFAULT_WATCH_INTERVAL_MS } from "../auto-reencrypt/index.js";
import { DEFAULT_KEY_HEALTH_INTERVAL_MS, KeyHealthWatch, type KeyHealth } from "../health/index.js";
import type { ClusterRow } from "../store/cluster-store.js";
import { autoReencryptOf } from "./cluster-tags.js";
import { errorText, recordClusterEvent, type ServiceContext } from "./context.js";
import { CONTROL_PLANE_SOURCE, startReencryptTask } from "./reencrypt-task.js";
import type { TaskRunner } from "./task-runner.js";

/** The lease row: of all instances on one database, the holder watches every cluster. */
export const CLUSTER_WATCH_LEASE = "cluster-watch";
/** The STS session the control plane checks keys in (ActionTrail shows `AliyunCSManagedSecurityRole:<this>`). */
export const HEALTH_SESSION_NAME = "atrest-control-plane";
/** A session is renewed when less than this is left. */
const SESSION_RENEW_BEFORE_MS = 5 * 60_000;

export interface ClusterWatchOptions {
  /** Key health: one DescribeKey per cluster key this often (default 60 s). */
  readonly healthIntervalMs?: number;
  /** Automatic re-encryption: each cluster's apiservers read this often (default 60 s). */
  readonly reencryptIntervalMs?: number;
  /** How long every apiserver must report the new key_id before re-encrypting (default 5 min). */
  readonly settleMs?: number;
}

interface ServiceSession {
  readonly identity: CallerIdentity;
  readonly creds: {
    readonly id: string;
    readonly secret: string;
    readonly token: string;
    readonly until: number;
  };
}

interface Watched {
  readonly file: string;
  readonly kube: KubeClient;
}

/**
 * The control plane's watch over every cluster it manages (registered and CreateCluster's): the KMS
 * key's health as the service role sees it (EKS's issue codes), kept in the database for
 * DescribeClusterDetail and recorded as a cluster event when it changes; and automatic re-encryption
 * after a key rotation (on unless the cluster's `atrest.io/auto-reencrypt` tag says false), started
 * as a task like UpdateKMSEncryption. With several instances on one database only the holder of the
 * `cluster-watch` lease (the task lease's compare-and-swap on a row of its own) acts; the others wait
 * to take it over when it lapses.
 */
export class ClusterWatch {
  readonly #ctx: ServiceContext;
  readonly #healthIntervalMs: number;
  readonly #health: KeyHealthWatch;
  readonly #reencrypt: AutoReencrypt;
  readonly #watched = new Map<string, Watched>();
  #leader = false;
  #nextHealthAt = 0;
  #timer: Timer | undefined;
  #tick: Promise<void> | undefined;
  #session: ServiceSession | undefined;
  #closed = false;

  constructor(ctx: ServiceContext, runner: TaskRunner, options: ClusterWatchOptions = {}) {
    this.#ctx = ctx;
    this.#healthIntervalMs = options.healthIntervalMs ?? DEFAULT_KEY_HEALTH_INTERVAL_MS;
    this.#health = new KeyHealthWatch({
      clusters: async () =>
        (await ctx.store.listClusters())
          .filter((r) => r.kms_key_id !== "" && r.disable_encryption === 0)
          .map((r) => ({ clusterId: r.cluster_id, keyId: r.kms_key_id })),
      kms: (c) => this.#kmsFor(c.clusterId),
      previous: (id) => this.#storedHealth(id),
      onChecked: (id, h) =>
        ctx.watch.putHealth(id, {
          kmsKeyId: h.keyId,
          issues: h.issues,
          keyState: h.keyState ?? "",
          checkedAt: ctx.clock.now(),
        }),
      onChange: (id, h) => this.#healthChanged(id, h),
      clock: ctx.clock,
    });
    this.#reencrypt = new AutoReencrypt({
      intervalMs: options.reencryptIntervalMs ?? DEFAULT_WATCH_INTERVAL_MS,
      settleMs: options.settleMs ?? DEFAULT_SETTLE_MS,
      enabled: (id) => this.#gate(id),
      start: async (target, decision, startedBy) =>
        startReencryptTask(
          ctx,
          runner,
          target.clusterId,
          startedBy,
          decision.message,
          (await this.#service()).identity,
        ),
      clock: ctx.clock,
      logger: ctx.logger,
    });
  }

  /** True while this instance holds the lease and watches. */
  get leader(): boolean {
    return this.#leader;
  }

  /** The re-encrypt watcher (tests ask it to check now). */
  get reencrypt(): AutoReencrypt {
    return this.#reencrypt;
  }

  start(): void {
    void this.tickNow();
  }

  /** One round now (shared with one in flight): lease, clusters, and key health when due. */
  tickNow(options: { health?: boolean } = {}): Promise<void> {
    if (options.health === true) this.#nextHealthAt = 0;
    return (this.#tick ??= this.#round()
      .catch((err: unknown) => this.#ctx.logger.warn({ err: errorText(err) }, "cluster watch: round failed"))
      .finally(() => {
        this.#tick = undefined;
        this.#schedule();
      }));
  }

  /** Stops watching and gives the lease up, so another instance takes over at once. */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) this.#ctx.clock.clearTimeout(this.#timer);
    await this.#tick;
    this.#stopWatching();
    await this.#ctx.watch.release(CLUSTER_WATCH_LEASE, this.#ctx.instanceId).catch(() => undefined);
  }

  #schedule(): void {
    if (this.#closed) return;
    if (this.#timer !== undefined) this.#ctx.clock.clearTimeout(this.#timer);
    // Renewed three times per lease period, so the lease never lapses while this instance lives.
    this.#timer = this.#ctx.clock.setTimeout(
      () => void this.tickNow(),
      Math.max(50, Math.floor(this.#ctx.leaseMs / 3)),
    );
    this.#timer.unref?.();
  }

  async #round(): Promise<void> {
    if (this.#closed) return;
    const ctx = this.#ctx;
    const now = ctx.clock.now();
    const held = await ctx.watch.lease(CLUSTER_WATCH_LEASE, ctx.instanceId, now, now + ctx.leaseMs);
    if (!held) {
      if (this.#leader) ctx.logger.info({ instance: ctx.instanceId }, "cluster watch: lease lost");
      this.#leader = false;
      this.#stopWatching();
      return;
    }
    if (!this.#leader) ctx.logger.info({ instance: ctx.instanceId }, "cluster watch: lease taken");
    this.#leader = true;
    this.#sync(await ctx.store.listClusters());
    if (now >= this.#nextHealthAt) {
      this.#nextHealthAt = now + this.#healthIntervalMs;
      await this.#health.checkNow();
    }
  }

  /** Watches every cluster for re-encryption (a cluster file that moved is watched anew). */
  #sync(rows: readonly ClusterRow[]): void {
    for (const [id, w] of [...this.#watched])
      if (!rows.some((r) => r.cluster_id === id && r.cluster_file === w.file)) this.#unwatch(id);
    for (const row of rows) {
      if (this.#watched.has(row.cluster_id)) continue;
      try {
        const cluster = loadClusterFile(row.cluster_file);
        const kube = new KubeClient(loadKubeconfig(cluster.kubeconfig));
        this.#watched.set(row.cluster_id, { file: row.cluster_file, kube });
        this.#reencrypt.watch({
          clusterId: row.cluster_id,
          cluster,
          kube,
          operations: (owner) => this.#ctx.engines(cluster, { progress: () => undefined, owner }),
        });
      } catch (err) {
        this.#ctx.logger.warn(
          { cluster: row.cluster_id, err: errorText(err) },
          "cluster watch: cannot watch the cluster",
        );
      }
    }
  }

  #unwatch(id: string): void {
    this.#reencrypt.unwatch(id);
    this.#watched.get(id)?.kube.close();
    this.#watched.delete(id);
  }

  #stopWatching(): void {
    for (const id of [...this.#watched.keys()]) this.#unwatch(id);
  }

  /** On when the tag says so (default), the cluster running with encryption on. */
  async #gate(clusterId: string) {
    if (!this.#leader)
      return { wait: "ClusterNotRunning" as const, message: "another instance watches the clusters" };
    const row = await this.#ctx.store.getCluster(clusterId);
    if (row === undefined) return { wait: "ClusterNotRunning" as const, message: "the cluster is gone" };
    if (!autoReencryptOf(await this.#ctx.tags.tagsOf(clusterId))) return false;
    if (row.disable_encryption === 1)
      return { wait: "NotKmsV2" as const, message: "Secret encryption is off" };
    if (row.state !== "running")
      return { wait: "ClusterNotRunning" as const, message: `the cluster is ${row.state}` };
    return true;
  }

  async #storedHealth(clusterId: string): Promise<KeyHealth | undefined> {
    const [h, row] = await Promise.all([
      this.#ctx.watch.healthOf(clusterId),
      this.#ctx.store.getCluster(clusterId),
    ]);
    if (h === undefined || row === undefined || h.kmsKeyId !== row.kms_key_id) return undefined;
    return {
      keyId: h.kmsKeyId,
      healthy: h.issues.length === 0,
      issues: h.issues.map((i) => ({ ...i, code: i.code as KeyHealth["issues"][number]["code"] })),
      checkedAt: new Date(h.checkedAt).toISOString(),
    };
  }

  async #healthChanged(clusterId: string, h: KeyHealth): Promise<void> {
    await recordClusterEvent(this.#ctx, clusterId, "", {
      type: "cluster_health",
      ...(h.healthy
        ? { level: "Normal" as const, reason: "KmsKeyHealthy", message: `KMS key ${h.keyId} is usable again` }
        : {
            level: "Warning" as const,
            reason: h.issues[0]?.code ?? "Other",
            message: h.issues.map((i) => i.message).join("; "),
          }),
      source: CONTROL_PLANE_SOURCE,
    });
  }

  /** The service principal's identity and an STS session of the service role (renewed before expiry). */
  async #service(): Promise<ServiceSession> {
    const ctx = this.#ctx;
    const now = ctx.clock.now();
    if (this.#session !== undefined && this.#session.creds.until - now > SESSION_RENEW_BEFORE_MS)
      return this.#session;
    const principal = await ensureServicePrincipal(ctx.identity);
    const identity: CallerIdentity = {
      type: "service",
      accessKeyId: "",
      principal: CS_SERVICE_PRINCIPAL,
      principalId: principal.principal_id,
      userName: CS_SERVICE_PRINCIPAL,
    };
    const s = await assumeRole(
      ctx.identity,
      identity,
      { roleArn: serviceRoleArn(ctx.accountId), roleSessionName: HEALTH_SESSION_NAME },
      { now, minDurationSeconds: STS_MIN_DURATION_SECONDS },
    ).catch((err: unknown) => {
      // The plugins assume the same role: if it cannot be, they cannot reach the key either.
      throw new AtrestError(
        "permission-denied",
        `the service role ${CS_SERVICE_ROLE} cannot be assumed (${errorText(err)}): quick-authorize it`,
        { cause: err, details: { acsCode: "NoPermission" } },
      );
    });
    this.#session = {
      identity,
      creds: { id: s.accessKeyId, secret: s.accessKeySecret, token: s.securityToken, until: s.expiresAt },
    };
    return this.#session;
  }

  /** A KMS client for the cluster's KMS (its profile's endpoint, region and CA), signed as the service role. */
  async #kmsFor(clusterId: string): Promise<KmsClient> {
    const row = await this.#ctx.store.getCluster(clusterId);
    if (row === undefined) throw new Error(`cluster ${clusterId} is gone`);
    const profile = loadKmsProfile(loadClusterFile(row.cluster_file).kmsProfile);
    const { creds } = await this.#service();
    return new KmsClient({
      endpoint: profile.endpoint,
      ...(profile.regionId === undefined ? {} : { regionId: profile.regionId }),
      ...(profile.caFile === undefined ? {} : { caFile: profile.caFile }),
      accessKeyId: creds.id,
      accessKeySecret: creds.secret,
      securityToken: creds.token,
    });
  }
}
