import { readFileSync } from "node:fs";
import { createServer, type Server } from "node:https";
import type { AddressInfo, Socket } from "node:net";
import { join } from "node:path";
import { AtrestError, isAtrestError } from "../common/errors.js";
import { systemClock, type Clock } from "../common/clock.js";
import { systemRandom, type Random } from "../common/random.js";
import { silentLogger, type Logger } from "../common/logger.js";
import { ensureTlsFiles } from "../common/tls.js";
import {
  guardTlsPort,
  KUBE_SERVING_TIMEOUTS,
  servingOptions,
  type ServingTimeouts,
} from "../common/tls-serving.js";
import { startCompactor } from "../storage/compactor.js";
import type { Store } from "../storage/store.js";
import { loadAuthorizationConfig, loadTokens } from "./access-files.js";
import { Authorization, type AuthorizationMode } from "./authz/index.js";
import { createAuthenticator, type TokenEntry } from "./authn.js";
import { GIT_VERSION } from "./discovery.js";
import {
  createRequestHandler,
  DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT,
  DEFAULT_MAX_REQUESTS_INFLIGHT,
  InflightLimiter,
  MAX_BODY_BYTES,
  type HandlerContext,
} from "./http/index.js";
import type { HealthCheck } from "./health.js";
import { writeKubeconfig } from "./kubeconfig.js";
import { ApiMetrics } from "./metrics.js";
import type { TransformationObserver } from "../storage/transformation-record.js";
import {
  DEFAULT_DECODED_CACHE_BYTES,
  identityTransformerFor,
  TransformingStore,
  type TransformerForKey,
} from "../storage/transforming-store.js";
import { buildOpenApi } from "./openapi.js";
import { startEncryptionAtRest } from "./encryption.js";
import { apiserverIdentity, EncryptionMetrics } from "./encryption-metrics.js";
import type { KmsClientFactories } from "../encryption-config/index.js";
import { Registry } from "./registry/index.js";
import { resourceByName } from "./resources.js";
import { StorageVersionMigrator, type StorageVersionMigratorOptions } from "./svm/index.js";

/**
 * The reload interval of the apiservers atrest runs itself (`atrest up`'s, the control plane's managed
 * clusters'). An encryption operation writes the file and waits for every apiserver to load it, once per
 * stage: at kube's minute, turning encryption on showed Updating for two minutes or more; re-reading a
 * small file every 2 s costs nothing. A kube-apiserver keeps its minute (nothing here depends on less).
 */
export const MANAGED_ENCRYPTION_RELOAD_INTERVAL_MS = 2_000;

