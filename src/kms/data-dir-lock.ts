/**
 * Who is using a KMS data dir (and its PostgreSQL key store), so that `atrest kms restore` can refuse
 * to replace what a running server serves, and a server refuses to start while a restore runs.
 * Several servers may serve one data dir at once (PostgreSQL HA); a restore needs it alone.
 *
 * - On disk: each server holds a marker `<dataDir>/in-use/<host>-<pid>-<random>.json` naming its
 *   process; a restore holds `<dataDir>/restoring.json` (created exclusively). Each side writes its own
 *   marker first and then looks for the other's, so when a server and a restore start at the same time
 *   at least one of them sees the other and backs off. A marker left by a process of this host that is
 *   no longer running (a crash, kill -9) is stale: it is removed, not obeyed.
 * - On PostgreSQL (servers on other hosts share the database, not the dir): servers hold a shared
 *   session advisory lock for their lifetime, a restore takes the same lock exclusively.
 */
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { AtrestError } from "../common/errors.js";

const IN_USE_DIR = "in-use";
const RESTORING_FILE = "restoring.json";
/** pg_advisory_lock key: the first 8 bytes of sha256("atrest-kms/data-dir") as a signed int64; never change it. */
const PG_LOCK_KEY = "-3145094856621050120";

export interface DataDirMarker {
  readonly host: string;
  readonly pid: number;
  /** The process's start time (Linux /proc/<pid>/stat field 22), to tell a reused pid apart. */
  readonly startTicks: string;
  readonly since: string;
  readonly file: string;
}

export interface DataDirHold {
  release(): Promise<void>;
}

/** Field 22 of /proc/<pid>/stat (start time in clock ticks); "" where /proc is not there. */
function processStartTicks(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // The command name (field 2) is in parentheses and may contain spaces: count from after it.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return fields[19] ?? "";
  } catch {
    return undefined;
  }
}

function isRunning(pid: number, startTicks: string): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ESRCH") return false;
  }
  const now = processStartTicks(pid);
  return now === undefined || startTicks === "" || now === "" || now === startTicks;
}

function markerContent(): Omit<DataDirMarker, "file"> {
  return {
    host: hostname(),
    pid: process.pid,
    startTicks: processStartTicks(process.pid) ?? "",
    since: new Date().toISOString(),
  };
}

function readMarker(file: string): DataDirMarker | undefined {
  try {
    const m = JSON.parse(readFileSync(file, "utf8")) as Partial<DataDirMarker>;
    if (typeof m.host !== "string" || typeof m.pid !== "number") return undefined;
    return {
      host: m.host,
      pid: m.pid,
      startTicks: typeof m.startTicks === "string" ? m.startTicks : "",
      since: typeof m.since === "string" ? m.since : "",
      file,
    };
  } catch {
    return undefined; // half-written or gone: a marker is written in one call, so it is not live
  }
}

/** A marker is live unless it belongs to a process of this host that has ended; stale ones are removed. */
function live(marker: DataDirMarker | undefined): marker is DataDirMarker {
  if (marker === undefined) return false;
  if (marker.host !== hostname() || isRunning(marker.pid, marker.startTicks)) return true;
  rmSync(marker.file, { force: true });
  return false;
}

/** The servers that mark the data dir as in use now (stale markers are cleaned up on the way). */
export function dataDirServers(dataDir: string): DataDirMarker[] {
  const dir = join(dataDir, IN_USE_DIR);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => n.endsWith(".json"))
    .map((n) => readMarker(join(dir, n)))
    .filter(live);
}

function describe(m: DataDirMarker): string {
  return `pid ${m.pid} on ${m.host} since ${m.since}`;
}

async function pgLock(
  database: string | undefined,
  mode: "shared" | "exclusive",
): Promise<pg.Client | undefined> {
  if (database === undefined || !/^postgres(ql)?:\/\//.test(database)) return undefined;
  const client = new pg.Client({ connectionString: database });
  client.on("error", () => undefined); // a dropped connection only ends the lock
  try {
    await client.connect();
    const fn = mode === "shared" ? "pg_try_advisory_lock_shared" : "pg_try_advisory_lock";
    const r = await client.query<{ locked: boolean }>(`select ${fn}(${PG_LOCK_KEY}::bigint) as locked`);
    if (r.rows[0]?.locked !== true) {
      await client.end().catch(() => undefined);
      throw new AtrestError(
        "failed-precondition",
        mode === "shared"
          ? "a restore into this PostgreSQL key store is running; start the KMS when it has finished"
          : "the PostgreSQL key store is in use by a running KMS server (on this or another host); stop every server first",
      );
    }
    return client;
  } catch (err) {
    await client.end().catch(() => undefined);
    if (err instanceof AtrestError) throw err;
    throw new AtrestError(
      "unavailable",
      `cannot reach the PostgreSQL key store: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** What a KMS server holds while it serves `dataDir`. Refuses while a restore runs. */
export async function holdDataDirForServing(
  dataDir: string,
  database: string | undefined,
): Promise<DataDirHold> {
  const dir = join(dataDir, IN_USE_DIR);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = join(dir, `${hostname()}-${process.pid}-${randomBytes(4).toString("hex")}.json`);
  writeFileSync(file, JSON.stringify(markerContent()) + "\n", { mode: 0o600, flag: "wx" });
  const restoring = readMarker(join(dataDir, RESTORING_FILE));
  if (live(restoring)) {
    rmSync(file, { force: true });
    throw new AtrestError(
      "failed-precondition",
      `${dataDir} is being restored (${describe(restoring)}); start the KMS when the restore has finished`,
    );
  }
  let client: pg.Client | undefined;
  try {
    client = await pgLock(database, "shared");
  } catch (err) {
    rmSync(file, { force: true });
    throw err;
  }
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      rmSync(file, { force: true });
      await client?.end().catch(() => undefined);
    },
  };
}

/**
 * What a restore holds while it replaces `dataDir` (which may not exist yet) or fills `database`.
 * Refuses while any server marks the dir in use or holds the PostgreSQL lock.
 */
export async function holdDataDirForRestore(
  dataDir: string,
  database: string | undefined,
): Promise<DataDirHold> {
  let file: string | undefined;
  const dirExists = (() => {
    try {
      readdirSync(dataDir);
      return true;
    } catch {
      return false;
    }
  })();
  if (dirExists) {
    file = join(dataDir, RESTORING_FILE);
    const earlier = readMarker(file);
    if (earlier !== undefined && !live(earlier)) rmSync(file, { force: true });
    try {
      writeFileSync(file, JSON.stringify(markerContent()) + "\n", { mode: 0o600, flag: "wx" });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "EEXIST") throw err;
      const other = readMarker(file);
      throw new AtrestError(
        "failed-precondition",
        `another restore of ${dataDir} is running${other === undefined ? "" : ` (${describe(other)})`}`,
      );
    }
    const servers = dataDirServers(dataDir);
    if (servers.length > 0) {
      rmSync(file, { force: true });
      throw new AtrestError(
        "failed-precondition",
        `${dataDir} is in use by a running KMS server (${servers.map(describe).join("; ")}); stop it first (if that process is gone, remove ${servers[0]!.file})`,
      );
    }
  }
  let client: pg.Client | undefined;
  try {
    client = await pgLock(database, "exclusive");
  } catch (err) {
    if (file !== undefined) rmSync(file, { force: true });
    throw err;
  }
  const held = file;
  let released = false;
  return {
    async release() {
      if (released) return;
      released = true;
      if (held !== undefined) rmSync(held, { force: true });
      await client?.end().catch(() => undefined);
    },
  };
}
