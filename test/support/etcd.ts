import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

/**
 * A real etcd for tests (Debian's etcd-server `etcd` binary): one member or a cluster of several on
 * loopback, free ports, a fresh data dir, waited on until healthy. Always call `stop()` (e.g. in
 * `after`); members left behind by a crashed test process are killed on its exit too.
 *
 *   const etcd = await startEtcd({ members: 3 });
 *   const store = new EtcdStore({ endpoints: etcd.endpoints });
 *   await etcd.stopMember(0);   // the others keep a quorum
 *   await etcd.stop();
 */

export interface EtcdMember {
  readonly name: string;
  readonly clientUrl: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  /** False after stopMember/stop or when the process died. */
  readonly running: boolean;
  /** The member's last log lines (for failure messages). */
  logTail(): string;
}

export interface EtcdCluster {
  /** Client URLs of all members, for `--etcd-servers` (join with ","). */
  readonly endpoints: string[];
  readonly members: readonly EtcdMember[];
  /** Stops one member (SIGKILL by default: a crash, not a goodbye) and waits for it to exit. */
  stopMember(index: number, signal?: NodeJS.Signals): Promise<void>;
  /** Stops every member and removes the data dirs. */
  stop(): Promise<void>;
}

export interface StartEtcdOptions {
  /** 1 (default) or more members. */
  readonly members?: number;
  /** How long to wait for every member to be healthy (default 20 s). */
  readonly timeoutMs?: number;
}

export function etcdBinary(): string | undefined {
  const r = spawnSync("which", ["etcd"], { encoding: "utf8" });
  const path = r.stdout.trim();
  return r.status === 0 && path !== "" ? path : undefined;
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.once("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

class Member implements EtcdMember {
  running = true;
  private log = "";
  readonly exited: Promise<void>;

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    readonly child: ChildProcess,
  ) {
    live.add(child);
    const keep = (chunk: Buffer): void => {
      this.log = (this.log + chunk.toString()).slice(-4000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      child.once("exit", () => {
        this.running = false;
        live.delete(child);
        resolve();
      });
    });
  }

  logTail(): string {
    return this.log;
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const timer = setTimeout(() => this.child.kill("SIGKILL"), 5_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const binary = etcdBinary();
  if (binary === undefined) throw new Error("etcd is not installed (Debian package etcd-server)");
  const count = options.members ?? 1;
  const timeoutMs = options.timeoutMs ?? 20_000;
  installExitHook();
  // /dev/shm keeps etcd's fsyncs cheap; fall back to the temp dir.
  let root: string;
  try {
    root = mkdtempSync("/dev/shm/atrest-etcd-");
  } catch {
    root = mkdtempSync(join(tmpdir(), "atrest-etcd-"));
  }
  const specs: Array<{ name: string; clientUrl: string; peerUrl: string; dataDir: string }> = [];
  for (let i = 0; i < count; i++) {
    const clientPort = await freePort();
    const peerPort = await freePort();
    specs.push({
      name: `m${i}`,
      clientUrl: `http://127.0.0.1:${clientPort}`,
      peerUrl: `http://127.0.0.1:${peerPort}`,
      dataDir: join(root, `m${i}`),
    });
  }
  const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(",");
  const token = `atrest-test-${process.pid}-${Date.now()}`;
  const members = specs.map((s) => {
    const child = spawn(
      binary,
      [
        `--name=${s.name}`,
        `--data-dir=${s.dataDir}`,
        `--listen-client-urls=${s.clientUrl}`,
        `--advertise-client-urls=${s.clientUrl}`,
        `--listen-peer-urls=${s.peerUrl}`,
        `--initial-advertise-peer-urls=${s.peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-state=new`,
        `--initial-cluster-token=${token}`,
        "--logger=zap",
        "--log-level=error",
        "--heartbeat-interval=50",
        "--election-timeout=500",
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    return new Member(s.name, s.clientUrl, s.peerUrl, s.dataDir, child);
  });

  let stopped = false;
  const cluster: EtcdCluster = {
    endpoints: members.map((m) => m.clientUrl),
    members,
    async stopMember(index, signal = "SIGKILL") {
      const m = members[index];
      if (m === undefined) throw new Error(`no etcd member ${index}`);
      await m.stop(signal);
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      await Promise.all(members.map((m) => m.stop("SIGKILL")));
      rmSync(root, { recursive: true, force: true });
    },
  };

  try {
    await waitHealthy(members, timeoutMs);
  } catch (err) {
    await cluster.stop();
    throw err;
  }
  return cluster;
}

async function waitHealthy(members: Member[], timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (const m of members) {
    for (;;) {
      if (!m.running) throw new Error(`etcd member ${m.name} exited while starting: ${m.logTail()}`);
      if (await healthy(m.clientUrl)) break;
      if (Date.now() > deadline) throw new Error(`etcd member ${m.name} not healthy after ${timeoutMs} ms: ${m.logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
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
