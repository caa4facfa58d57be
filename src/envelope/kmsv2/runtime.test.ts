/**
 * The KMS v2 runtime (seed state machine, Status check and poller, caches) driven with a ManualClock and an in-process fake plugin: rotation only
 * on a new key_id, writes stop 3 minutes after the last good Status, reads go on, Encrypt/Status key_id
 * mismatch means no switch and unhealthy, poll intervals and health-result reuse as kube-apiserver's.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { FakeKmsV2Service } from "../../../test/support/fake-kms-v2-service.js";
import { ManualClock } from "../../common/clock.js";
import { isAtrestError } from "../../common/errors.js";
import { keyIdHash } from "../../common/key-id-hash.js";
import {
  contextForKey,
  decodeEncryptedObject,
  KMS_V2_DEK_CACHE_TTL_MS,
  kmsV2CacheKey,
  newKmsV2Transformer,
  type KmsV2Provider,
} from "../index.js";

const ctx = contextForKey("/registry/secrets/default/s1");
const value = Buffer.from("secret-value");
const SECOND = 1000;
const MINUTE = 60 * SECOND;

function setup() {
  const clock = new ManualClock();
  const service = new FakeKmsV2Service();
  const calls: string[] = [];
  const provider = newKmsV2Transformer({
    providerName: "kms",
    service,
    clock,
    hooks: { kmsCall: (e) => calls.push(`${e.method}:${e.ok ? "ok" : "error"}`) },
  });
  return { clock, service, provider, calls };
}

function keyIdOf(provider: KmsV2Provider, stored: Buffer): string {
  return decodeEncryptedObject(stored.subarray(provider.prefix.length)).keyID;
}

/**
 * Moves the clock one second at a time, letting each poll the timers start finish before going on (a
 * poll schedules its successor only when its Status call has answered).
 */
async function advance(clock: ManualClock, provider: KmsV2Provider, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= SECOND) {
    clock.advance(Math.min(SECOND, left));
    await provider.runtime.settled();
  }
}

test("reads and writes fail (unavailable) before the first good Status; start primes with one Encrypt", async (t) => {
  const { clock, service, provider } = setup();
  t.after(() => provider.stop());
  await assert.rejects(
    provider.transformToStorage(value, ctx),
    (e: unknown) => isAtrestError(e, "unavailable") && /not ready/.test(e.message),
  );
  const stored = Buffer.concat([provider.prefix, Buffer.from("0a01ff", "hex")]); // anything kms-prefixed
  service.down = true;
  assert.equal(await provider.start(), false);
  await assert.rejects(provider.transformFromStorage(stored, ctx), { code: "data-corrupt" }); // parse first
  service.down = false;
  await advance(clock, provider, 10 * SECOND); // unhealthy: retried after 10 s
  assert.equal(service.calls.encrypt, 1);
  const written = await provider.transformToStorage(value, ctx);
  assert.deepEqual((await provider.transformFromStorage(written, ctx)).plaintext, value);
  assert.equal(provider.stats().keyIdHash, keyIdHash("1"));
});

test("Status is polled every 60 s while healthy; the same key_id never makes a new seed", async (t) => {
  const { clock, service, provider } = setup();
  t.after(() => provider.stop());
  assert.equal(await provider.start(), true);
  assert.equal(service.calls.status, 1);
  await advance(clock, provider, 59 * SECOND);
  assert.equal(service.calls.status, 1);
  await advance(clock, provider, 1 * SECOND);
  assert.equal(service.calls.status, 2);
  for (let i = 0; i < 10; i++) {
    await advance(clock, provider, MINUTE);
    await provider.transformToStorage(value, ctx);
  }
  assert.equal(service.calls.status, 12);
  assert.equal(service.calls.encrypt, 1); // one seed for the whole time, however many writes
});

