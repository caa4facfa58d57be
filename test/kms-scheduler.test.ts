import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ManualClock } from "../src/common/clock.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { acsTimestamp } from "../src/kms/signature/v3.js";

const DAY = 86_400_000;

describe("kms scheduler: automatic rotation and purge, driven by a ManualClock", () => {
  let dir: string;
  let server: KmsServer;
  let client: KmsRpcTestClient;
  const clock = new ManualClock(Date.now());
  const call = (action: string, params: Record<string, string>) =>
    client.call(action, params, { timestamp: acsTimestamp(new Date(clock.now())) });
  const raw = (action: string, params: Record<string, string>) =>
    client.raw(action, params, { timestamp: acsTimestamp(new Date(clock.now())) });

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-kms-sched-"));
    await initKmsDataDir({ dataDir: dir });
    // The timer runs on the manual clock: advancing it fires scheduler passes.
    server = await startKmsServer({ dataDir: dir, clock, schedulerIntervalMs: 3_600_000, cacheTtlMs: 0 });
    const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    client = new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: server.caCertPem });
  });

  after(async () => {
    client.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("rotates a key when its interval has passed, not before, and only once per interval", async () => {
    const md = (await call("CreateKey", { EnableAutomaticRotation: "true", RotationInterval: "7d" }))
      .KeyMetadata as Record<string, unknown>;
    const keyId = String(md.KeyId);
    const blob = String((await call("Encrypt", { KeyId: keyId, Plaintext: "djE=" })).CiphertextBlob);
    clock.advance(6 * DAY);
    await server.scheduler.runOnce();
    assert.equal((await call("ListKeyVersions", { KeyId: keyId })).TotalCount, 1, "not due yet");

    clock.advance(1 * DAY + 3_600_000); // the hourly timer fires a pass on its own
    const pass = await server.scheduler.runOnce();
    assert.equal(pass.ran, true);
    assert.equal((await call("ListKeyVersions", { KeyId: keyId })).TotalCount, 2, "rotated once");
    const after = (await call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>;
    assert.notEqual(after.PrimaryKeyVersion, md.PrimaryKeyVersion);
    assert.equal(
      (await call("Encrypt", { KeyId: keyId, Plaintext: "eA==" })).KeyVersionId,
      after.PrimaryKeyVersion,
    );
    assert.equal((await call("Decrypt", { CiphertextBlob: blob })).Plaintext, "djE=");

    await server.scheduler.runOnce();
    assert.equal(
      (await call("ListKeyVersions", { KeyId: keyId })).TotalCount,
      2,
      "not again within the interval",
    );
    clock.advance(7 * DAY);
    await server.scheduler.runOnce();
    assert.equal((await call("ListKeyVersions", { KeyId: keyId })).TotalCount, 3);
  });

  it("a disabled key is not rotated", async () => {
    const keyId = String(
      (
        (await call("CreateKey", { EnableAutomaticRotation: "true", RotationInterval: "604800s" }))
          .KeyMetadata as Record<string, unknown>
      ).KeyId,
    );
    await call("DisableKey", { KeyId: keyId });
    clock.advance(8 * DAY);
    await server.scheduler.runOnce();
    assert.equal((await call("ListKeyVersions", { KeyId: keyId })).TotalCount, 1);
  });

  it("purges a key after its pending window and destroys its material; cancelled keys survive", async () => {
    const doomed = String(((await call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    const kept = String(((await call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    await call("CreateAlias", { AliasName: "alias/doomed", KeyId: doomed });
    const blob = String((await call("Encrypt", { KeyId: doomed, Plaintext: "eA==" })).CiphertextBlob);
    await call("ScheduleKeyDeletion", { KeyId: doomed, PendingWindowInDays: "7" });
    await call("ScheduleKeyDeletion", { KeyId: kept, PendingWindowInDays: "7" });
    await call("CancelKeyDeletion", { KeyId: kept });

    clock.advance(6 * DAY);
    await server.scheduler.runOnce();
    assert.equal(
      ((await call("DescribeKey", { KeyId: doomed })).KeyMetadata as Record<string, unknown>).KeyState,
      "PendingDeletion",
    );

    clock.advance(1 * DAY + 1000);
    await server.scheduler.runOnce(); // (the timer may have purged it already while the clock moved)
    assert.equal((await raw("DescribeKey", { KeyId: doomed })).body.Code, "Forbidden.KeyNotFound");
    assert.equal((await raw("Decrypt", { CiphertextBlob: blob })).body.Code, "Forbidden.KeyNotFound");
    assert.equal(
      (await raw("Encrypt", { KeyId: "alias/doomed", Plaintext: "eA==" })).body.Code,
      "Forbidden.AliasNotFound",
    );
    const versions = await server.kdb.db
      .selectFrom("key_versions")
      .select("key_version_id")
      .where("key_id", "=", doomed)
      .execute();
    assert.equal(versions.length, 0, "material (wrapped) removed from the store");
    assert.equal(
      ((await call("DescribeKey", { KeyId: kept })).KeyMetadata as Record<string, unknown>).KeyState,
      "Enabled",
    );
  });
});

describe("kms scheduler: its own timer, on the injected clock, rotates and purges (no runOnce)", () => {
  let dir: string;
  let server: KmsServer;
  let client: KmsRpcTestClient;
  const HOUR = 3_600_000;
  const clock = new ManualClock(Date.now());
  const call = (action: string, params: Record<string, string>) =>
    client.call(action, params, { timestamp: acsTimestamp(new Date(clock.now())) });
  const raw = (action: string, params: Record<string, string>) =>
    client.raw(action, params, { timestamp: acsTimestamp(new Date(clock.now())) });

  /** Polls until `check` holds; the timer's pass is async, so its effect shows up a little later. */
  async function waitFor(what: string, check: () => Promise<boolean> | boolean, ms = 10_000): Promise<void> {
    const deadline = Date.now() + ms;
    while (!(await check())) {
      if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * Advances the manual clock once the scheduler's timer is armed on it. The scheduler re-arms its
   * timer only after a pass finished, so "armed again" also means "the pass the advance fired is done".
   */
  async function advance(ms: number): Promise<void> {
    await waitFor(
      "the scheduler's timer to be armed on the injected clock",
      () => clock.pendingTimers() === 1,
    );
    clock.advance(ms);
    await waitFor("the timer's pass to finish (timer re-armed)", () => clock.pendingTimers() === 1);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-kms-sched-timer-"));
    await initKmsDataDir({ dataDir: dir });
    server = await startKmsServer({ dataDir: dir, clock, schedulerIntervalMs: HOUR, cacheTtlMs: 0 });
    const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    client = new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: server.caCertPem });
  });

  after(async () => {
    client.close();
    await server.close();
    assert.equal(clock.pendingTimers(), 0, "close() cancels the scheduler's timer");
    rmSync(dir, { recursive: true, force: true });
  });

  it("a due key gets a new primary version from the timer alone", async () => {
    const md = (await call("CreateKey", { EnableAutomaticRotation: "true", RotationInterval: "7d" }))
      .KeyMetadata as Record<string, unknown>;
    const keyId = String(md.KeyId);
    const blob = String((await call("Encrypt", { KeyId: keyId, Plaintext: "djE=" })).CiphertextBlob);

    await advance(6 * DAY); // the timer fires a pass, but the key is not due yet
    assert.equal((await call("ListKeyVersions", { KeyId: keyId })).TotalCount, 1, "not due yet");

    await advance(1 * DAY + HOUR);
    await waitFor("the scheduled rotation", async () => {
      const primary = ((await call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>)
        .PrimaryKeyVersion;
      return primary !== md.PrimaryKeyVersion;
    });
    assert.equal((await call("ListKeyVersions", { KeyId: keyId })).TotalCount, 2);
    const now = (await call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>;
    assert.equal(
      (await call("Encrypt", { KeyId: keyId, Plaintext: "eA==" })).KeyVersionId,
      now.PrimaryKeyVersion,
    );
    assert.equal((await call("Decrypt", { CiphertextBlob: blob })).Plaintext, "djE=");

    await advance(HOUR); // another pass inside the interval rotates nothing
    assert.equal((await call("ListKeyVersions", { KeyId: keyId })).TotalCount, 2);
  });

  it("a key whose pending-deletion window passed is purged by the timer alone", async () => {
    const keyId = String(((await call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    await call("ScheduleKeyDeletion", { KeyId: keyId, PendingWindowInDays: "7" });

    await advance(6 * DAY);
    assert.equal(
      ((await call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>).KeyState,
      "PendingDeletion",
      "inside the window the key is kept",
    );

    await advance(1 * DAY + HOUR);
    await waitFor(
      "the scheduled purge",
      async () => (await raw("DescribeKey", { KeyId: keyId })).body.Code === "Forbidden.KeyNotFound",
    );
    const versions = await server.kdb.db
      .selectFrom("key_versions")
      .select("key_version_id")
      .where("key_id", "=", keyId)
      .execute();
    assert.equal(versions.length, 0);
  });
});
