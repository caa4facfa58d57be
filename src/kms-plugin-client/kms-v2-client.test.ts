import { test, describe, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import type { AtrestError } from "../common/errors.js";
import { isAtrestError } from "../common/errors.js";
import {
  startFakeKmsPlugin,
  MOCK_ANNOTATION_NAME,
  type FakeKmsPlugin,
} from "../../test/support/fake-kms-plugin.js";
import { createKmsV2Client, type KmsV2Client } from "./kms-v2-client.js";
import type { KmsCallEvent } from "./plugin-connection.js";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

function assertAtrestError(err: unknown, code: AtrestError["code"]): AtrestError {
  assert.ok(isAtrestError(err), `expected an AtrestError, got ${String(err)}`);
  assert.equal(err.code, code, err.message);
  return err;
}

describe("KMS v2 client over a unix socket file", () => {
  let dir: string;
  let plugin: FakeKmsPlugin;
  let client: KmsV2Client;
  const events: KmsCallEvent[] = [];

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-kmsv2-"));
    plugin = await startFakeKmsPlugin({ socketPath: join(dir, "kms.sock") });
    client = createKmsV2Client({
      endpoint: plugin.endpoint,
      timeoutMs: 2_000,
      onCall: (e) => events.push(e),
    });
  });

  after(async () => {
    client.close();
    await plugin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(async () => {
    plugin.resetCounters();
    plugin.clearFailures();
    plugin.delay("all", 0);
    plugin.keyId = "1";
    plugin.healthz = "ok";
    plugin.encryptResponseOverride = undefined;
    if (!plugin.running) await plugin.start();
    events.length = 0;
  });

  test("Status returns version, healthz and key_id", async () => {
    assert.deepEqual(await client.status(), { version: "v2", healthz: "ok", keyId: "1" });
    plugin.keyId = "2";
    plugin.healthz = "not-ok";
    assert.deepEqual(await client.status(), { version: "v2", healthz: "not-ok", keyId: "2" });
    assert.equal(plugin.calls.v2Status, 2);
  });

  test("Encrypt and Decrypt round-trip through the plugin", async () => {
    const seed = randomBytes(32);
    const encrypted = await client.encrypt(seed);
    assert.equal(encrypted.ciphertext.toString(), seed.toString("base64"));
    assert.equal(encrypted.keyId, "1");
    assert.deepEqual(Object.keys(encrypted.annotations), [MOCK_ANNOTATION_NAME]);
    assert.ok(Buffer.isBuffer(encrypted.ciphertext));

    const plaintext = await client.decrypt({
      ciphertext: encrypted.ciphertext,
      keyId: encrypted.keyId,
      annotations: encrypted.annotations,
    });
    assert.ok(Buffer.isBuffer(plaintext));
    assert.deepEqual(plaintext, seed);
    assert.equal(plugin.calls.v2Encrypt, 1);
    assert.equal(plugin.calls.v2Decrypt, 1);
    assert.equal(plugin.lastV2DecryptRequest?.key_id, "1");
    assert.equal(
      plugin.lastV2DecryptRequest?.annotations[MOCK_ANNOTATION_NAME]?.toString(),
      "encrypted-local-kek",
    );
  });

  test(":authority is localhost", async () => {
    await client.status();
    assert.equal(plugin.lastAuthority, "localhost");
    await client.encrypt(Buffer.from("x"));
    assert.equal(plugin.lastAuthority, "localhost");
  });

  test("every Encrypt/Decrypt carries a fresh UUID uid, unless one is given", async () => {
    const a = await client.encrypt(Buffer.from("a"));
    await client.encrypt(Buffer.from("b"));
    await client.decrypt({ ciphertext: a.ciphertext, keyId: a.keyId, annotations: a.annotations });
    await client.encrypt(Buffer.from("c"), { uid: "my-uid" });
    await client.decrypt({
      ciphertext: a.ciphertext,
      keyId: a.keyId,
      annotations: a.annotations,
      uid: "other-uid",
    });
    assert.equal(plugin.uids.length, 5);
    const generated = plugin.uids.slice(0, 3);
    for (const uid of generated) assert.match(uid, UUID);
    assert.equal(new Set(generated).size, 3);
    assert.deepEqual(plugin.uids.slice(3), ["my-uid", "other-uid"]);
    // The call events carry the same uids (for logs), and never the payload.
    assert.deepEqual(
      events.filter((e) => e.method !== "/v2.KeyManagementService/Status").map((e) => e.uid),
      plugin.uids,
    );
    assert.ok(events.every((e) => e.grpcCode === "OK"));
  });

  test("a plugin slower than the timeout gives deadline-exceeded (retryable)", async () => {
    const fast = createKmsV2Client({ endpoint: plugin.endpoint, timeoutMs: 200 });
    try {
      plugin.delay("v2Encrypt", 5_000);
      const err = await fast.encrypt(Buffer.from("x")).then(
        () => assert.fail("expected a deadline error"),
        (e: unknown) => e,
      );
      const atrest = assertAtrestError(err, "deadline-exceeded");
      assert.equal(atrest.retryable, true);
      assert.equal(atrest.details.grpcCode, "DEADLINE_EXCEEDED");
      assert.equal(atrest.details.method, "/v2.KeyManagementService/Encrypt");
      assert.match(String(atrest.details.uid), UUID);
      // The same client still works once the plugin is fast again.
      plugin.delay("v2Encrypt", 0);
      assert.equal((await fast.encrypt(Buffer.from("y"))).keyId, "1");
    } finally {
      fast.close();
    }
  });

  test("the default timeout is kube's 3 s", () => {
    const c = createKmsV2Client({ endpoint: plugin.endpoint });
    assert.equal(c.timeoutMs, 3_000);
    c.close();
  });

  test("an empty ciphertext is rejected as an invalid plugin response", async () => {
    plugin.encryptResponseOverride = () => ({ ciphertext: Buffer.alloc(0), key_id: "1", annotations: {} });
    const err = await client.encrypt(Buffer.from("x")).catch((e: unknown) => e);
    const atrest = assertAtrestError(err, "internal");
    assert.equal(atrest.details.reason, "invalid-plugin-response");
    assert.deepEqual(atrest.details.problems, ["ciphertext is empty"]);
  });

  test("an oversize ciphertext is rejected", async () => {
    plugin.encryptResponseOverride = () => ({ ciphertext: Buffer.alloc(1025, 1), key_id: "1" });
    const atrest = assertAtrestError(
      await client.encrypt(Buffer.from("x")).catch((e: unknown) => e),
      "internal",
    );
    assert.deepEqual(atrest.details.problems, [
      "ciphertext is 1025 bytes, which exceeds the max size of 1024",
    ]);
  });

  test("a 1024-byte ciphertext and key_id are accepted", async () => {
    plugin.keyId = "k".repeat(1024);
    plugin.encryptResponseOverride = () => ({ ciphertext: Buffer.alloc(1024, 1), key_id: plugin.keyId });
    const r = await client.encrypt(Buffer.from("x"));
    assert.equal(r.ciphertext.length, 1024);
    assert.equal(r.keyId.length, 1024);
    assert.deepEqual(r.annotations, {});
  });

  test("an oversize or empty key_id is rejected", async () => {
    plugin.keyId = "k".repeat(1025);
    let atrest = assertAtrestError(
      await client.encrypt(Buffer.from("x")).catch((e: unknown) => e),
      "internal",
    );
    assert.deepEqual(atrest.details.problems, ["key_id is 1025 bytes, which exceeds the max size of 1024"]);
    plugin.keyId = "";
    atrest = assertAtrestError(await client.encrypt(Buffer.from("x")).catch((e: unknown) => e), "internal");
    assert.deepEqual(atrest.details.problems, ["key_id is empty"]);
  });

  test("bad annotation names and oversize annotations are rejected, every problem reported", async () => {
    plugin.encryptResponseOverride = (req) => ({
      ciphertext: Buffer.from(req.plaintext.toString("base64")),
      key_id: "1",
      annotations: {
        "Upper.example.com": Buffer.from("v"),
        single: Buffer.from("v"),
        "ok.example.com": Buffer.from("v"),
      },
    });
    const atrest = assertAtrestError(
      await client.encrypt(Buffer.from("x")).catch((e: unknown) => e),
      "internal",
    );
    const problems = atrest.details.problems as string[];
    assert.equal(problems.length, 2, problems.join("\n"));
    assert.ok(problems.some((p) => p.includes('"Upper.example.com"')));
    assert.ok(problems.some((p) => p.includes('"single": should be a domain with at least two segments')));

    plugin.encryptResponseOverride = () => ({
      ciphertext: Buffer.from("c"),
      key_id: "1",
      annotations: { "big.example.com": Buffer.alloc(32 * 1024) },
    });
    const big = assertAtrestError(
      await client.encrypt(Buffer.from("x")).catch((e: unknown) => e),
      "internal",
    );
    assert.deepEqual(big.details.problems, [
      "total size of annotations is 32783, which exceeds the max size of 32768",
    ]);
  });

  test("plugin errors keep their gRPC code name", async () => {
    plugin.failWith("v2Decrypt", grpc.status.PERMISSION_DENIED, "key disabled");
    const err = await client
      .decrypt({ ciphertext: Buffer.from("eA=="), keyId: "1", annotations: {} })
      .catch((e: unknown) => e);
    const atrest = assertAtrestError(err, "permission-denied");
    assert.equal(atrest.details.grpcCode, "PERMISSION_DENIED");
    assert.equal(atrest.retryable, false);
    assert.match(atrest.message, /PERMISSION_DENIED: key disabled/);

    plugin.failWith("v2Status", grpc.status.UNKNOWN, "boom");
    const unknown = assertAtrestError(await client.status().catch((e: unknown) => e), "internal");
    assert.equal(unknown.details.grpcCode, "UNKNOWN");
  });

  test("server down → unavailable (retryable); back up on the same socket → calls work again", async () => {
    await plugin.stop();
    const err = assertAtrestError(await client.status().catch((e: unknown) => e), "unavailable");
    assert.equal(err.retryable, true);
    // A call racing the closing connection may see CANCELLED instead: both mean "unavailable".
    assert.ok(["UNAVAILABLE", "CANCELLED"].includes(String(err.details.grpcCode)));
    assertAtrestError(await client.status().catch((e: unknown) => e), "unavailable");
    await plugin.restart();
    // The channel reconnects after a short backoff; poll a bounded number of times.
    let status;
    for (let i = 0; i < 50 && status === undefined; i++) {
      status = await client.status().catch(async () => {
        await new Promise((r) => setTimeout(r, 100));
        return undefined;
      });
    }
    assert.deepEqual(status, { version: "v2", healthz: "ok", keyId: "1" });
  });

  test("calls after close() fail with a typed error", async () => {
    const c = createKmsV2Client({ endpoint: plugin.endpoint });
    c.close();
    assertAtrestError(await c.status().catch((e: unknown) => e), "failed-precondition");
  });
});

describe("KMS v2 client over an abstract socket", () => {
  test("unix:///@name reaches a plugin in the abstract namespace", async () => {
    const name = `atrest-test-${process.pid}-${randomBytes(4).toString("hex")}`;
    const plugin = await startFakeKmsPlugin({ socketPath: `@${name}`, keyId: "abstract-key" });
    const client = createKmsV2Client({ endpoint: `unix:///@${name}` });
    try {
      assert.equal(plugin.endpoint, `unix:///@${name}`);
      assert.deepEqual(await client.status(), { version: "v2", healthz: "ok", keyId: "abstract-key" });
      const e = await client.encrypt(Buffer.from("secret"));
      assert.deepEqual(
        await client.decrypt({ ciphertext: e.ciphertext, keyId: e.keyId, annotations: e.annotations }),
        Buffer.from("secret"),
      );
      assert.equal(plugin.lastAuthority, "localhost");
    } finally {
      client.close();
      await plugin.close();
    }
  });

  test("an abstract name nobody listens on → unavailable", async () => {
    const client = createKmsV2Client({
      endpoint: `unix:///@atrest-nobody-${randomBytes(6).toString("hex")}`,
    });
    try {
      assertAtrestError(await client.status().catch((e: unknown) => e), "unavailable");
    } finally {
      client.close();
    }
  });
});

test("a missing socket file → unavailable", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-kmsv2-"));
  const client = createKmsV2Client({ endpoint: `unix://${join(dir, "absent.sock")}` });
  try {
    const err = assertAtrestError(
      await client.encrypt(Buffer.from("x")).catch((e: unknown) => e),
      "unavailable",
    );
    assert.equal(err.retryable, true);
    assert.equal(err.details.grpcCode, "UNAVAILABLE");
  } finally {
    client.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("bad options are rejected up front", () => {
  assert.throws(
    () => createKmsV2Client({ endpoint: "tcp://localhost:1234" }),
    (e: unknown) => isAtrestError(e, "invalid-argument"),
  );
  assert.throws(
    () => createKmsV2Client({ endpoint: "unix:///tmp/kms.sock", timeoutMs: 0 }),
    (e: unknown) => isAtrestError(e, "invalid-argument"),
  );
});
