/**
 * Reads an etcd snapshot file (`etcdctl snapshot save`) the way etcd's own tools do rather than by
 * parsing bbolt: `etcdutl snapshot restore` (etcd ≥ 3.5; `etcdctl snapshot restore` on 3.4) into a
 * private temp dir, then a temporary single-member etcd on loopback serves it, read through the same
 * EtcdStore as a live cluster. Everything is removed on close. The temp member holds the snapshot's
 * bytes as they are (encrypted values stay encrypted); its dir is owner-only.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AtrestError } from "../common/errors.js";
import { EtcdStore } from "../storage/etcd-store.js";
import type { Store } from "../storage/store.js";

export interface SnapshotMember {
  readonly store: Store;
  readonly clientUrl: string;
  close(): Promise<void>;
}

export interface SnapshotOptions {
  /** Directory of the etcd binaries (etcd, etcdutl/etcdctl); default: found on PATH. */
  readonly etcdBinDir?: string;
  /** How long the temporary member may take to become healthy. Default 30 s. */
  readonly startTimeoutMs?: number;
}

const members = new Set<ChildProcess>();
let exitHook = false;

function which(name: string, dir: string | undefined): string | undefined {
  if (dir !== undefined) {
    const p = join(dir, name);
    return existsSync(p) ? p : undefined;
  }
  const r = spawnSync("sh", ["-c", `command -v ${name}`], { encoding: "utf8" });
  const p = r.stdout.trim();
  return r.status === 0 && p !== "" ? p : undefined;
}

function freeLoopbackPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.unref();
    s.on("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a !== null ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

/** The last meaningful line of a tool's output, for a one-line error (never values: etcd logs none). */
function lastLine(text: string): string {
  const lines = text
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const line = lines[lines.length - 1] ?? "no output";
  try {
    const j = JSON.parse(line) as { msg?: string; error?: string };
    return [j.msg, j.error].filter((x) => x !== undefined).join(": ") || line;
  } catch {
    return line.slice(0, 300);
  }
}

async function healthy(clientUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1_000) });
    const body = (await res.json()) as { health?: unknown };
    return res.ok && (body.health === "true" || body.health === true);
  } catch {
    return false;
  }
}

/** Restores `snapshotFile` into a temporary etcd member and opens a store on it. */
export async function openEtcdSnapshot(
  snapshotFile: string,
  options: SnapshotOptions = {},
): Promise<SnapshotMember> {
  try {
    if (!statSync(snapshotFile).isFile()) throw new Error("not a file");
  } catch (err) {
    throw new AtrestError("invalid-argument", `--snapshot: cannot read ${snapshotFile}`, { cause: err });
  }
  const etcd = which("etcd", options.etcdBinDir);
  const etcdutl = which("etcdutl", options.etcdBinDir);
  const etcdctl = which("etcdctl", options.etcdBinDir);
  if (etcd === undefined || (etcdutl === undefined && etcdctl === undefined))
    throw new AtrestError(
      "failed-precondition",
      "reading an etcd snapshot needs etcd and etcdutl (or etcdctl 3.4) on PATH (Debian: etcd-server, etcd-client)",
    );
  const dir = mkdtempSync(join(tmpdir(), "atrest-snapshot-"));
  const dataDir = join(dir, "member");
  const peerUrl = `http://127.0.0.1:${await freeLoopbackPort()}`;
  const clientUrl = `http://127.0.0.1:${await freeLoopbackPort()}`;
  const name = "atrest-recovery";
  const cluster = `${name}=${peerUrl}`;
  const restoreArgs = [
    "snapshot",
    "restore",
    snapshotFile,
    `--data-dir=${dataDir}`,
    `--name=${name}`,
    `--initial-cluster=${cluster}`,
    `--initial-advertise-peer-urls=${peerUrl}`,
    `--initial-cluster-token=atrest-recovery-${process.pid}`,
  ];
  const restored = spawnSync(etcdutl ?? etcdctl!, restoreArgs, {
    encoding: "utf8",
    env: { ...process.env, ETCDCTL_API: "3" },
    timeout: 120_000,
  });
  if (restored.status !== 0) {
    rmSync(dir, { recursive: true, force: true });
    throw new AtrestError(
      "data-corrupt",
      `${snapshotFile} does not restore as an etcd snapshot: ${lastLine(`${restored.stdout}\n${restored.stderr}`)}`,
    );
  }
  if (!exitHook) {
    exitHook = true;
    process.once("exit", () => {
      for (const m of members) m.kill("SIGKILL");
    });
  }
  const child = spawn(
    etcd,
    [
      `--name=${name}`,
      `--data-dir=${dataDir}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=${cluster}`,
      "--log-level=error",
      "--logger=zap",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  members.add(child);
  let log = "";
  child.stderr?.on("data", (c: Buffer) => (log = (log + c.toString()).slice(-4000)));
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let running = true;
  void exited.then(() => {
    running = false;
    members.delete(child);
  });
  const stopMember = async (): Promise<void> => {
    if (running) {
      child.kill("SIGTERM");
      const force = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exited;
      clearTimeout(force);
    }
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + (options.startTimeoutMs ?? 30_000);
  while (!(await healthy(clientUrl))) {
    if (!running || Date.now() > deadline) {
      await stopMember();
      throw new AtrestError(
        "unavailable",
        `the temporary etcd member for ${snapshotFile} did not start: ${lastLine(log)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const store = new EtcdStore({ endpoints: [clientUrl] });
  return {
    store,
    clientUrl,
    async close() {
      await store.close().catch(() => undefined);
      await stopMember();
    },
  };
}
