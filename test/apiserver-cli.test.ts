/** `atrest apiserver` as a process: flags, the ready line, the kubeconfig it writes, a clean stop. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runAtrest, spawnAtrest } from "./support/cli.js";
import { Kubectl } from "./support/kubectl.js";

test(
  "atrest apiserver starts, writes an admin kubeconfig and token file, serves kubectl, stops on SIGTERM",
  { timeout: 90_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-cli-"));
    const kubeconfig = join(dir, "admin.kubeconfig");
    // No --datastore-endpoint: the embedded SQLite datastore in the data dir is the default.
    const child = spawnAtrest([
      "apiserver",
      "--secure-port",
      "0",
      "--data-dir",
      dir,
      "--kubeconfig-out",
      kubeconfig,
    ]);
    try {
      let out = "";
      let err = "";
      child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
      const ready = await new Promise<{ msg: string; url: string; kubeconfig: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line; stderr: ${err}`)), 60_000);
        child.stdout?.on("data", (c: Buffer) => {
          out += c.toString();
          const line = out.split("\n").find((l) => l.includes("apiserver ready"));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve(JSON.parse(line) as { msg: string; url: string; kubeconfig: string });
          }
        });
        child.on("exit", (code) => reject(new Error(`exited ${String(code)}: ${err}`)));
      });
      assert.match(ready.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(existsSync(join(dir, "state.db")), "the SQLite datastore lives in the data dir");
      assert.equal(ready.kubeconfig, kubeconfig);
      assert.equal(statSync(kubeconfig).mode & 0o777, 0o600);
      const token = readFileSync(join(dir, "tokens.csv"), "utf8").split(",")[0] ?? "";
      assert.ok(readFileSync(kubeconfig, "utf8").includes(token));
      assert.doesNotMatch(err, new RegExp(token), "the token is never logged");
      const kc = new Kubectl(kubeconfig, { cacheDir: join(dir, "cache") });
      assert.match(await kc.ok(["get", "namespaces"]), /default\s+Active/);
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("atrest apiserver rejects bad flags with a clear error", { timeout: 60_000 }, async () => {
  const r = await runAtrest([
    "apiserver",
    "--authorization-mode",
    "RBAC",
    "--datastore-endpoint",
    "memory://",
  ]);
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--authorization-mode must be AlwaysAllow or ABAC, got "RBAC"/);
});