test("a new key_id in Status → one Encrypt, a new seed; old values read back stale", async (t) => {
  const { clock, service, provider } = setup();
  t.after(() => provider.stop());
  await provider.start();
  const old = await provider.transformToStorage(value, ctx);
  service.keyId = "2";
  await advance(clock, provider, MINUTE);
  assert.equal(service.calls.encrypt, 2);
  const fresh = await provider.transformToStorage(value, ctx);
  assert.equal(keyIdOf(provider, fresh), "2");
  assert.equal(keyIdOf(provider, old), "1");
  const oldRead = await provider.transformFromStorage(old, ctx);
  assert.deepEqual(oldRead.plaintext, value);
  assert.equal(oldRead.stale, true);
  assert.equal(oldRead.origin.keyId, "1");
  assert.equal((await provider.transformFromStorage(fresh, ctx)).stale, false);
  assert.equal(service.calls.decrypt, 0); // both seeds were cached when made
  assert.equal(provider.stats().keyIdHash, keyIdHash("2"));
});

test("plugin down → writes stop 3 minutes after the last good Status, reads go on; back → writes resume", async (t) => {
  const { clock, service, provider } = setup();
  t.after(() => provider.stop());
  await provider.start(); // good check at t0
  const before = await provider.transformToStorage(value, ctx);
  service.down = true;
  await advance(clock, provider, MINUTE); // t0+60 s: fails; now polled every 10 s
  const statusAtFailure = service.calls.status;
  await advance(clock, provider, 30 * SECOND);
  assert.equal(service.calls.status, statusAtFailure + 3);
  await assert.rejects(
    provider.healthCheck(),
    (e: unknown) => isAtrestError(e, "unavailable") && /status section/.test(e.message),
  );
  await advance(clock, provider, 89 * SECOND); // t0+179 s: still inside the 3-minute window
  await provider.transformToStorage(value, ctx);
  await advance(clock, provider, 2 * SECOND); // t0+181 s
  await assert.rejects(
    provider.transformToStorage(value, ctx),
    (e: unknown) => isAtrestError(e, "unavailable") && /expired/.test(e.message),
  );
  assert.deepEqual((await provider.transformFromStorage(before, ctx)).plaintext, value); // reads never expire
  await advance(clock, provider, 10 * MINUTE);
  assert.deepEqual((await provider.transformFromStorage(before, ctx)).plaintext, value);

  service.down = false;
  await advance(clock, provider, 10 * SECOND);
  const after = await provider.transformToStorage(value, ctx);
  assert.equal(keyIdOf(provider, after), "1");
  assert.equal(service.calls.encrypt, 1); // same key_id: the old seed goes on, no new Encrypt
  const statusWhenBack = service.calls.status;
  await advance(clock, provider, 2 * MINUTE);
  assert.equal(service.calls.status, statusWhenBack + 2); // healthy again: back to every 60 s (not 12 polls)
});

test("Encrypt's key_id differs from Status's → no switch, unhealthy, the old seed coasts until it expires", async (t) => {
  const { clock, service, provider } = setup();
  t.after(() => provider.stop());
  await provider.start();
  service.keyId = "2";
  service.encryptKeyId = "3";
  await advance(clock, provider, MINUTE);
  assert.equal(service.calls.encrypt, 2);
  await assert.rejects(provider.healthCheck(), (e: unknown) => {
    assert.ok(isAtrestError(e, "unavailable"));
    assert.match(e.message, /kmsv2 Provider kms is not healthy, error: failed to rotate DEK/);
    assert.ok(e.message.includes(keyIdHash("2")) && e.message.includes(keyIdHash("3")));
    return true;
  });
  assert.equal(provider.stats().healthy, false);
  assert.equal(provider.stats().keyIdHash, keyIdHash("1"));
  assert.equal(keyIdOf(provider, await provider.transformToStorage(value, ctx)), "1");
  // The failed rotation does not extend the write window: the last good check was at t0.
  await advance(clock, provider, 2 * MINUTE + 1);
  await assert.rejects(provider.transformToStorage(value, ctx), { code: "unavailable" });
  service.encryptKeyId = undefined;
  await advance(clock, provider, 10 * SECOND);
  assert.equal(keyIdOf(provider, await provider.transformToStorage(value, ctx)), "2");
  assert.equal(provider.stats().healthy, true);
});

