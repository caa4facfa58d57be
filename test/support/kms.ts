/**
 * atrest kms for tests: an initialised data dir with a server in this process and an admin profile
 * (`startTestKms`), and the wait for a spawned `atrest kms serve` to say where it listens.
 */
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initKmsDataDir } from "../../src/kms/init.js";
import { startKmsServer, type KmsServer } from "../../src/kms/server.js";
import { runAtrest, type CliResult } from "./cli.js";

export interface TestKms {
  /** The temp dir holding everything; the KMS data dir is `<dir>/kms`. */
  readonly dir: string;
  readonly server: KmsServer;
  /** The admin access key `init` wrote. */
  readonly creds: { accessKeyId: string; accessKeySecret: string };
  readonly caFile: string;
  /** A `--profile` file (endpoint, regionId, the admin key, caFile), mode 0600. */
  readonly profile: string;
  close(): Promise<void>;
}

export async function startTestKms(name: string): Promise<TestKms> {
  const dir = mkdtempSync(join(tmpdir(), `atrest-${name}-`));
  const init = await initKmsDataDir({ dataDir: join(dir, "kms"), accountId: "1234567890" });
  const creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as TestKms["creds"];
  const server = await startKmsServer({ dataDir: join(dir, "kms"), schedulerIntervalMs: 0 });
  const profile = join(dir, "profile.json");
  writeFileSync(
    profile,
    JSON.stringify({ endpoint: server.url, regionId: "cn-hangzhou", ...creds, caFile: init.caCertFile }),
    { mode: 0o600 },
  );
  return {
    dir,
    server,
    creds,
    caFile: init.caCertFile,
    profile,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Resolves with the URL from a spawned `atrest kms serve`'s "kms listening" log line. */
export function waitForKmsUrl(child: ChildProcess, timeoutMs = 60_000): Promise<string> {
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), timeoutMs);
    child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.includes('"kms listening"'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}: ${err}`));
    });
  });
}

/** `atrest kms ARGS` as a child process. */
export function kmsCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return runAtrest(["kms", ...args], { timeoutMs: 60_000, env });
}

/** `atrest kms ARGS --profile PROFILE -o json`, which must succeed; its parsed output. */
export async function kmsCliJson(profile: string, args: string[]): Promise<Record<string, unknown>> {
  const r = await kmsCli([...args, "--profile", profile, "-o", "json"]);
  assert.equal(r.status, 0, `atrest kms ${args.join(" ")} failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Record<string, unknown>;
}
