import { test, describe, before, after, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import * as grpc from "@grpc/grpc-js";
import { isAtrestError } from "../common/errors.js";
import { startFakeKmsPlugin, type FakeKmsPlugin } from "../../test/support/fake-kms-plugin.js";
import { createKmsV1Client } from "./kms-v1-client.js";
import { createKmsV2Client } from "./kms-v2-client.js";

describe("KMS v1beta1 client", () => {
  let dir: string;
  let plugin: FakeKmsPlugin;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-kmsv1-"));
    plugin = await startFakeKmsPlugin({ socketPath: join(dir, "kms.sock") });
  });

  after(async () => {
    await plugin.close();
    rmSync(dir, { recursive: true, force: true });
  });

  beforeEach(() => {
    plugin.resetCounters();
    plugin.clearFailures();
    plugin.delay("all", 0);
    plugin.v1Version = "v1beta1";
  });

  test("Version is called exactly once, first; every request carries v1beta1", async () => {
    const client = createKmsV1Client({ endpoint: plugin.endpoint });
    try {
      assert.equal(client.runtime, undefined);
      const dek = randomBytes(32);
      // Concurrent first calls share one handshake.
      const [c1, c2] = await Promise.all([client.encrypt(dek), client.encrypt(Buffer.from("other"))]);
      assert.equal(c1.toString(), dek.toString("base64"));
      assert.equal(c2.toString(), Buffer.from("other").toString("base64"));
      assert.deepEqual(await client.decrypt(c1), dek);
      assert.deepEqual(await client.decrypt(c2), Buffer.from("other"));

      assert.equal(plugin.calls.v1Version, 1);
      assert.equal(plugin.calls.v1Encrypt, 2);
      assert.equal(plugin.calls.v1Decrypt, 2);
      assert.deepEqual(plugin.v1RequestVersions, Array(5).fill("v1beta1"));
      assert.deepEqual(client.runtime, { name: "fake-kms-plugin", version: "0.0.1" });
      assert.equal(plugin.lastAuthority, "localhost");
    } finally {
      client.close();
    }
  });

  test("a plugin that answers another version is refused, and the handshake is retried", async () => {
    plugin.v1Version = "v2";
    const client = createKmsV1Client({ endpoint: plugin.endpoint });
    try {
      const err = await client.encrypt(Buffer.from("x")).catch((e: unknown) => e);
      assert.ok(isAtrestError(err, "failed-precondition"), String(err));
      assert.match(err.message, /"v2" is not supported, only v1beta1/);
      assert.equal(plugin.calls.v1Encrypt, 0, "no Encrypt before a good handshake");

      plugin.v1Version = "v1beta1";
      await client.encrypt(Buffer.from("x"));
      assert.equal(plugin.calls.v1Version, 2);
      assert.equal(plugin.calls.v1Encrypt, 1);
    } finally {
      client.close();
    }
  });

  test("a failed Version call is retried by the next call", async () => {
    plugin.failWith("v1Version", grpc.status.UNAVAILABLE, "starting");
    const client = createKmsV1Client({ endpoint: plugin.endpoint });
    try {
      const err = await client.decrypt(Buffer.from("eA==")).catch((e: unknown) => e);
      assert.ok(isAtrestError(err, "unavailable"), String(err));
      plugin.clearFailures();
      assert.deepEqual(await client.decrypt(Buffer.from("eA==")), Buffer.from("x"));
      assert.equal(plugin.calls.v1Version, 2);
    } finally {
      client.close();
    }
  });

  test("timeout → deadline-exceeded; plugin errors keep their gRPC code", async () => {
    const client = createKmsV1Client({ endpoint: plugin.endpoint, timeoutMs: 200 });
    try {
      plugin.delay("v1Encrypt", 5_000);
      const slow = await client.encrypt(Buffer.from("x")).catch((e: unknown) => e);
      assert.ok(isAtrestError(slow, "deadline-exceeded"), String(slow));
      assert.equal(slow.details.method, "/v1beta1.KeyManagementService/Encrypt");
      plugin.delay("v1Encrypt", 0);
      plugin.failWith("v1Decrypt", grpc.status.INVALID_ARGUMENT, "bad ciphertext");
      const bad = await client.decrypt(Buffer.from("x")).catch((e: unknown) => e);
      assert.ok(isAtrestError(bad, "invalid-argument"), String(bad));
      assert.equal(bad.details.grpcCode, "INVALID_ARGUMENT");
    } finally {
      client.close();
    }
  });

  test("v1 and v2 clients share one plugin socket", async () => {
    const v1 = createKmsV1Client({ endpoint: plugin.endpoint });
    const v2 = createKmsV2Client({ endpoint: plugin.endpoint });
    try {
      assert.deepEqual(await v1.decrypt(await v1.encrypt(Buffer.from("a"))), Buffer.from("a"));
      assert.equal((await v2.status()).version, "v2");
    } finally {
      v1.close();
      v2.close();
    }
  });

  test("server down → unavailable", async () => {
    const client = createKmsV1Client({ endpoint: `unix://${join(dir, "nobody.sock")}` });
    try {
      const err = await client.encrypt(Buffer.from("x")).catch((e: unknown) => e);
      assert.ok(isAtrestError(err, "unavailable"), String(err));
      assert.equal(err.retryable, true);
    } finally {
      client.close();
    }
  });

  test("over an abstract socket", async () => {
    const name = `atrest-v1-${process.pid}-${randomBytes(4).toString("hex")}`;
    const abstract = await startFakeKmsPlugin({ socketPath: `@${name}` });
    const client = createKmsV1Client({ endpoint: `unix:///@${name}` });
    try {
      assert.deepEqual(await client.decrypt(await client.encrypt(Buffer.from("z"))), Buffer.from("z"));
      assert.equal(abstract.calls.v1Version, 1);
    } finally {
      client.close();
      await abstract.close();
    }
  });
});