test("Encrypt answers that break kube's limits are refused: no switch, unhealthy", async () => {
  const { service, provider } = setup();
  service.encryptCiphertextOverride = Buffer.alloc(1025, 1);
  await assert.rejects(
    provider.healthCheck(),
    (e: unknown) => isAtrestError(e, "unavailable") && /exceeds the max size of 1024/.test(e.message),
  );
  await assert.rejects(provider.transformToStorage(value, ctx), { code: "unavailable" });
});

test("Status problems: healthz not ok, unknown version, empty key_id are unhealthy", async () => {
  for (const change of [
    (s: FakeKmsV2Service) => (s.healthz = "broken"),
    (s: FakeKmsV2Service) => (s.version = "v3"),
    (s: FakeKmsV2Service) => (s.keyId = ""),
  ]) {
    const { service, provider } = setup();
    change(service);
    await assert.rejects(
      provider.healthCheck(),
      (e: unknown) => isAtrestError(e, "unavailable") && /is not healthy/.test(e.message),
    );
  }
});

test("a Status with the same key_id but healthz not ok does not extend the write window", async () => {
  const { clock, service, provider } = setup();
  await provider.healthCheck();
  const window = provider.stats().writeExpiresAtMs;
  assert.ok(window > clock.now());
  // A plugin whose KMS is gone keeps reporting its last key_id, unhealthy.
  service.healthz = "kms unreachable";
  clock.advance(2 * MINUTE);
  await assert.rejects(provider.healthCheck());
  assert.equal(provider.stats().writeExpiresAtMs, window, "no extension from an unhealthy Status");
  await provider.transformToStorage(value, ctx); // still inside the window
  clock.advance(1 * MINUTE + SECOND);
  await assert.rejects(
    provider.transformToStorage(value, ctx),
    (e: unknown) => isAtrestError(e, "unavailable") && /expired/.test(e.message),
  );
  service.healthz = "ok";
  await provider.healthCheck();
  assert.ok(provider.stats().writeExpiresAtMs > clock.now(), "a healthy Status opens the window again");
  await provider.transformToStorage(value, ctx);
});

test("a health result is reused 20 s after success and 3 s after failure", async () => {
  const { clock, service, provider } = setup();
  await provider.healthCheck();
  await provider.healthCheck();
  clock.advance(19 * SECOND);
  await provider.healthCheck();
  assert.equal(service.calls.status, 1);
  clock.advance(1 * SECOND);
  service.down = true;
  await assert.rejects(provider.healthCheck());
  assert.equal(service.calls.status, 2);
  service.down = false;
  clock.advance(2 * SECOND);
  await assert.rejects(provider.healthCheck()); // the failure is reused
  assert.equal(service.calls.status, 2);
  clock.advance(1 * SECOND);
  await provider.healthCheck();
  assert.equal(service.calls.status, 3);
});

test("decrypted seeds are cached 24 h under (type, encryptedDEKSource, keyID, sorted annotations)", async () => {
  const writer = setup();
  await writer.provider.healthCheck();
  const stored = await writer.provider.transformToStorage(value, ctx);

  const { clock, service, provider } = setup();
  await provider.healthCheck();
  for (let i = 0; i < 5; i++) await provider.transformFromStorage(stored, ctx);
  assert.equal(service.calls.decrypt, 1);
  // Reordering the annotations does not change the cache key; another annotation value does.
  const o = decodeEncryptedObject(stored.subarray(provider.prefix.length));
  assert.equal(service.decryptRequests[0]?.keyId, "1");
  assert.deepEqual(Object.keys(service.decryptRequests[0]?.annotations ?? {}), Object.keys(o.annotations));
  clock.advance(KMS_V2_DEK_CACHE_TTL_MS - SECOND);
  await provider.healthCheck();
  await provider.transformFromStorage(stored, ctx);
  assert.equal(service.calls.decrypt, 1);
  clock.advance(2 * SECOND);
  await provider.transformFromStorage(stored, ctx);
  assert.equal(service.calls.decrypt, 2);
  // Decrypt failures surface as unavailable, not as wrong data.
  const cold = setup();
  await cold.provider.healthCheck();
  cold.service.failDecrypt = true;
  await assert.rejects(
    cold.provider.transformFromStorage(stored, ctx),
    (e: unknown) => isAtrestError(e, "unavailable") && /failed to decrypt DEK/.test(e.message),
  );
});