export interface ApiServerOptions {
  /** The revisioned store (etcd, SQLite, memory); the server does not close it. */
  readonly store: Store;
  /** Names the store's health check: `/healthz/etcd` or `/healthz/datastore`. */
  readonly storeCheckName?: "etcd" | "datastore";
  /** The value transformer per storage key (encryption at rest); identity when absent. */
  readonly transformerFor?: TransformerForKey;
  /**
   * kube's --encryption-provider-config: the EncryptionConfiguration file whose providers encrypt what
   * is stored. Takes the place of `transformerFor`.
   */
  readonly encryptionProviderConfig?: string;
  /** kube's --encryption-provider-config-automatic-reload. */
  readonly encryptionProviderConfigAutomaticReload?: boolean;
  /** How often an automatically reloaded file is re-read (default kube's minute). */
  readonly encryptionReloadIntervalMs?: number;
  /** The gRPC clients to KMS plugins (tests; default real ones over unix sockets). */
  readonly kmsClients?: KmsClientFactories;
  /** Sees every transformation (kube's apiserver_storage_transformation_* metrics). */
  readonly transformationObserver?: TransformationObserver;
  /** kube's --etcd-prefix (default /registry). */
  readonly etcdPrefix?: string;
  readonly bindAddress?: string;
  /** 0 picks a free port. Default 6443. */
  readonly securePort?: number;
  /** Where generated CA + serving cert live (when no tlsCertFile). Default <dataDir>/pki. */
  readonly certDir?: string;
  readonly tlsCertFile?: string;
  readonly tlsPrivateKeyFile?: string;
  /** Holds generated certificates and the generated admin token file. */
  readonly dataDir?: string;
  /** kube's --token-auth-file; without it an admin token is generated (into <dataDir>/tokens.csv when dataDir is set). */
  readonly tokenAuthFile?: string;
  /** Tokens given directly (tests); used in addition to the file. */
  readonly tokens?: readonly TokenEntry[];
  readonly clientCaFile?: string;
  /** kube's --authorization-mode: a comma-separated list (RBAC, ABAC, AlwaysAllow, AlwaysDeny) or the modes. */
  readonly authorizationMode?: string | readonly AuthorizationMode[];
  readonly authorizationPolicyFile?: string;
  /** Also put ACK's predefined ClusterRoles (cs:admin, cs:ops, cs:dev, cs:restricted) in the cluster. */
  readonly ackClusterRoles?: boolean;
  readonly kubeconfigOut?: string;
  readonly healthChecks?: readonly HealthCheck[];
  /**
   * kube's --etcd-compaction-interval: compact the store at the revision seen one interval earlier.
   * Default 5 minutes; 0 turns it off (another apiserver or etcd itself compacts).
   */
  readonly compactionIntervalMs?: number;
  readonly watchTimeoutMs?: number;
  /** Serve watches and lists from a cache per collection (kube's --watch-cache; default true). */
  readonly watchCache?: boolean;
  /** kube's --max-requests-inflight: read-only requests served at once (default 400; 0 = no limit). */
  readonly maxRequestsInflight?: number;
  /** kube's --max-mutating-requests-inflight (default 200; 0 = no limit). */
  readonly maxMutatingRequestsInflight?: number;
  /** BOOKMARK interval for watches with allowWatchBookmarks=true (default 60 s). */
  readonly watchBookmarkIntervalMs?: number;
  readonly maxBodyBytes?: number;
  /** Connection timeouts (default kube's secure serving: 32 s read-header, 90 s idle, 60 s request). */
  readonly servingTimeouts?: ServingTimeouts;
  /**
   * The StorageVersionMigration controller (storagemigration.k8s.io): on by default; `false` turns it
   * off (another process migrates), an object tunes it.
   */
  readonly storageVersionMigrator?:
    false | Omit<StorageVersionMigratorOptions, "registry" | "clock" | "logger">;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
}

export interface ApiServer {
  /** https://host:port */
  readonly url: string;
  readonly port: number;
  readonly caCertPem: string;
  /** The admin bearer token (generated or the first entry of the token file). */
  readonly adminToken: string | undefined;
  readonly kubeconfigPath: string | undefined;
  readonly registry: Registry;
  /** The in-process StorageVersionMigration controller (undefined when turned off). */
  readonly storageVersionMigrator: StorageVersionMigrator | undefined;
  close(): Promise<void>;
}

const DEFAULT_NAMESPACES = ["default", "kube-system", "kube-public", "kube-node-lease"];
const MAX_CONFLICT_ATTEMPTS = 9;

