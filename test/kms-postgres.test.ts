import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../src/common/clock.js";
import { verifyAuditChain } from "../src/kms/audit-log.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { acsTimestamp } from "../src/kms/signature/v3.js";
import { runAtrest } from "./support/cli.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

const DAY = 86_400_000;

describe("two KMS instances on one PostgreSQL (high availability)", { timeout: 180_000 }, () => {
  let pg: TestPostgres;
  let dir: string;
  let a: KmsServer;
  let b: KmsServer;
  let ca: KmsRpcTestClient;
  let cb: KmsRpcTestClient;
  const clock = new ManualClock(Date.now());
  const opts = () => ({ timestamp: acsTimestamp(new Date(clock.now())) });

  before(async () => {
    pg = await startTestPostgres();
    dir = mkdtempSync(join(tmpdir(), "atrest-kms-ha-"));
    await initKmsDataDir({ dataDir: dir, database: pg.url });
    // Both instances share the data dir's root key (as a real deployment shares it) and the database.
    a = await startKmsServer({ dataDir: dir, database: pg.url, clock, schedulerIntervalMs: 0 });
    b = await startKmsServer({ dataDir: dir, database: pg.url, clock, schedulerIntervalMs: 0 });
    const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    ca = new KmsRpcTestClient({ url: a.url, ...creds, caCertPem: a.caCertPem });
    cb = new KmsRpcTestClient({ url: b.url, ...creds, caCertPem: b.caCertPem });
  });

  after(async () => {
    ca?.close();
    cb?.close();
    await a?.close();
    await b?.close();
    await pg?.stop();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  it("both serve the same keys: a ciphertext from one decrypts on the other", async () => {
    const keyId = String(
      ((await ca.call("CreateKey", {}, opts())).KeyMetadata as Record<string, unknown>).KeyId,
    );
    const fromA = await ca.call(
      "Encrypt",
      { KeyId: keyId, Plaintext: "ZnJvbS1h", EncryptionContext: '{"ns":"x"}' },
      opts(),
    );
    assert.equal(
      (
        await cb.call(
          "Decrypt",
          { CiphertextBlob: String(fromA.CiphertextBlob), EncryptionContext: '{"ns":"x"}' },
          opts(),
        )
      ).Plaintext,
      "ZnJvbS1h",
    );
    const fromB = await cb.call("Encrypt", { KeyId: keyId, Plaintext: "ZnJvbS1i" }, opts());
    assert.equal(
      (await ca.call("Decrypt", { CiphertextBlob: String(fromB.CiphertextBlob) }, opts())).Plaintext,
      "ZnJvbS1i",
    );
    const keys = await cb.call("ListKeys", { PageSize: "100" }, opts());
    assert.ok(
      ((keys.Keys as Record<string, unknown>).Key as Array<Record<string, unknown>>).some(
        (k) => k.KeyId === keyId,
      ),
    );
  });

  it("one instance's rotation and state change are seen by the other (after its 1 s cache)", async () => {
    const keyId = String(
      ((await ca.call("CreateKey", {}, opts())).KeyMetadata as Record<string, unknown>).KeyId,
    );
    await cb.call("Encrypt", { KeyId: keyId, Plaintext: "eA==" }, opts()); // B caches the key row
    const v = await ca.call("CreateKeyVersion", { KeyId: keyId }, opts());
    const newVersion = (v.KeyVersion as Record<string, unknown>).KeyVersionId;
    clock.advance(1500);
    assert.equal(
      (await cb.call("Encrypt", { KeyId: keyId, Plaintext: "eA==" }, opts())).KeyVersionId,
      newVersion,
    );
    await ca.call("DisableKey", { KeyId: keyId }, opts());
    clock.advance(1500);
    assert.equal(
      (await cb.raw("Encrypt", { KeyId: keyId, Plaintext: "eA==" }, opts())).body.Code,
      "Rejected.Disabled",
    );
  });

  it("a nonce used on one instance is refused on the other", async () => {
    await ca.call("ListKeys", {}, { ...opts(), nonce: "shared-nonce" });
    assert.equal(
      (await cb.raw("ListKeys", {}, { ...opts(), nonce: "shared-nonce" })).body.Code,
      "SignatureNonceUsed",
    );
  });

  it("a scheduled rotation runs once although both schedulers run", async () => {
    const keyId = String(
      (
        (await ca.call("CreateKey", { EnableAutomaticRotation: "true", RotationInterval: "7d" }, opts()))
          .KeyMetadata as Record<string, unknown>
      ).KeyId,
    );
    clock.advance(8 * DAY);
    const [ra, rb] = await Promise.all([a.scheduler.runOnce(), b.scheduler.runOnce()]);
    assert.equal([ra, rb].filter((r) => r.ran).length, 1, "one instance holds the scheduler lease");
    assert.equal([...ra.rotated, ...rb.rotated].filter((k) => k === keyId).length, 1);
    // Even without the lease (the lease holder's lease expired and the other takes over), the
    // rotation itself is a compare-and-set: running both again rotates nothing more.
    const rotatedAgain = [
      ...(await a.keys.rotateDueKeys(clock.now())),
      ...(await b.keys.rotateDueKeys(clock.now())),
    ];
    assert.deepEqual(
      rotatedAgain.filter((k) => k === keyId),
      [],
    );
    assert.equal((await cb.call("ListKeyVersions", { KeyId: keyId }, opts())).TotalCount, 2);
  });

  it("both instances extend one audit chain that verifies, also under concurrent load", async () => {
    await Promise.all(
      Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? ca : cb).call("ListKeys", {}, opts())),
    );
    await a.journal.idle();
    await b.journal.idle();
    const r = await verifyAuditChain(a.kdb);
    assert.equal(r.ok, true, JSON.stringify(r));
    assert.ok(r.records >= 55);
    const cli = await runAtrest([
      "kms",
      "verify-audit",
      "--data-dir",
      dir,
      "--database",
      pg.url,
      "-o",
      "json",
    ]);
    assert.equal(cli.status, 0, cli.stderr);
    assert.equal((JSON.parse(cli.stdout) as { records: number }).records, r.records);
    const events = await runAtrest([
      "kms",
      "events",
      "--data-dir",
      dir,
      "--database",
      pg.url,
      "--action",
      "CreateKeyVersion",
      "-o",
      "json",
    ]);
    assert.equal((JSON.parse(events.stdout) as { events: unknown[] }).events.length, 1);
  });

  it("with PostgreSQL down, requests fail as retryable 503 ServiceUnavailableTemporary, not 500", async () => {
    await pg.stop();
    const res = await ca.raw("ListKeys", {}, opts());
    assert.equal(res.status, 503);
    assert.equal(res.body.Code, "ServiceUnavailableTemporary");
  });
});
