import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../src/common/clock.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { startKmsServer } from "../src/kms/server.js";
import { acsTimestamp } from "../src/kms/signature/v3.js";
import { runAtrest, spawnAtrest } from "./support/cli.js";
import { freePort } from "./support/etcd.js";
import { waitForKmsUrl } from "./support/kms.js";

// `atrest kms serve --insecure-http` as an operator runs it, `/metrics` error labels, and the audit
// tools `atrest kms events` / `atrest kms usage` with their filters, through the CLI.

interface Creds {
  accessKeyId: string;
  accessKeySecret: string;
}

function httpGet(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, text }));
      })
      .on("error", reject);
  });
}

describe(
  "atrest kms serve --insecure-http on loopback (spawned through the CLI)",
  { timeout: 120_000 },
  () => {
    let dir: string;
    let child: ChildProcess | undefined;
    let exited: Promise<number | null>;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "atrest-kms-http-"));
      await initKmsDataDir({ dataDir: dir });
    });

    after(async () => {
      if (child !== undefined && child.exitCode === null) {
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    });

    it("serves signed requests over plain HTTP on the given port; /metrics labels the error code", async () => {
      const port = await freePort();
      child = spawnAtrest([
        "kms",
        "serve",
        "--data-dir",
        dir,
        "--insecure-http",
        "--listen",
        `127.0.0.1:${port}`,
        "--scheduler-interval",
        "0",
      ]);
      const proc = child;
      exited = new Promise((r) => proc.on("exit", (code) => r(code)));
      const url = await waitForKmsUrl(proc);
      assert.equal(url, `http://127.0.0.1:${port}`);

      const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as Creds;
      const client = new KmsRpcTestClient({ url, ...creds });
      try {
        const keyId = String(
          (
            (await client.call("CreateKey", { Description: "over http" })).KeyMetadata as Record<
              string,
              unknown
            >
          ).KeyId,
        );
        const enc = await client.call("Encrypt", {
          KeyId: keyId,
          Plaintext: "cGxhaW4gaHR0cA==",
          EncryptionContext: '{"t":"http"}',
        });
        assert.equal(
          (
            await client.call(
              "Decrypt",
              { CiphertextBlob: String(enc.CiphertextBlob), EncryptionContext: '{"t":"http"}' },
              { method: "GET", signatureVersion: "v3" },
            )
          ).Plaintext,
          "cGxhaW4gaHR0cA==",
        );
        // signatures are still checked over plain HTTP
        const forged = await client.raw("ListKeys", {}, { secret: "not-the-secret" });
        assert.equal(forged.status, 400);
        assert.equal(forged.body.Code, "SignatureDoesNotMatch");

        // a failed request shows up in /metrics under its Alibaba error code
        const missing = await client.raw("DescribeKey", { KeyId: "no-such-key" });
        assert.equal(missing.status, 404);
        assert.equal(missing.body.Code, "Forbidden.KeyNotFound");
        await client.raw("DescribeKey", { KeyId: "no-such-key-either" });
        const metrics = await httpGet(`${url}/metrics`);
        assert.equal(metrics.status, 200);
        assert.match(
          metrics.text,
          /^atrest_kms_requests_total\{action="DescribeKey",code="Forbidden\.KeyNotFound"\} 2$/m,
        );
        assert.match(
          metrics.text,
          /^atrest_kms_requests_total\{action="ListKeys",code="SignatureDoesNotMatch"\} 1$/m,
        );
        assert.match(metrics.text, /^atrest_kms_requests_total\{action="Encrypt",code="OK"\} 1$/m);
        assert.match(metrics.text, /^atrest_kms_request_duration_seconds_count\{action="DescribeKey"\} 2$/m);
        assert.ok(!metrics.text.includes("no-such-key"), "no key ids in metric labels");
        assert.equal((await httpGet(`${url}/healthz`)).status, 200);
      } finally {
        client.close();
      }

      // it is plain HTTP: a TLS handshake on that port fails
      await assert.rejects(
        new Promise((resolve, reject) => {
          https
            .get(`https://127.0.0.1:${port}/healthz`, { rejectUnauthorized: false }, resolve)
            .on("error", reject);
        }),
      );

      proc.kill("SIGTERM");
      assert.equal(await exited, 0, "graceful stop on SIGTERM");
    });
  },
);

