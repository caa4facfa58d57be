/**
 * The KMS v2 seed state machine against a real gRPC plugin on a unix socket (test/support/fake-kms-plugin.ts,
 * the gRPC client from src/kms-plugin-client), time driven by a ManualClock: key_id change → one new
 * seed; plugin down → writes stop 3 minutes after the last good Status while reads go on; plugin back →
 * writes resume; Encrypt/Status key_id mismatch → no switch, unhealthy.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { startFakeKmsPlugin } from "./support/fake-kms-plugin.js";
import { ManualClock } from "../src/common/clock.js";
import { isAtrestError } from "../src/common/errors.js";
import { createKmsV2Client } from "../src/kms-plugin-client/kms-v2-client.js";
import {
  contextForKey,
  decodeEncryptedObject,
  newKmsV2Transformer,
  newPrefixChain,
  type KmsV2Provider,
} from "../src/envelope/index.js";

const SECOND = 1000;
const MINUTE = 60 * SECOND;

async function advance(clock: ManualClock, provider: KmsV2Provider, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 5 * SECOND) {
    clock.advance(Math.min(5 * SECOND, left));
    await provider.runtime.settled();
  }
}

test(
  "KMS v2 seed state over a real unix socket: rotation, plugin down and back, key_id mismatch",
  { timeout: 60_000 },
  async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-envelope-"));
    const plugin = await startFakeKmsPlugin({ socketPath: join(dir, "kms.sock") });
    const client = createKmsV2Client({ endpoint: plugin.endpoint, timeoutMs: 2_000 });
    const clock = new ManualClock();
    const kms = newKmsV2Transformer({ providerName: "socket-kms", service: client, clock });
    t.after(async () => {
      kms.stop();
      client.close();
      await plugin.close();
      rmSync(dir, { recursive: true, force: true });
    });
    const chain = newPrefixChain([kms]);
    const ctx = contextForKey("/registry/secrets/default/socket");
    const keyIdOf = (stored: Buffer) => decodeEncryptedObject(stored.subarray(kms.prefix.length)).keyID;

    assert.equal(await kms.start(), true);
    assert.equal(plugin.calls.v2Encrypt, 1);
    const v1 = await chain.transformToStorage(Buffer.from("one"), ctx);
    assert.equal(keyIdOf(v1), "1");

    // key_id change → exactly one new seed at the next poll.
    plugin.keyId = "2";
    await advance(clock, kms, MINUTE);
    assert.equal(plugin.calls.v2Encrypt, 2);
    const v2 = await chain.transformToStorage(Buffer.from("two"), ctx);
    assert.equal(keyIdOf(v2), "2");
    await advance(clock, kms, 2 * MINUTE);
    assert.equal(plugin.calls.v2Encrypt, 2);

    // A fresh instance reads both over the socket (one Decrypt per seed), the old one stale.
    const reader = newKmsV2Transformer({ providerName: "socket-kms", service: client, clock });
    await reader.healthCheck();
    const r1 = await reader.transformFromStorage(v1, ctx);
    assert.equal(r1.plaintext.toString(), "one");
    assert.equal(r1.stale, true);
    assert.equal((await reader.transformFromStorage(v2, ctx)).stale, false);
    assert.equal(plugin.calls.v2Decrypt, 2);

    // Plugin down: reads go on (cached seeds), writes stop 3 minutes after the last good Status.
    await plugin.stop();
    await advance(clock, kms, MINUTE);
    await assert.rejects(
      kms.healthCheck(),
      (e: unknown) => isAtrestError(e) && /status section/.test(e.message),
    );
    await chain.transformToStorage(Buffer.from("still"), ctx);
    await advance(clock, kms, 2 * MINUTE + 5 * SECOND);
    await assert.rejects(
      chain.transformToStorage(Buffer.from("late"), ctx),
      (e: unknown) => isAtrestError(e, "unavailable") && /expired/.test(e.message),
    );
    assert.equal((await chain.transformFromStorage(v2, ctx)).plaintext.toString(), "two");

    // Plugin back: the next 10-s poll succeeds and writes resume with the same seed.
    await plugin.restart();
    const encryptsBefore = plugin.calls.v2Encrypt;
    // gRPC reconnects on its own (real-time) backoff: let 10-s polls run until one gets through.
    for (let i = 0; i < 50 && kms.stats().healthy !== true; i++) {
      await new Promise((r) => setTimeout(r, 100));
      await advance(clock, kms, 10 * SECOND);
    }
    const back = await chain.transformToStorage(Buffer.from("back"), ctx);
    assert.equal(keyIdOf(back), "2");
    assert.equal(plugin.calls.v2Encrypt, encryptsBefore);

    // Encrypt's key_id differs from Status's: no switch, unhealthy.
    plugin.keyId = "3";
    plugin.encryptResponseOverride = (request) => ({
      ciphertext: Buffer.from(request.plaintext.toString("base64")),
      key_id: "4",
      annotations: {},
    });
    await advance(clock, kms, MINUTE);
    await assert.rejects(
      kms.healthCheck(),
      (e: unknown) => isAtrestError(e, "unavailable") && /failed to rotate DEK/.test(e.message),
    );
    assert.equal(keyIdOf(await chain.transformToStorage(Buffer.from("coast"), ctx)), "2");
    assert.equal(kms.stats().healthy, false);
  },
);
