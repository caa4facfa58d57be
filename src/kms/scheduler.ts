import { systemClock, type Clock, type Timer } from "../common/clock.js";
import { keyIdHash } from "../common/key-id-hash.js";
import { silentLogger, type Logger } from "../common/logger.js";
import type { KeyService } from "./keys/index.js";
import { purgeExpiredNonces } from "./nonces.js";
import type { KmsDb } from "./store/database.js";

const LEASE_NAME = "kms-scheduler";

export interface SchedulerRun {
  /** False when another instance holds the lease and this one did nothing. */
  ran: boolean;
  rotated: string[];
  purged: string[];
}

/**
 * Runs the time-driven work: automatic rotation of due keys, purge of keys whose deletion window has
 * passed, expiry of old nonces. Several instances on one database elect one runner with a lease row
 * (compare-and-set on holder/expiry); each key change is itself a compare-and-set, so even two
 * runners would rotate or purge a key once.
 */
export class KmsScheduler {
  readonly #kdb: KmsDb;
  readonly #keys: KeyService;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #leaseMs: number;
  readonly #holder: string;
  readonly #logger: Logger;
  #timer: Timer | undefined;
  #running: Promise<SchedulerRun> | undefined;
  #stopped = false;

  constructor(options: {
    kdb: KmsDb;
    keys: KeyService;
    clock?: Clock;
    /** 0 disables the timer (tests call runOnce). */
    intervalMs?: number;
    leaseMs?: number;
    holderId: string;
    logger?: Logger;
  }) {
    this.#kdb = options.kdb;
    this.#keys = options.keys;
    this.#clock = options.clock ?? systemClock;
    this.#intervalMs = options.intervalMs ?? 60_000;
    this.#leaseMs = options.leaseMs ?? Math.max(3 * this.#intervalMs, 30_000);
    this.#holder = options.holderId;
    this.#logger = options.logger ?? silentLogger();
  }

  start(): void {
    if (this.#intervalMs <= 0 || this.#stopped) return;
    const tick = (): void => {
      this.#timer = undefined;
      this.runOnce()
        .catch((err: unknown) =>
          this.#logger.error(
            { err: err instanceof Error ? err.message : String(err) },
            "scheduler run failed",
          ),
        )
        .finally(() => {
          if (!this.#stopped) {
            this.#timer = this.#clock.setTimeout(tick, this.#intervalMs);
            this.#timer.unref?.();
          }
        });
    };
    this.#timer = this.#clock.setTimeout(tick, this.#intervalMs);
    this.#timer.unref?.();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#running !== undefined) await this.#running.catch(() => undefined);
  }

  /** One pass (serialised within this instance). */
  runOnce(): Promise<SchedulerRun> {
    const run = (this.#running ?? Promise.resolve()).catch(() => undefined).then(() => this.#pass());
    this.#running = run;
    return run;
  }

  async #acquireLease(now: number): Promise<boolean> {
    const db = this.#kdb.db;
    const inserted = await db
      .insertInto("scheduler_leases")
      .values({ name: LEASE_NAME, holder: this.#holder, expires_at: now + this.#leaseMs })
      .onConflict((oc) => oc.column("name").doNothing())
      .executeTakeFirst();
    if (Number(inserted.numInsertedOrUpdatedRows ?? 0n) === 1) return true;
    const updated = await db
      .updateTable("scheduler_leases")
      .set({ holder: this.#holder, expires_at: now + this.#leaseMs })
      .where("name", "=", LEASE_NAME)
      .where((eb) => eb.or([eb("holder", "=", this.#holder), eb("expires_at", "<", now)]))
      .executeTakeFirst();
    return Number(updated.numUpdatedRows) === 1;
  }

  async #pass(): Promise<SchedulerRun> {
    const now = this.#clock.now();
    if (!(await this.#acquireLease(now))) return { ran: false, rotated: [], purged: [] };
    const rotated = await this.#keys.rotateDueKeys(now);
    const purged = await this.#keys.purgeDueKeys(now);
    await purgeExpiredNonces(this.#kdb.db, now);
    for (const k of rotated) this.#logger.info({ keyIdHash: keyIdHash(k) }, "key rotated by schedule");
    for (const k of purged)
      this.#logger.info({ keyIdHash: keyIdHash(k) }, "key purged after its deletion window");
    return { ran: true, rotated, purged };
  }

  /** Gives up the lease (graceful stop), so another instance takes over at once. */
  async releaseLease(): Promise<void> {
    await this.#kdb.db
      .deleteFrom("scheduler_leases")
      .where("name", "=", LEASE_NAME)
      .where("holder", "=", this.#holder)
      .execute();
  }
}
