import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { ManualClock } from "../common/clock.js";
import { AtrestError } from "../common/errors.js";
import { silentLogger } from "../common/logger.js";
import { systemRandom } from "../common/random.js";
import type { BackendCiphertext, KmsBackend } from "./backend.js";
import { StatusCheck } from "./status-check.js";

/** A backend with knobs: the current version, a forced failure, and call counters. */
function fakeBackend() {
  const state = { version: "v1", failWith: undefined as AtrestError | undefined, encrypts: 0, decrypts: 0 };
  const backend: KmsBackend = {
    kind: "local",
    description: "fake",
    encrypt(plaintext): Promise<BackendCiphertext> {
      state.encrypts++;
      if (state.failWith) return Promise.reject(state.failWith);
      return Promise.resolve({
        ciphertext: Buffer.concat([Buffer.from(state.version + "|"), plaintext]),
        keyId: `key:${state.version}`,
        annotations: {},
      });
    },
    decrypt(request) {
      state.decrypts++;
      if (state.failWith) return Promise.reject(state.failWith);
      return Promise.resolve(request.ciphertext.subarray(request.ciphertext.indexOf("|") + 1));
    },
    kmsCalls: () => state.encrypts + state.decrypts,
    close: async () => {},
  };
  return { backend, state };
}

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
}

describe("StatusCheck", () => {
  it("costs one Encrypt+Decrypt per refresh interval however often Status is polled", async () => {
    const clock = new ManualClock();
    const { backend, state } = fakeBackend();
    const check = new StatusCheck({
      backend,
      refreshMs: 60_000,
      probeTimeoutMs: 5_000,
      clock,
      random: systemRandom,
      logger: silentLogger(),
    });
    check.start();
    await flush();
    assert.equal(check.snapshot().healthy, true);
    // An apiserver polling every 10 s for 10 minutes (60 polls), plus 1,000 quick polls.
    for (let i = 0; i < 60; i++) {
      clock.advance(10_000);
      await flush();
      assert.equal((await check.settled(1_000)).keyId, "key:v1");
    }
    for (let i = 0; i < 1000; i++) await check.settled(1_000);
    check.stop();
    // Start + one per minute for 10 minutes.
    assert.equal(state.encrypts, 11);
    assert.equal(state.decrypts, 11);
  });

  it("keeps the last key_id while the KMS fails, and reports the reason; picks up a rotation", async () => {
    const clock = new ManualClock();
    const { backend, state } = fakeBackend();
    const changes: string[] = [];
    const check = new StatusCheck({
      backend,
      refreshMs: 1_000,
      probeTimeoutMs: 500,
      clock,
      random: systemRandom,
      logger: silentLogger(),
      onChange: (s) => changes.push(`${s.healthy}:${s.keyId}`),
    });
    check.start();
    await flush();
    state.failWith = new AtrestError(
      "unavailable",
      "KMS Encrypt failed: the KMS endpoint is unreachable (ECONNREFUSED)",
    );
    clock.advance(1_000);
    await flush();
    const down = check.snapshot();
    assert.equal(down.healthy, false);
    assert.equal(down.keyId, "key:v1");
    assert.match(down.reason, /ECONNREFUSED/);
    assert.equal(down.errorCode, "unavailable");
    state.failWith = undefined;
    state.version = "v2";
    clock.advance(1_000);
    await flush();
    assert.deepEqual(check.snapshot().healthy, true);
    assert.equal(check.snapshot().keyId, "key:v2");
    assert.deepEqual(changes, ["true:key:v1", "false:key:v1", "true:key:v2"]);
    check.stop();
    assert.equal(clock.pendingTimers(), 0);
  });

  it("an Encrypt that sees a new key version triggers one early check, not one per call", async () => {
    const clock = new ManualClock();
    const { backend, state } = fakeBackend();
    const check = new StatusCheck({
      backend,
      refreshMs: 60_000,
      probeTimeoutMs: 500,
      clock,
      random: systemRandom,
      logger: silentLogger(),
    });
    check.start();
    await flush();
    assert.equal(state.encrypts, 1);
    check.noteEncryptKeyId("key:v1"); // unchanged: nothing to do
    await flush();
    assert.equal(state.encrypts, 1);
    state.version = "v2";
    for (let i = 0; i < 50; i++) check.noteEncryptKeyId("key:v2");
    await flush();
    assert.equal(check.snapshot().keyId, "key:v2");
    assert.equal(state.encrypts, 2);
    state.version = "v3";
    check.noteEncryptKeyId("key:v3"); // within 10 s of the last early check: waits
    await flush();
    assert.equal(state.encrypts, 2);
    clock.advance(10_000);
    check.noteEncryptKeyId("key:v3");
    await flush();
    assert.equal(check.snapshot().keyId, "key:v3");
    assert.equal(state.encrypts, 3);
    check.stop();
  });

  it("a check that round-trips to a different plaintext is unhealthy", async () => {
    const clock = new ManualClock();
    const { backend } = fakeBackend();
    const broken: KmsBackend = { ...backend, decrypt: () => Promise.resolve(Buffer.from("something else")) };
    const check = new StatusCheck({
      backend: broken,
      refreshMs: 1_000,
      probeTimeoutMs: 500,
      clock,
      random: systemRandom,
      logger: silentLogger(),
    });
    check.start();
    await flush();
    assert.equal(check.snapshot().healthy, false);
    assert.equal(check.snapshot().keyId, "");
    assert.match(check.snapshot().reason, /different plaintext/);
    check.stop();
  });
});
