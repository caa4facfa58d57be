import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { it } from "node:test";
import { ManualClock } from "../src/common/clock.js";
import { queryAuditEvents } from "../src/kms/audit-log.js";
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
