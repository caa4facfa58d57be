import type { AddressInfo } from "node:net";
import Fastify, { type FastifyInstance } from "fastify";
import { systemClock, type Clock } from "../common/clock.js";
import { AtrestError } from "../common/errors.js";
import { silentLogger, type Logger } from "../common/logger.js";
import { systemRandom, type Random } from "../common/random.js";
import {
  identityRoutes,
  IdentityApi,
  type EventSource,
  type IamDb,
  type IdentityStore,
  type StsOptions,
} from "../iam/index.js";
import { csRoutes } from "./cs/cs-routes.js";
import type { ControlPlaneService } from "./service/control-plane-service.js";

/** What a part mounted on the control plane's server (the console) is handed. */
export interface ControlPlaneDeps {
  readonly service: ControlPlaneService;
  readonly identity: IdentityStore;
  readonly idb: IamDb;
  readonly accountId: string;
  readonly regionId: string;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
}

/** Mounts more routes (e.g. the console's `registerConsole`) on the app before it listens. */
export type ControlPlaneMount = (app: FastifyInstance, deps: ControlPlaneDeps) => Promise<void>;

export interface ControlPlaneAppOptions {
  readonly service: ControlPlaneService;
  readonly identity: IdentityStore;
  readonly idb: IamDb;
  readonly accountId: string;
  readonly regionId: string;
  /** LookupEvents' sources besides the trail table (the KMS's audit trail). */
  readonly eventSources?: readonly EventSource[];
  readonly sts?: StsOptions;
  readonly tls?: { readonly keyPem: string; readonly certPem: string };
  readonly mounts?: readonly ControlPlaneMount[];
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
}

/**
 * The control plane's HTTP server (fastify): the cs API (ROA) at ACK's paths, the identity services
 * (STS, RAM, ActionTrail LookupEvents — the control plane's events and the KMS's) at `/` as on the
 * KMS's identity endpoint, and whatever is mounted (the console). Built, not listening: the caller
 * (startControlPlaneServer, tests) decides where.
 */
export async function buildControlPlaneApp(o: ControlPlaneAppOptions): Promise<FastifyInstance> {
  const clock = o.clock ?? systemClock;
  const random = o.random ?? systemRandom;
  const logger = o.logger ?? silentLogger();
  const base = { logger: false, exposeHeadRoutes: false, trustProxy: false } as const;
  const app: FastifyInstance =
    o.tls === undefined
      ? Fastify(base)
      : Fastify({ ...base, https: { key: o.tls.keyPem, cert: o.tls.certPem } });
  const api = new IdentityApi({
    identity: o.identity,
    idb: o.idb,
    region: o.regionId,
    extraEventSources: o.eventSources ?? [],
    ...(o.sts === undefined ? {} : { sts: o.sts }),
    clock,
    random,
    logger,
  });
  await app.register(identityRoutes, { api });
  await app.register(csRoutes, {
    service: o.service,
    identity: o.identity,
    idb: o.idb,
    accountId: o.accountId,
    regionId: o.regionId,
    clock,
    random,
  });
  const deps: ControlPlaneDeps = {
    service: o.service,
    identity: o.identity,
    idb: o.idb,
    accountId: o.accountId,
    regionId: o.regionId,
    clock,
    random,
    logger,
  };
  for (const mount of o.mounts ?? []) await mount(app, deps);
  app.setNotFoundHandler((req, reply) => {
    const requestId = random.uuid().toUpperCase();
    void reply
      .code(404)
      .header("content-type", "application/json;charset=utf-8")
      .send(
        JSON.stringify({
          requestId,
          code: "InvalidAction.NotFound",
          message: `${req.method} ${req.url.split("?")[0] ?? ""}: no such operation on the cs API (2015-12-15)`,
        }),
      );
  });
  return app;
}

export interface ControlPlaneServer {
  readonly url: string;
  readonly app: FastifyInstance;
  close(): Promise<void>;
}

/** Listens on host:port (default 127.0.0.1, a free port). */
export async function listenControlPlane(
  app: FastifyInstance,
  options: { host?: string; port?: number; tls: boolean; logger?: Logger },
): Promise<ControlPlaneServer> {
  const host = options.host ?? "127.0.0.1";
  try {
    await app.listen({ host, port: options.port ?? 0 });
  } catch (err) {
    throw new AtrestError("unavailable", `control plane: cannot listen on ${host}:${options.port ?? 0}`, {
      cause: err,
    });
  }
  const addr = app.server.address() as AddressInfo;
  const hostPart = addr.family === "IPv6" ? `[${addr.address}]` : addr.address;
  const url = `${options.tls ? "https" : "http"}://${hostPart}:${addr.port}`;
  options.logger?.info({ url }, "control plane listening");
  return { url, app, close: () => app.close() };
}
