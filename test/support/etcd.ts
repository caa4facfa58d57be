import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
  readonly healthUrl: string;
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
  /** Starts a stopped member again on its data dir and ports, and waits until it is healthy. */
  restartMember(index: number): Promise<void>;
  /** Stops every member and removes the data dirs. */
  stop(): Promise<void>;
}

/** PEM material (src/common/tls.ts's generateTlsMaterial): the members serve it and ask clients for a cert it signed. */
export interface EtcdTlsMaterial {
  readonly caCertPem: string;
  readonly certPem: string;
  readonly keyPem: string;
}

export interface StartEtcdOptions {
  /**
   * Serve clients over TLS with this certificate (for 127.0.0.1) and require client certificates signed
   * by its CA (`--client-cert-auth`), as kubeadm sets etcd up. Endpoints are then https://.
   */
  readonly tls?: EtcdTlsMaterial;
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
  running = false;
  private log = "";
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly clientUrl: string,
    readonly peerUrl: string,
    readonly dataDir: string,
    /** Plain-HTTP /health (etcd's --listen-metrics-urls), also when clients need TLS. */
    readonly healthUrl: string,
    private readonly binary: string,
    private readonly args: readonly string[],
  ) {}

  /** Starts the process (again: with its data dir in place, etcd rejoins with its old identity). */
  start(): void {
    if (this.running) return;
    const child = spawn(this.binary, [...this.args], { stdio: ["ignore", "pipe", "pipe"] });
    this.child = child;
    this.running = true;
    live.add(child);
    const keep = (chunk: Buffer): void => {
      this.log = (this.log + chunk.toString()).slice(-4000);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => {
      child.once("exit", () => {
        if (this.child === child) this.running = false;
        live.delete(child);
        resolve();
      });
    });
  }

  logTail(): string {
    return this.log;
  }

  async stop(signal: NodeJS.Signals): Promise<void> {
    const child = this.child;
    if (!this.running || child === undefined) return;
    child.kill(signal);
    const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
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
  const specs: Array<{
    name: string;
    clientUrl: string;
    peerUrl: string;
    healthUrl: string;
    dataDir: string;
  }> = [];
  const scheme = options.tls === undefined ? "http" : "https";
  for (let i = 0; i < count; i++) {
    specs.push({
      name: `m${i}`,
      clientUrl: `${scheme}://127.0.0.1:${await freePort()}`,
      peerUrl: `http://127.0.0.1:${await freePort()}`,
      healthUrl: `http://127.0.0.1:${await freePort()}`,
      dataDir: join(root, `m${i}`),
    });
  }
  const tlsArgs: string[] = [];
  if (options.tls !== undefined) {
    writeFileSync(join(root, "ca.crt"), options.tls.caCertPem);
    writeFileSync(join(root, "server.crt"), options.tls.certPem);
    writeFileSync(join(root, "server.key"), options.tls.keyPem, { mode: 0o600 });
    tlsArgs.push(
      `--cert-file=${join(root, "server.crt")}`,
      `--key-file=${join(root, "server.key")}`,
      `--trusted-ca-file=${join(root, "ca.crt")}`,
      "--client-cert-auth",
    );
  }
  const initialCluster = specs.map((s) => `${s.name}=${s.peerUrl}`).join(",");
  const token = `atrest-test-${process.pid}-${Date.now()}`;
  const members = specs.map(
    (s) =>
      new Member(s.name, s.clientUrl, s.peerUrl, s.dataDir, s.healthUrl, binary, [
        `--name=${s.name}`,
        `--data-dir=${s.dataDir}`,
        `--listen-client-urls=${s.clientUrl}`,
        `--advertise-client-urls=${s.clientUrl}`,
        `--listen-metrics-urls=${s.healthUrl}`,
        `--listen-peer-urls=${s.peerUrl}`,
        `--initial-advertise-peer-urls=${s.peerUrl}`,
        `--initial-cluster=${initialCluster}`,
        `--initial-cluster-state=new`,
        `--initial-cluster-token=${token}`,
        "--logger=zap",
        "--log-level=error",
        "--heartbeat-interval=50",
        "--election-timeout=500",
        ...tlsArgs,
      ]),
  );
  for (const m of members) m.start();

  let stopped = false;
  const cluster: EtcdCluster = {
    endpoints: members.map((m) => m.clientUrl),
    members,
    async stopMember(index, signal = "SIGKILL") {
      const m = members[index];
      if (m === undefined) throw new Error(`no etcd member ${index}`);
      await m.stop(signal);
    },
    async restartMember(index) {
      const m = members[index];
      if (m === undefined) throw new Error(`no etcd member ${index}`);
      if (stopped) throw new Error("the etcd cluster was stopped");
      m.start();
      await waitHealthy([m], timeoutMs);
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
      if (await healthy(m.healthUrl)) break;
      if (Date.now() > deadline)
        throw new Error(`etcd member ${m.name} not healthy after ${timeoutMs} ms: ${m.logTail()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }
}

async function healthy(healthUrl: string): Promise<boolean> {
  try {
    const res = await fetch(`${healthUrl}/health`, { signal: AbortSignal.timeout(1_000) });
    const body = (await res.json()) as { health?: unknown };
    return res.ok && (body.health === "true" || body.health === true);
  } catch {
    return false;
  }
}
