/** `atrest plugin` as a process: config file + flags, health endpoints, SIGTERM drains and stops. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { once } from "node:events";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKmsV2Client } from "../src/kms-plugin-client/index.js";
import { runAtrest, spawnAtrest } from "./support/cli.js";

describe("atrest plugin (CLI)", { timeout: 90_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "atrest-plugin-cli-"));
    writeFileSync(join(dir, "kek"), randomBytes(32).toString("base64") + "\n", { mode: 0o600 });
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("serves with a YAML config and flags, reports health, and stops cleanly on SIGTERM", async () => {
    const socket = join(dir, "kms.sock");
    writeFileSync(join(dir, "plugin.yaml"), [`backend: local`, `key-file: ${join(dir, "kek")}`, `listen: unix://${join(dir, "ignored.sock")}`, `status-refresh: 30s`, ""].join("\n"));
    const child = spawnAtrest(["plugin", "--config", join(dir, "plugin.yaml"), "--listen", `unix://${socket}`, "--health-listen", "127.0.0.1:0"]);
    let stdout = "";
    let stderr = "";
    child.stdout?.on("data", (c: Buffer) => (stdout += c.toString()));
    child.stderr?.on("data", (c: Buffer) => (stderr += c.toString()));
    const exited = once(child, "exit");
    try {
      const until = Date.now() + 30_000;
      while (!/serving/.test(stdout) && Date.now() < until && child.exitCode === null) await new Promise((r) => setTimeout(r, 50));
      assert.match(stdout, /serving unix:\/\//, stderr);
      const healthUrl = /health on (http:\/\/\S+)/.exec(stdout)?.[1];
      assert.ok(healthUrl, stdout);
      assert.equal(statSync(socket).mode & 0o777, 0o600);
      assert.equal(existsSync(join(dir, "ignored.sock")), false, "the flag wins over the config file");
      const client = createKmsV2Client({ endpoint: `unix://${socket}` });
      try {
        const sealed = await client.encrypt(Buffer.from("via the CLI"), { uid: "cli-uid-42" });
        assert.deepEqual(await client.decrypt({ ciphertext: sealed.ciphertext, keyId: sealed.keyId, annotations: sealed.annotations }), Buffer.from("via the CLI"));
      } finally {
        client.close();
      }
      const livez = await fetch(`${healthUrl}/livez`);
      assert.equal(livez.status, 200);
      const healthz = await fetch(`${healthUrl}/healthz`);
      assert.equal(healthz.status, 200);
      child.kill("SIGTERM");
      const [code] = await exited;
      assert.equal(code, 0, stderr);
      assert.equal(existsSync(socket), false, "the socket file is gone after SIGTERM");
      const lines = stderr.split("\n").filter((l) => l.startsWith("{")).map((l) => JSON.parse(l) as Record<string, unknown>);
      assert.ok(lines.some((l) => l["uid"] === "cli-uid-42" && l["method"] === "v2/Encrypt"), "the call's uid is in the JSON log");
      assert.ok(lines.some((l) => l["msg"] === "kms plugin stopped"));
      assert.ok(!stderr.includes("via the CLI"), "no plaintext in the log");
      assert.ok(!stderr.includes(readFileSync(join(dir, "kek"), "utf8").trim()), "no key material in the log");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
  });

  it("rejects unknown config keys and incomplete settings with the key named", async () => {
    writeFileSync(join(dir, "bad.yaml"), "listen: unix:///tmp/x.sock\nbackend: local\nkey_file: /tmp/k\n");
    const bad = await runAtrest(["plugin", "--config", join(dir, "bad.yaml")]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /key_file/);
    const noKey = await runAtrest(["plugin", "--backend", "alibaba", "--listen", `unix://${join(dir, "n.sock")}`, "--kms-endpoint", "https://127.0.0.1:1"]);
    assert.equal(noKey.status, 2);
    assert.match(noKey.stderr, /--key-id is required/);
    const noCreds = await runAtrest(["plugin", "--listen", `unix://${join(dir, "n.sock")}`, "--kms-endpoint", "https://127.0.0.1:1", "--key-id", "k"], {
      env: { ALIBABA_CLOUD_ACCESS_KEY_ID: "", ALIBABA_CLOUD_ACCESS_KEY_SECRET: "" },
    });
    assert.equal(noCreds.status, 2);
    assert.match(noCreds.stderr, /credentials/);
  });
});
