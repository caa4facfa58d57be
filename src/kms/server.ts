import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import Fastify, {
  type FastifyError,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from "fastify";
import { systemClock, type Clock } from "../common/clock.js";
import { AtrestError } from "../common/errors.js";
import { silentLogger, type Logger } from "../common/logger.js";
import { systemRandom, type Random } from "../common/random.js";
import { readTlsFiles } from "../common/tls.js";
import { tlsServerFactory, type ServingTimeouts } from "../common/tls-serving.js";
import { IdentityStore, type EventSource, type IamDb } from "../iam/index.js";
import { READ_ONLY_ACTIONS } from "./actions/index.js";
import { kmsAuditEventSource } from "./audit-events.js";
import { holdDataDirForServing } from "./data-dir-lock.js";
import { KeyService } from "./keys/index.js";
import { checkDatabaseKind, kmsPaths, readKmsConfig } from "./kms-files.js";
import { KmsMetrics } from "./metrics.js";
import type { ProtectionBackend } from "./protection/protection.js";
import { createSoftwareProtection } from "./protection/software.js";
import { kmsError } from "./kms-error.js";
import { bodyTooLarge, KmsRequestHandler, MAX_PARAM_BYTES, type KmsHttpResponse } from "./request-handler.js";
import { renderResponseBody } from "./response-body.js";
import { RequestJournal } from "./request-journal.js";
import { loadRootKeyFile } from "./root-key.js";
import { KmsScheduler } from "./scheduler.js";
import { identityDbOf, openKmsDatabase, type KmsDb } from "./store/database.js";

export interface KmsServerOptions {
  dataDir: string;
  /** HOST:PORT; default 127.0.0.1:0 (a free port). */
  listen?: string;
  /** A postgres:// URL; default SQLite in the data dir. */
  database?: string;
  /** Plain HTTP; refused unless the listen host is loopback. */
  insecureHttp?: boolean;
  /** The HSM protection backend (PKCS#11), created by the caller; closed with the server. */
  hsm?: ProtectionBackend;
  region?: string;
  accountId?: string;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** Scheduler period; 0 disables the timer (tests drive `scheduler.runOnce()`). Default 60 s. */
  schedulerIntervalMs?: number;
  /** How long key rows, access keys and policies are served from memory. Default 1000 ms. */
  cacheTtlMs?: number;
  /** Per-access-key requests per second before Rejected.Throttling (429); default unlimited. */
  maxRequestsPerSecondPerAccessKey?: number;
  /** Failed authentications per minute per source (and kind) before they are throttled; default 20, 0 = off. */
  maxFailedAuthPerMinutePerSource?: number;
  /** Connection timeouts on HTTPS (default kube's secure serving: 32 s read-header, 90 s idle, 60 s request). */
  servingTimeouts?: ServingTimeouts;
}

export interface KmsServer {
  readonly url: string;
  /** The CA that signed the serving certificate (undefined with insecure HTTP). */
  readonly caCertPem: string | undefined;
  readonly keys: KeyService;
  /** The identity store (shared with the STS, RAM and ActionTrail APIs and the control plane). */
  readonly identity: IdentityStore;
  /** The identity tables' view of the KMS database (for the STS/RAM/ActionTrail API beside it). */
  readonly idb: IamDb;
  /** The audit trail as ActionTrail events (LookupEvents' source for the KMS's calls). */
  readonly eventSource: EventSource;
  readonly region: string;
  readonly accountId: string;
  /** The nonce and audit writes; `idle()` waits for everything submitted to be stored. */
  readonly journal: RequestJournal;
  readonly scheduler: KmsScheduler;
  readonly kdb: KmsDb;
  readonly metrics: KmsMetrics;
  close(): Promise<void>;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "localhost", "[::1]"]);
/** The paths the server serves, with their methods (the `Allow` of a 405). */
const ALLOWED_METHODS: Readonly<Record<string, string>> = Object.freeze(
  Object.assign(Object.create(null) as Record<string, string>, {
    "/": "GET, POST",
    "/healthz": "GET",
    "/metrics": "GET",
  }),
);

