import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import Database from "better-sqlite3";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { runAtrest, spawnAtrest } from "./support/cli.js";
import { waitForKmsUrl } from "./support/kms.js";

describe("atrest kms init / serve / events / verify-audit / usage", { timeout: 180_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "atrest-kms-cli-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("runs the whole operator loop", async () => {
    const init = await runAtrest(["kms", "init", "--data-dir", dir, "-o", "json"]);
    assert.equal(init.status, 0, init.stderr);
    const initOut = JSON.parse(init.stdout) as { caCertFile: string; credentialsFile: string };
    assert.equal(initOut.caCertFile, join(dir, "tls", "ca.crt"));
    const again = await runAtrest(["kms", "init", "--data-dir", dir]);
    assert.notEqual(again.status, 0);
    assert.match(again.stderr, /already initialised/);

    const refused = await runAtrest([
      "kms",
      "serve",
      "--data-dir",
      dir,
      "--listen",
      "0.0.0.0:0",
      "--insecure-http",
    ]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /loopback/);

    const child = spawnAtrest(["kms", "serve", "--data-dir", dir, "--listen", "127.0.0.1:0"]);
    let exitCode: number | null = null;
    const exited = new Promise<void>((r) => child.on("exit", (code) => ((exitCode = code), r())));
    try {
      const url = await waitForKmsUrl(child);
      assert.match(url, /^https:\/\/127\.0\.0\.1:\d+$/);
      const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as {
        accessKeyId: string;
        accessKeySecret: string;
      };
      const client = new KmsRpcTestClient({
        url,
        ...creds,
        caCertPem: readFileSync(initOut.caCertFile, "utf8"),
      });
      const keyId = String(
        ((await client.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId,
      );
      for (let i = 0; i < 3; i++) await client.call("Encrypt", { KeyId: keyId, Plaintext: "eA==" });
      assert.equal(
        (await client.raw("Encrypt", { KeyId: keyId, Plaintext: "eA==" }, { secret: "bad" })).body.Code,
        "SignatureDoesNotMatch",
      );
      client.close();
    } finally {
      child.kill("SIGTERM");
      await exited;
    }
    assert.equal(exitCode, 0, "graceful stop on SIGTERM");

    const events = await runAtrest(["kms", "events", "--data-dir", dir, "--action", "Encrypt", "-o", "json"]);
    assert.equal(events.status, 0, events.stderr);
    const ev = (
      JSON.parse(events.stdout) as {
        events: Array<{ action: string; outcome: string; errorCode: string; principal: string }>;
      }
    ).events;
    assert.equal(ev.length, 4);
    assert.equal(ev.filter((e) => e.outcome === "Allowed").length, 3);
    assert.equal(ev.filter((e) => e.errorCode === "SignatureDoesNotMatch").length, 1);
    assert.ok(ev.every((e) => e.principal === "admin"));
    const none = await runAtrest([
      "kms",
      "events",
      "--data-dir",
      dir,
      "--start",
      "2999-01-01T00:00:00Z",
      "-o",
      "json",
    ]);
    assert.deepEqual(JSON.parse(none.stdout), { events: [] });

    const usage = await runAtrest(["kms", "usage", "--data-dir", dir, "--price-per-10k", "10", "-o", "json"]);
    assert.equal(usage.status, 0, usage.stderr);
    const u = JSON.parse(usage.stdout) as {
      usage: Array<{ action: string; keyId: string; calls: number; estimatedCost: number }>;
      totalCalls: number;
    };
    const enc = u.usage.find((r) => r.action === "Encrypt");
    assert.equal(enc?.calls, 4, "the rejected call is counted against the key it named");
    assert.equal(enc?.estimatedCost, 0.004);
    assert.equal(u.totalCalls, 5);

    const ok = await runAtrest(["kms", "verify-audit", "--data-dir", dir, "-o", "json"]);
    assert.equal(ok.status, 0, ok.stdout + ok.stderr);
    assert.equal((JSON.parse(ok.stdout) as { ok: boolean }).ok, true);

    const db = new Database(join(dir, "kms.db"));
    db.prepare(
      "UPDATE audit_events SET outcome = 'Allowed', error_code = '' WHERE error_code = 'SignatureDoesNotMatch'",
    ).run();
    const seq = (
      db
        .prepare(
          "SELECT seq FROM audit_events WHERE outcome = 'Allowed' AND action = 'Encrypt' ORDER BY seq DESC LIMIT 1",
        )
        .get() as { seq: number }
    ).seq;
    db.close();
    const broken = await runAtrest(["kms", "verify-audit", "--data-dir", dir]);
    assert.notEqual(broken.status, 0);
    assert.match(broken.stdout, new RegExp(`BROKEN at record ${seq}\\b`));
  });
});