test("concurrent reads of one uncached seed make one plugin Decrypt", async () => {
  const writer = setup();
  await writer.provider.healthCheck();
  const stored = await writer.provider.transformToStorage(value, ctx);
  const { service, provider } = setup();
  await provider.healthCheck();
  const results = await Promise.all(
    Array.from({ length: 20 }, () => provider.transformFromStorage(stored, ctx)),
  );
  assert.ok(results.every((r) => r.plaintext.equals(value)));
  assert.equal(service.calls.decrypt, 1);
});

test("checkStatus (what the health check does with each Status) rotates and extends the write window", async () => {
  const { clock, service, provider } = setup();
  await provider.runtime.checkStatus({ version: "v2", healthz: "ok", keyId: "1" });
  assert.equal(service.calls.encrypt, 1);
  assert.equal(service.calls.status, 0);
  clock.advance(2 * MINUTE);
  await provider.runtime.checkStatus({ version: "v2", healthz: "ok", keyId: "1" });
  clock.advance(2 * MINUTE);
  await provider.transformToStorage(value, ctx); // extended at t0+2 min
  service.encryptKeyId = "9";
  await assert.rejects(
    provider.runtime.checkStatus({ version: "v2", healthz: "ok", keyId: "2" }),
    /failed to rotate DEK/,
  );
  assert.equal(provider.stats().keyIdHash, keyIdHash("1"));
});

test("stop() cancels the poll timer", async () => {
  const { clock, provider } = setup();
  await provider.start();
  assert.equal(clock.pendingTimers(), 1);
  provider.stop();
  assert.equal(clock.pendingTimers(), 0);
});

test("kmsV2CacheKey is kube's generateCacheKey layout (annotations sorted by name)", () => {
  const key = kmsV2CacheKey(1, Buffer.from("abc"), "k", { "b.x": Buffer.from("2"), "a.x": Buffer.from("1") });
  const expected =
    "00000001" + "0003616263" + "00016b" + "00000002" + "0003612e78" + "000131" + "0003622e78" + "000132";
  assert.equal(Buffer.from(key, "latin1").toString("hex"), expected);
  assert.equal(
    Buffer.from(kmsV2CacheKey(0, Buffer.from("abc"), "k", {}), "latin1").toString("hex"),
    "00000000000361626300016b",
  );
});

test("hooks and stats report plugin calls, cache size and the hashed key_id", async () => {
  const { clock, service, provider, calls } = setup();
  const rotations: string[] = [];
  const observed = newKmsV2Transformer({
    providerName: "kms",
    service,
    clock,
    hooks: {
      dekRotated: (e) => rotations.push(e.keyIdHash),
      kmsCall: (e) => calls.push(`observed ${e.method}`),
    },
  });
  await observed.healthCheck();
  await provider.healthCheck();
  const stored = await provider.transformToStorage(value, ctx);
  await observed.transformFromStorage(stored, ctx);
  assert.deepEqual(rotations, [keyIdHash("1")]);
  assert.deepEqual(calls, [
    "observed status",
    "observed encrypt",
    "status:ok",
    "encrypt:ok",
    "observed decrypt",
  ]);
  const stats = observed.stats();
  assert.equal(stats.statusCalls, 1);
  assert.equal(stats.encryptCalls, 1);
  assert.equal(stats.decryptCalls, 1);
  assert.equal(stats.cacheSize, 2); // its own seed and the other instance's
  assert.equal(stats.keyIdHash, keyIdHash("1"));
  assert.equal(stats.healthy, true);
});