async function ensureDefaultNamespaces(registry: Registry): Promise<void> {
  const ns = resourceByName("namespaces");
  if (ns === undefined) return;
  for (const name of DEFAULT_NAMESPACES) {
    try {
      // kube-apiserver's own controller creates them (and so owns their fields).
      await registry.create(
        ns,
        undefined,
        { metadata: { name } },
        { dryRun: false, fieldManager: "kube-apiserver" },
      );
    } catch (err) {
      if (!isAtrestError(err, "already-exists")) throw err;
    }
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new AtrestError("deadline-exceeded", "health check timed out")), ms);
    p.then(
      (v) => {
        clearTimeout(t);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(t);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Starts the Kubernetes-compatible API server in this process. */
export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const logger = options.logger ?? silentLogger();
  const prefix = (options.etcdPrefix ?? "/registry").replace(/\/+$/, "");
  const bindAddress = options.bindAddress ?? "127.0.0.1";
  // Checked before anything starts: a bad limit is refused with nothing to undo.
  const inflight = new InflightLimiter({
    maxRequestsInflight: options.maxRequestsInflight ?? DEFAULT_MAX_REQUESTS_INFLIGHT,
    maxMutatingRequestsInflight:
      options.maxMutatingRequestsInflight ?? DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT,
  });

  let certPem: string;
  let keyPem: string;
  let caCertPem: string;
  if (options.tlsCertFile !== undefined || options.tlsPrivateKeyFile !== undefined) {
    if (options.tlsCertFile === undefined || options.tlsPrivateKeyFile === undefined) {
      throw new AtrestError("invalid-argument", "--tls-cert-file and --tls-private-key-file go together");
    }
    certPem = readFileSync(options.tlsCertFile, "utf8");
    keyPem = readFileSync(options.tlsPrivateKeyFile, "utf8");
    caCertPem = certPem;
  } else {
    const certDir =
      options.certDir ?? (options.dataDir !== undefined ? join(options.dataDir, "pki") : undefined);
    if (certDir === undefined)
      throw new AtrestError(
        "invalid-argument",
        "one of --cert-dir, --tls-cert-file or a data dir is required",
      );
    const hosts = ["localhost", "127.0.0.1", "::1"];
    if (bindAddress !== "0.0.0.0" && bindAddress !== "::" && !hosts.includes(bindAddress))
      hosts.push(bindAddress);
    const files = await ensureTlsFiles(certDir, { commonName: "atrest-apiserver", hosts });
    certPem = readFileSync(files.certFile, "utf8");
    keyPem = readFileSync(files.keyFile, "utf8");
    caCertPem = readFileSync(files.caCertFile, "utf8");
  }

  const { tokens, admin } = loadTokens(options, random);
  const clientCa =
    options.clientCaFile !== undefined ? readFileSync(options.clientCaFile, "utf8") : undefined;
  const authenticator = createAuthenticator({ tokens, clientCertificates: clientCa !== undefined });
  const authorizationConfig = loadAuthorizationConfig(options);

  const metrics = new ApiMetrics();
  // Set below; the encryption runtime's callbacks start after the store exists.
  let transforming: TransformingStore | undefined = undefined;
  if (options.encryptionProviderConfig !== undefined && options.transformerFor !== undefined)
    throw new AtrestError(
      "invalid-argument",
      "give an encryption provider config or a transformer, not both",
    );
  const encryption =
    options.encryptionProviderConfig === undefined
      ? undefined
      : await startEncryptionAtRest({
          configPath: options.encryptionProviderConfig,
          automaticReload: options.encryptionProviderConfigAutomaticReload === true,
          prefix,
          clock,
          logger,
          metrics: new EncryptionMetrics(metrics.registry, apiserverIdentity()),
          ...(options.encryptionReloadIntervalMs === undefined
            ? {}
            : { reloadIntervalMs: options.encryptionReloadIntervalMs }),
          ...(options.kmsClients === undefined ? {} : { clients: options.kmsClients }),
          onStaleVerdictsChanged: () => transforming?.invalidate(),
        });
  const transformerFor = encryption?.transformerFor ?? options.transformerFor ?? identityTransformerFor;
  transforming = new TransformingStore(options.store, transformerFor, {
    observer: metrics.transformationObserver(options.transformationObserver),
    decodedCacheBytes: DEFAULT_DECODED_CACHE_BYTES,
    // kube retries a lost compare-and-swap without limit; nine attempts is plenty for one apiserver.
    maxConflictRetries: MAX_CONFLICT_ATTEMPTS,
  });
  const registry = new Registry(transforming, prefix, clock, random, {
    watchCache: options.watchCache ?? true,
  });
  let authz: Authorization;
  try {
    await ensureDefaultNamespaces(registry);
    await registry.startNamespaceCache();
    await registry.startWatchCache();
    authz = await Authorization.start({
      ...authorizationConfig,
      ...(options.ackClusterRoles === true ? { ackClusterRoles: true } : {}),
      registry,
      clock,
      logger,
    });
  } catch (err) {
    encryption?.close(); // its Status polling would keep the process alive
    await registry.close();
    throw err;
  }

  const store = transforming;
  const healthChecks: HealthCheck[] = [
    { name: "ping", check: () => Promise.resolve() },
    { name: "log", check: () => Promise.resolve() },
    {
      name: options.storeCheckName ?? "datastore",
      check: async () => void (await withTimeout(store.currentRevision(), 2000)),
    },
    ...(encryption?.healthChecks ?? []),
    ...(options.healthChecks ?? []),
  ];
  const openWatches = new Set<() => void>();
  const ctx: HandlerContext = {
    registry,
    authenticator,
    authz,
    openapi: buildOpenApi(GIT_VERSION),
    metrics,
    healthChecks,
    logger,
    clock,
    serverAddress: "",
    maxBodyBytes: options.maxBodyBytes ?? MAX_BODY_BYTES,
    watchTimeoutMs: options.watchTimeoutMs ?? 30 * 60_000,
    watchBookmarkIntervalMs: options.watchBookmarkIntervalMs ?? 60_000,
    openWatches,
    inflight,
  };

  const timeouts = options.servingTimeouts ?? KUBE_SERVING_TIMEOUTS;
  metrics.observeInflight(() => ctx.inflight.inflight);
  const server: Server = createServer(
    {
      cert: certPem,
      key: keyPem,
      ...(clientCa !== undefined ? { ca: clientCa, requestCert: true, rejectUnauthorized: false } : {}),
      ...servingOptions(timeouts),
    },
    createRequestHandler(ctx),
  );
  guardTlsPort(server, timeouts);
  const sockets = new Set<Socket>();
  server.on("connection", (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.securePort ?? 6443, bindAddress, () => {
      server.off("error", reject);
      resolve();
    });
  }).catch(async (err: unknown) => {
    encryption?.close();
    await authz.close();
    await registry.close();
    throw err;
  });
  const port = (server.address() as AddressInfo).port;
  const host = bindAddress === "0.0.0.0" || bindAddress === "::" ? "127.0.0.1" : bindAddress;
  const hostPort = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  ctx.serverAddress = hostPort;
  const url = `https://${hostPort}`;

  if (options.kubeconfigOut !== undefined) {
    if (admin === undefined)
      throw new AtrestError("invalid-argument", "--kubeconfig-out needs a token (the token file is empty)");
    writeKubeconfig(options.kubeconfigOut, { server: url, caCertPem, token: admin });
  }

  const compactor = startCompactor(options.store, {
    ...(options.compactionIntervalMs === undefined ? {} : { intervalMs: options.compactionIntervalMs }),
    clock,
    onCompacted: (revision) => logger.info({ revision }, "store compacted"),
    onError: (err) =>
      logger.warn({ err: err instanceof Error ? err.message : String(err) }, "store compaction failed"),
  });

  const migrator =
    options.storageVersionMigrator === false
      ? undefined
      : new StorageVersionMigrator({ registry, clock, logger, ...(options.storageVersionMigrator ?? {}) });
  await migrator?.start();

  let closed = false;
  return {
    url,
    port,
    caCertPem,
    adminToken: admin,
    kubeconfigPath: options.kubeconfigOut,
    registry,
    storageVersionMigrator: migrator,
    async close() {
      if (closed) return;
      closed = true;
      compactor.stop();
      await migrator?.close();
      for (const end of [...openWatches]) end();
      await authz.close();
      await registry.close();
      encryption?.close();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}