describe(
  "atrest kms events / usage: filters, per-day breakdown and cost (through the CLI)",
  { timeout: 120_000 },
  () => {
    let dir: string;
    let k1: string;
    let k2: string;
    const DAY1 = Date.UTC(2026, 2, 1); // 2026-03-01

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "atrest-kms-events-"));
      await initKmsDataDir({ dataDir: dir });
      // Traffic over two days (and setup the day before), recorded by a server on a manual clock.
      const clock = new ManualClock(DAY1 - 3_600_000);
      const server = await startKmsServer({ dataDir: dir, clock, schedulerIntervalMs: 0, cacheTtlMs: 0 });
      const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as Creds;
      const admin = new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: server.caCertPem });
      const at = () => ({ timestamp: acsTimestamp(new Date(clock.now())) });
      try {
        k1 = String(((await admin.call("CreateKey", {}, at())).KeyMetadata as Record<string, unknown>).KeyId);
        k2 = String(((await admin.call("CreateKey", {}, at())).KeyMetadata as Record<string, unknown>).KeyId);
        await admin.call("CreatePrincipal", { PrincipalName: "app" }, at());
        const ak = await admin.call("CreateAccessKey", { PrincipalName: "app" }, at());
        await admin.call(
          "AttachPolicy",
          { PolicyName: "AliyunKMSCryptoUserAccess", PrincipalName: "app" },
          at(),
        );
        const app = new KmsRpcTestClient({
          url: server.url,
          accessKeyId: String(ak.AccessKeyId),
          accessKeySecret: String(ak.AccessKeySecret),
          caCertPem: server.caCertPem,
        });
        try {
          clock.advance(2 * 3_600_000); // 2026-03-01T01:00Z
          let blob = "";
          for (let i = 0; i < 3; i++)
            blob = String(
              (await admin.call("Encrypt", { KeyId: k1, Plaintext: "eA==" }, at())).CiphertextBlob,
            );
          for (let i = 0; i < 2; i++) await app.call("Encrypt", { KeyId: k2, Plaintext: "eA==" }, at());
          assert.equal((await app.raw("DisableKey", { KeyId: k2 }, at())).body.Code, "Forbidden.RAM");
          clock.advance(86_400_000); // 2026-03-02T01:00Z
          await admin.call("Encrypt", { KeyId: k1, Plaintext: "eA==" }, at());
          for (let i = 0; i < 2; i++) await admin.call("Decrypt", { CiphertextBlob: blob }, at());
          await app.call("Encrypt", { KeyId: k2, Plaintext: "eA==" }, at());
        } finally {
          app.close();
        }
      } finally {
        admin.close();
        await server.close();
      }
    });

    after(() => rmSync(dir, { recursive: true, force: true }));

    type Event = {
      action: string;
      principal: string;
      keyId: string;
      outcome: string;
      errorCode: string;
      eventTime: string;
    };
    async function events(args: string[]): Promise<Event[]> {
      const r = await runAtrest(["kms", "events", "--data-dir", dir, ...args, "-o", "json"]);
      assert.equal(r.status, 0, r.stderr);
      return (JSON.parse(r.stdout) as { events: Event[] }).events;
    }
    const summary = (evs: Event[]) =>
      evs.map((e) => `${e.eventTime.slice(0, 10)} ${e.principal} ${e.action} ${e.outcome}`);

    it("events --principal, --key-id, --end and --start select exactly the matching records", async () => {
      const [byApp, byK1, beforeDay2, k2Day2, appDeniedDay1, badEnd] = await Promise.all([
        events(["--principal", "app"]),
        events(["--key-id", k1, "--start", "2026-03-01T00:00:00Z"]),
        events(["--start", "2026-03-01T00:00:00Z", "--end", "2026-03-02T00:00:00Z"]),
        events(["--key-id", k2, "--start", "2026-03-02T00:00:00Z"]),
        events([
          "--principal",
          "app",
          "--key-id",
          k2,
          "--end",
          "2026-03-02T00:00:00Z",
          "--action",
          "DisableKey",
        ]),
        runAtrest(["kms", "events", "--data-dir", dir, "--end", "yesterday"]),
      ]);
      assert.deepEqual(summary(byApp), [
        "2026-03-01 app Encrypt Allowed",
        "2026-03-01 app Encrypt Allowed",
        "2026-03-01 app DisableKey Denied",
        "2026-03-02 app Encrypt Allowed",
      ]);
      assert.ok(byApp.every((e) => e.keyId === k2));
      assert.deepEqual(summary(byK1), [
        "2026-03-01 admin Encrypt Allowed",
        "2026-03-01 admin Encrypt Allowed",
        "2026-03-01 admin Encrypt Allowed",
        "2026-03-02 admin Encrypt Allowed",
        "2026-03-02 admin Decrypt Allowed",
        "2026-03-02 admin Decrypt Allowed",
      ]);
      assert.ok(byK1.every((e) => e.keyId === k1));
      // --end is exclusive: day 1 only
      assert.equal(beforeDay2.length, 6);
      assert.ok(beforeDay2.every((e) => e.eventTime.startsWith("2026-03-01")));
      assert.deepEqual(summary(k2Day2), ["2026-03-02 app Encrypt Allowed"]);
      assert.equal(appDeniedDay1.length, 1);
      assert.equal(appDeniedDay1[0]?.errorCode, "Forbidden.RAM");
      assert.equal(badEnd.status, 2);
      assert.match(badEnd.stderr, /--end/);
    });

    it("usage gives calls per day, key and action with the cost at the given price", async () => {
      const usage = (args: string[]) => runAtrest(["kms", "usage", "--data-dir", dir, ...args]);
      const [r, text, day2] = await Promise.all([
        usage(["--start", "2026-03-01T00:00:00Z", "--price-per-10k", "2.5", "-o", "json"]),
        usage(["--start", "2026-03-01T00:00:00Z", "--price-per-10k", "2.5"]),
        usage([
          "--start",
          "2026-03-02T00:00:00Z",
          "--end",
          "2026-03-03T00:00:00Z",
          "--price-per-10k",
          "100",
          "-o",
          "json",
        ]),
      ]);
      assert.equal(r.status, 0, r.stderr);
      const u = JSON.parse(r.stdout) as {
        pricePer10k: number;
        usage: Array<{ day: string; keyId: string; action: string; calls: number; estimatedCost: number }>;
        totalCalls: number;
        totalEstimatedCost: number;
      };
      assert.equal(u.pricePer10k, 2.5);
      const expected = [
        { day: "2026-03-01", keyId: k1, action: "Encrypt", calls: 3, estimatedCost: 0.00075 },
        { day: "2026-03-01", keyId: k2, action: "DisableKey", calls: 1, estimatedCost: 0.00025 },
        { day: "2026-03-01", keyId: k2, action: "Encrypt", calls: 2, estimatedCost: 0.0005 },
        { day: "2026-03-02", keyId: k1, action: "Decrypt", calls: 2, estimatedCost: 0.0005 },
        { day: "2026-03-02", keyId: k1, action: "Encrypt", calls: 1, estimatedCost: 0.00025 },
        { day: "2026-03-02", keyId: k2, action: "Encrypt", calls: 1, estimatedCost: 0.00025 },
      ].sort(
        (a, b) =>
          a.day.localeCompare(b.day) || a.keyId.localeCompare(b.keyId) || a.action.localeCompare(b.action),
      );
      assert.deepEqual(u.usage, expected);
      assert.equal(u.totalCalls, 10);
      assert.equal(u.totalEstimatedCost, 0.0025);

      assert.equal(text.status, 0, text.stderr);
      assert.ok(text.stdout.includes(`2026-03-01 ${k1} Encrypt 3 0.00075\n`), text.stdout);
      assert.ok(text.stdout.endsWith("total 10 calls, 0.0025\n"), text.stdout);

      assert.equal(day2.status, 0, day2.stderr);
      const d2 = JSON.parse(day2.stdout) as {
        usage: Array<{ day: string; calls: number }>;
        totalCalls: number;
        totalEstimatedCost: number;
      };
      assert.ok(d2.usage.every((row) => row.day === "2026-03-02"));
      assert.equal(d2.totalCalls, 4);
      assert.equal(d2.totalEstimatedCost, 0.04);
    });
  },
);
