import type { Kysely } from "kysely";
import type { ManagedClustersPort } from "./service/managed-port.js";
import { systemClock, type Clock } from "../common/clock.js";
import { silentLogger, type Logger } from "../common/logger.js";
import { systemRandom, type Random } from "../common/random.js";
import type { DialectName, EventSource, IamDb, IdentityStore, StsOptions } from "../iam/index.js";
import { buildControlPlaneApp, listenControlPlane, type ControlPlaneMount } from "./server.js";
import { ControlPlaneService } from "./service/control-plane-service.js";
import type { ClusterWatchOptions } from "./service/cluster-watch.js";
import type { ClusterEngineFactory } from "./service/engine-port.js";
import { migrateControlPlaneDatabase, type ControlPlaneDb } from "./store/migrations.js";
import type { ControlPlaneDatabase } from "./store/schema.js";

export interface ControlPlaneOptions {
  readonly identity: IdentityStore;
  /** The identity store's database: the control plane's tables go in it too. */
  readonly idb: IamDb;
  readonly accountId: string;
  readonly regionId: string;
  readonly engines: ClusterEngineFactory;
  /** CreateCluster's managed clusters (src/control-plane/managed); CreateCluster is refused without. */
  readonly managed?: ManagedClustersPort;
  /** LookupEvents' other sources (the KMS's audit trail). */
  readonly eventSources?: readonly EventSource[];
  readonly sts?: StsOptions;
  readonly tls?: { readonly keyPem: string; readonly certPem: string };
  readonly host?: string;
  readonly port?: number;
  readonly cooldownMs?: number;
  readonly taskLeaseMs?: number;
  readonly instanceId?: string;
  readonly mounts?: readonly ControlPlaneMount[];
  /** Key health and automatic re-encryption of every cluster: intervals, or false for none. */
  readonly watch?: ClusterWatchOptions | false;
  /** False: do not take over orphaned tasks yet (call `service.start()` once clusters are reachable). */
  readonly startTasks?: boolean;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
}

export interface RunningControlPlane {
  readonly url: string;
  readonly service: ControlPlaneService;
  /** Stops listening and driving tasks (a task in flight is resumed by the next instance). */
  close(): Promise<void>;
}

/** The control plane's tables beside the identity tables, in the same database. */
export function controlPlaneDbOf(idb: {
  readonly db: Kysely<unknown>;
  readonly dialect: DialectName;
}): ControlPlaneDb {
  return { db: idb.db as unknown as Kysely<ControlPlaneDatabase>, dialect: idb.dialect };
}

/** Migrates its tables, builds the service and the server, listens, and takes over orphaned tasks. */
export async function startControlPlane(o: ControlPlaneOptions): Promise<RunningControlPlane> {
  const clock = o.clock ?? systemClock;
  const random = o.random ?? systemRandom;
  const logger = o.logger ?? silentLogger();
  const cdb = controlPlaneDbOf(o.idb as unknown as { db: Kysely<unknown>; dialect: DialectName });
  await migrateControlPlaneDatabase(cdb);
  const service = new ControlPlaneService({
    identity: o.identity,
    idb: o.idb,
    cdb,
    accountId: o.accountId,
    regionId: o.regionId,
    engines: o.engines,
    ...(o.managed === undefined ? {} : { managed: o.managed }),
    clock,
    random,
    logger,
    ...(o.cooldownMs === undefined ? {} : { cooldownMs: o.cooldownMs }),
    ...(o.taskLeaseMs === undefined ? {} : { taskLeaseMs: o.taskLeaseMs }),
    ...(o.instanceId === undefined ? {} : { instanceId: o.instanceId }),
    ...(o.watch === undefined ? {} : { watch: o.watch }),
  });
  const app = await buildControlPlaneApp({
    service,
    identity: o.identity,
    idb: o.idb,
    accountId: o.accountId,
    regionId: o.regionId,
    clock,
    random,
    logger,
    ...(o.eventSources === undefined ? {} : { eventSources: o.eventSources }),
    ...(o.sts === undefined ? {} : { sts: o.sts }),
    ...(o.tls === undefined ? {} : { tls: o.tls }),
    ...(o.mounts === undefined ? {} : { mounts: o.mounts }),
  });
  const server = await listenControlPlane(app, {
    tls: o.tls !== undefined,
    logger,
    ...(o.host === undefined ? {} : { host: o.host }),
    ...(o.port === undefined ? {} : { port: o.port }),
  });
  if (o.startTasks !== false) await service.start();
  return {
    url: server.url,
    service,
    close: async () => {
      await service.shutdown();
      await server.close();
    },
  };
}
