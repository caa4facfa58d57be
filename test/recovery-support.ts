/**
 * Shared by the recovery tests: `atrest up` as a child process (the way an operator runs it), etcd
 * snapshots through the real etcdctl, and a backup passphrase file.
 */
import { execFile, type ChildProcess } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { promisify } from "node:util";
import { spawnAtrest } from "./support/cli.js";

const execFileAsync = promisify(execFile);

export interface UpReady {
  dataDir: string;
  kubeconfig: string;
  apiserverUrl: string;
  kmsEndpoint: string;
  kmsProfile: string;
  pluginSocket: string;
  keyId: string;
  keyAlias: string;
  encryptionConfig: string;
  store: string;
}

export interface UpProcess {
  readonly child: ChildProcess;
  readonly ready: UpReady;
  stderr(): string;
  /** SIGINT, then waits for the exit (SIGKILL after 30 s). */
  stop(): Promise<number | null>;
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

/** `atrest up --data-dir DIR --secure-port 0 -o json [ARGS]`, resolved at its ready line. */
export async function startUpProcess(dataDir: string, extraArgs: readonly string[] = []): Promise<UpProcess> {
  const child = spawnAtrest(["up", "--data-dir", dataDir, "--secure-port", "0", "-o", "json", ...extraArgs], {
    env: { ATREST_LOG_LEVEL: "warn" },
  });
  live.add(child);
  let out = "";
  let err = "";
  child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const ready = await new Promise<UpReady>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`atrest up: no ready line in time; stderr: ${err}`)),
      120_000,
    );
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.includes('"atrest up ready"'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve(JSON.parse(line) as UpReady);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`atrest up exited ${String(code)} before it was ready: ${err}`));
    });
  }).catch((e: unknown) => {
    child.kill("SIGKILL");
    live.delete(child);
    throw e;
  });
  return {
    child,
    ready,
    stderr: () => err,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGINT");
        const timer = setTimeout(() => child.kill("SIGKILL"), 30_000);
        try {
          await exited;
        } finally {
          clearTimeout(timer);
        }
      }
      live.delete(child);
      return child.exitCode;
    },
  };
}

/** `etcdctl snapshot save FILE` against one endpoint. */
export async function etcdSnapshotSave(endpoint: string, file: string): Promise<void> {
  await execFileAsync("etcdctl", ["--endpoints", endpoint, "snapshot", "save", file], {
    env: { ...process.env, ETCDCTL_API: "3" },
    timeout: 60_000,
  });
}

/** A 0600 passphrase file in `dir`. */
export function passphraseFile(dir: string, passphrase = "recovery passphrase, long enough"): string {
  const file = join(dir, "backup-passphrase");
  writeFileSync(file, `${passphrase}\n`, { mode: 0o600 });
  return file;
}
