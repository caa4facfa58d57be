import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { ManualClock } from "../src/common/clock.js";
import { queryAuditEvents, verifyAuditChain } from "../src/kms/audit-log.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { startKmsServer } from "../src/kms/server.js";
import { acsTimestamp } from "../src/kms/signature/v3.js";

it("a caller over its request rate gets Rejected.Throttling (429), audited; it recovers as time passes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-kms-throttle-"));
  const clock = new ManualClock(Date.now());
  await initKmsDataDir({ dataDir: dir });
  const server = await startKmsServer({
    dataDir: dir,
    clock,
    schedulerIntervalMs: 0,
    maxRequestsPerSecondPerAccessKey: 2,
  });
  const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as {
    accessKeyId: string;
    accessKeySecret: string;
  };
  const client = new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: server.caCertPem });
  const ts = () => ({ timestamp: acsTimestamp(new Date(clock.now())) });
  try {
    assert.equal((await client.raw("ListKeys", {}, ts())).status, 200);
    assert.equal((await client.raw("ListKeys", {}, ts())).status, 200);
    const throttled = await client.raw("ListKeys", {}, ts());
    assert.equal(throttled.status, 429);
    assert.equal(throttled.body.Code, "Rejected.Throttling");
    const audited = (await queryAuditEvents(server.kdb, {})).find(
      (e) => e.request_id === throttled.body.RequestId,
    );
    assert.equal(audited?.error_code, "Rejected.Throttling");
    clock.advance(1000);
    assert.equal((await client.raw("ListKeys", {}, ts())).status, 200);
  } finally {
    client.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

it("failed authentication is throttled per source and kind; throttled attempts leave one summary record a minute", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-kms-authfail-"));
  const clock = new ManualClock(Date.now());
  await initKmsDataDir({ dataDir: dir });
  const server = await startKmsServer({
    dataDir: dir,
    clock,
    schedulerIntervalMs: 0,
    maxFailedAuthPerMinutePerSource: 5,
  });
  const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as {
    accessKeyId: string;
    accessKeySecret: string;
  };
  const other = await server.access.createAccessKey("admin"); // a second caller on the same address
  const client = new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: server.caCertPem });
  const otherClient = new KmsRpcTestClient({
    url: server.url,
    accessKeyId: other.accessKeyId,
    accessKeySecret: other.accessKeySecret,
    caCertPem: server.caCertPem,
  });
  const stranger = new KmsRpcTestClient({
    url: server.url,
    accessKeyId: "LTAIunknownunknownunkn",
    accessKeySecret: "nope",
    caCertPem: server.caCertPem,
  });
  const ts = () => ({ timestamp: acsTimestamp(new Date(clock.now())) });
  const audited = async () => (await queryAuditEvents(server.kdb, {})).length;
  try {
    // Within the budget each failure is answered as itself and audited as itself.
    for (let i = 0; i < 5; i++) {
      const r = await client.raw("ListKeys", {}, { ...ts(), secret: "wrong" });
      assert.equal(r.body.Code, "SignatureDoesNotMatch", `attempt ${i}`);
    }
    assert.equal(await audited(), 5);
    // Spent: refused with 429, before the signature is checked (a correct one too), not audited.
    for (let i = 0; i < 30; i++) {
      const r = await client.raw("ListKeys", {}, { ...ts(), secret: "wrong" });
      assert.equal(r.status, 429);
      assert.equal(r.body.Code, "Rejected.Throttling");
      assert.match(String(r.body.Message), /failed authentications/);
    }
    assert.equal((await client.raw("ListKeys", {}, ts())).status, 429);
    // Unknown access keys and malformed requests have their own budget; other valid keys are unaffected.
    for (let i = 0; i < 5; i++)
      assert.equal((await stranger.raw("ListKeys", {}, ts())).body.Code, "InvalidAccessKeyId.NotFound");
    const malformed = await client.raw(
      "ListKeys",
      {},
      { ...ts(), signatureVersion: "v3", headers: { authorization: "ACS3-HMAC-SHA256 garbage" } },
    );
    assert.equal(malformed.status, 429, "a malformed signature draws on the same budget as unknown keys");
    for (let i = 0; i < 10; i++) assert.equal((await stranger.raw("ListKeys", {}, ts())).status, 429);
    assert.equal((await otherClient.raw("ListKeys", {}, ts())).status, 200);
    await server.journal.idle();
    assert.equal(await audited(), 5 + 5 + 1, "41 refused attempts left no record of their own");

    // A minute on, the next request writes one summary per budget, counting what it refused (and the
    // budget has refilled: a valid request gets through again); the chain verifies.
    clock.advance(60_000);
    assert.equal((await client.raw("ListKeys", {}, ts())).status, 200);
    await server.journal.idle();
    assert.equal(await audited(), 5 + 5 + 1 + 2 + 1);
    const rows = await queryAuditEvents(server.kdb, {});
    const summaries = rows.filter((r) => Number(r.request_count) > 1);
    assert.deepEqual(
      summaries
        .map((r) => [r.access_key_id, r.error_code, r.outcome, Number(r.request_count), r.source_ip])
        .sort(),
      [
        [creds.accessKeyId, "Rejected.Throttling", "Denied", 31, "127.0.0.1"],
        ["LTAIunknownunknownunkn", "Rejected.Throttling", "Denied", 11, "127.0.0.1"],
      ].sort(),
    );
    assert.equal((await verifyAuditChain(server.kdb)).ok, true);
  } finally {
    client.close();
    otherClient.close();
    stranger.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