/** `flag` names the option in the error (`--listen`, `--identity-listen`). */
export function parseListen(listen: string, flag = "--listen"): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:]+\]|[^:]+):(\d{1,5})$/.exec(listen);
  if (m === null) throw new AtrestError("invalid-argument", `${flag}: must be HOST:PORT (got ${listen})`);
  const port = Number(m[2]);
  if (port > 65535) throw new AtrestError("invalid-argument", `${flag}: port must be 0-65535`);
  return { host: m[1]!.replace(/^\[|\]$/g, ""), port };
}

/** Starts the KMS in this process (the CLI's `serve`, tests and `atrest up` use it). */
export async function startKmsServer(options: KmsServerOptions): Promise<KmsServer> {
  const logger = options.logger ?? silentLogger();
  const clock = options.clock ?? systemClock;
  const random = options.random ?? systemRandom;
  const { host, port } = parseListen(options.listen ?? "127.0.0.1:0");
  if (options.insecureHttp === true && !LOOPBACK.has(host)) {
    throw new AtrestError(
      "invalid-argument",
      "--insecure-http: plain HTTP is only allowed on a loopback address (127.0.0.1, ::1)",
    );
  }
  const paths = kmsPaths(options.dataDir);
  const config = readKmsConfig(options.dataDir);
  checkDatabaseKind(options.dataDir, config, options.database);
  const region = options.region ?? config.region;
  const accountId = options.accountId ?? config.accountId;
  const rootKey = loadRootKeyFile(paths.rootKey);
  const tls =
    options.insecureHttp === true
      ? undefined
      : readTlsFiles({
          caCertFile: paths.caCert,
          certFile: `${paths.tlsDir}/tls.crt`,
          keyFile: `${paths.tlsDir}/tls.key`,
        });

  // Marks the dir in use (for `atrest kms restore`); refuses while a restore runs.
  const inUse = await holdDataDirForServing(options.dataDir, options.database);
  let kdb: KmsDb;
  try {
    kdb = await openKmsDatabase({ dataDir: options.dataDir, database: options.database });
  } catch (err) {
    await inUse.release();
    throw err;
  }
  const software = createSoftwareProtection({ rootKey });
  const keys = new KeyService({
    kdb,
    protections: { SOFTWARE: software, ...(options.hsm === undefined ? {} : { HSM: options.hsm }) },
    clock,
    random,
    keyCacheTtlMs: options.cacheTtlMs ?? 1000,
  });
  const identity = new IdentityStore({
    idb: identityDbOf(kdb),
    sealer: rootKey,
    accountId,
    clock,
    cacheTtlMs: options.cacheTtlMs ?? 1000,
  });
  const journal = new RequestJournal(kdb);
  const metrics = new KmsMetrics();
  const scheduler = new KmsScheduler({
    kdb,
    keys,
    clock,
    intervalMs: options.schedulerIntervalMs ?? 60_000,
    holderId: `${process.pid}-${randomUUID()}`,
    logger,
  });
  const handler = new KmsRequestHandler({
    keys,
    identity,
    journal,
    syncStore: () => kdb.sync(),
    region,
    accountId,
    hostId: `kms.${region}.atrest.local`,
    clock,
    random,
    logger,
    ...(options.maxRequestsPerSecondPerAccessKey === undefined
      ? {}
      : { maxRequestsPerSecondPerAccessKey: options.maxRequestsPerSecondPerAccessKey }),
    ...(options.maxFailedAuthPerMinutePerSource === undefined
      ? {}
      : { maxFailedAuthPerMinutePerSource: options.maxFailedAuthPerMinutePerSource }),
  });
  // Bodies over the limit are refused by fastify before they are buffered (EntityTooLarge, 413).
  const fastifyOptions = { logger: false, bodyLimit: MAX_PARAM_BYTES, exposeHeadRoutes: false } as const;
  const app: FastifyInstance =
    tls === undefined
      ? Fastify(fastifyOptions)
      : Fastify({ ...fastifyOptions, serverFactory: tlsServerFactory(tls, options.servingTimeouts) });
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("*", { parseAs: "buffer" }, (_req, body, done) => done(null, body));

  const send = (reply: FastifyReply, res: KmsHttpResponse, started: bigint) => {
    metrics.requests.inc({ action: res.action, code: res.code });
    metrics.latency.observe({ action: res.action }, Number(process.hrtime.bigint() - started) / 1e9);
    const { contentType, payload } = renderResponseBody(res.format, res.root, res.body);
    return reply.code(res.status).header("content-type", contentType).send(payload);
  };
  const queryOf = (req: FastifyRequest) => (req.query ?? {}) as Record<string, string | string[]>;

  app.route({
    method: ["GET", "POST"],
    url: "/",
    handler: async (req, reply) => {
      const started = process.hrtime.bigint();
      const url = new URL(req.url, "http://x");
      const res = await handler.handle({
        method: req.method,
        pathname: url.pathname,
        query: queryOf(req),
        headers: req.headers,
        rawBody: Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0),
        sourceIp: req.ip,
      });
      return send(reply, res, started);
    },
  });
  // Everything outside the API answers as Alibaba's gateway does: a known path with another method is
  // 405 UnsupportedHTTPMethod (with Allow), any other path 404 InvalidAction.NotFound.
  app.setNotFoundHandler((req, reply) => {
    const started = process.hrtime.bigint();
    const allow = ALLOWED_METHODS[new URL(req.url, "http://x").pathname];
    if (allow === undefined)
      return send(
        reply,
        handler.refuse(
          queryOf(req),
          kmsError("InvalidAction.NotFound", "Specified api is not found, please check your url and method."),
        ),
        started,
      );
    reply.header("allow", allow);
    return send(
      reply,
      handler.refuse(queryOf(req), kmsError("UnsupportedHTTPMethod", "This http method is not supported.")),
      started,
    );
  });
  app.setErrorHandler((err: FastifyError, req, reply) => {
    const started = process.hrtime.bigint();
    const refusal =
      err.code === "FST_ERR_CTP_BODY_TOO_LARGE"
        ? bodyTooLarge()
        : (err.statusCode ?? 500) < 500
          ? kmsError("InvalidParameter", "The request could not be read (malformed HTTP).")
          : err;
    if (!(refusal instanceof AtrestError)) logger.error({ err: err.message }, "request failed");
    return send(reply, handler.refuse(queryOf(req), refusal), started);
  });
  app.get("/healthz", async (_req, reply) => {
    try {
      await kdb.db.selectFrom("audit_head").select("id").limit(1).execute();
      return reply.code(200).send("ok");
    } catch {
      return reply.code(503).send("key store unavailable");
    }
  });
  app.get("/metrics", async (_req, reply) => {
    return reply.header("content-type", metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  try {
    await app.listen({ host, port });
  } catch (err) {
    await kdb.close();
    await inUse.release();
    throw new AtrestError(
      "unavailable",
      `cannot listen on ${host}:${port}: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
  scheduler.start();
  const addr = app.server.address() as AddressInfo;
  const hostPart = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `${tls === undefined ? "http" : "https"}://${hostPart}:${addr.port}`;
  logger.info({ url, region, accountId, database: kdb.dialect }, "kms listening");

  let closing: Promise<void> | undefined;
  return {
    url,
    caCertPem: tls?.caCertPem,
    keys,
    identity,
    idb: identityDbOf(kdb),
    eventSource: kmsAuditEventSource(kdb, { region, accountId, readOnlyActions: READ_ONLY_ACTIONS, rank: 0 }),
    region,
    accountId,
    journal,
    scheduler,
    kdb,
    metrics,
    close() {
      closing ??= (async () => {
        await scheduler.stop();
        await app.close(); // stops accepting, waits for in-flight requests (and their audit records)
        // The last summaries of throttled failed authentications (auth-failures.ts).
        await handler
          .flushAuthFailureSummaries()
          .catch((err: unknown) =>
            logger.error(
              { err: err instanceof Error ? err.message : String(err) },
              "audit summary append failed",
            ),
          );
        await journal.idle();
        await scheduler.releaseLease().catch(() => undefined);
        await software.close();
        await options.hsm?.close();
        await kdb.close();
        await inUse.release();
        logger.info({}, "kms stopped");
      })();
      return closing;
    },
  };
}
