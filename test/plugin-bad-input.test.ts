/**
 * Bad input on the plugin socket, sent with a raw gRPC client (the at-rest core's clients refuse to
 * send most of it): each case is a gRPC error with a clear message, and the plugin keeps serving.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { randomBytes } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { kmsV1beta1ServiceDefinition, kmsV2ServiceDefinition } from "../src/proto/index.js";
import { startPlugin, type RunningPlugin } from "../src/plugin/plugin.js";

type Wire = Record<string, unknown>;

function call(
  client: grpc.Client,
  service: grpc.ServiceDefinition,
  method: string,
  request: Wire,
): Promise<{ code: grpc.status; details: string; response?: Wire }> {
  const def = service[method] as grpc.MethodDefinition<Wire, Wire>;
  return new Promise((resolve) => {
    client.makeUnaryRequest(
      def.path,
      def.requestSerialize,
      def.responseDeserialize,
      request,
      { deadline: Date.now() + 5_000 },
      (err, response) => {
        if (err) resolve({ code: err.code, details: err.details });
        else resolve({ code: grpc.status.OK, details: "", ...(response ? { response } : {}) });
      },
    );
  });
}

describe("atrest plugin, bad input on the socket", { timeout: 60_000 }, () => {
  let dir: string;
  let plugin: RunningPlugin;
  let client: grpc.Client;
  const v2 = kmsV2ServiceDefinition();
  const v1 = kmsV1beta1ServiceDefinition();
  let good: { ciphertext: Buffer; key_id: string; annotations: Record<string, Buffer> };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-plugin-bad-"));
    const keyFile = join(dir, "kek");
    writeFileSync(keyFile, randomBytes(32).toString("base64"), { mode: 0o600 });
    plugin = await startPlugin({
      listen: `unix://${join(dir, "kms.sock")}`,
      backend: { kind: "local", keks: [{ keyFile }] },
    });
    client = new grpc.Client(`unix:${join(dir, "kms.sock")}`, grpc.credentials.createInsecure());
    const res = await call(client, v2, "Encrypt", { plaintext: Buffer.from("good"), uid: "u1" });
    assert.equal(res.code, grpc.status.OK);
    good = res.response as typeof good;
  });

  after(async () => {
    client?.close();
    await plugin?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const cases: Array<{
    name: string;
    service: "v2" | "v1";
    method: string;
    request: () => Wire;
    code: grpc.status;
    message: RegExp;
  }> = [
    {
      name: "empty plaintext",
      service: "v2",
      method: "Encrypt",
      request: () => ({ plaintext: Buffer.alloc(0), uid: "u" }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /plaintext must not be empty/,
    },
    {
      name: "oversized plaintext",
      service: "v2",
      method: "Encrypt",
      request: () => ({ plaintext: Buffer.alloc(5000, 1), uid: "u" }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /at most 4608/,
    },
    {
      name: "garbage ciphertext",
      service: "v2",
      method: "Decrypt",
      request: () => ({
        ciphertext: randomBytes(64),
        key_id: good.key_id,
        annotations: good.annotations,
        uid: "u",
      }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /ciphertext/,
    },
    {
      name: "empty ciphertext",
      service: "v2",
      method: "Decrypt",
      request: () => ({ ciphertext: Buffer.alloc(0), key_id: good.key_id, uid: "u" }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /ciphertext must not be empty/,
    },
    {
      name: "tampered ciphertext",
      service: "v2",
      method: "Decrypt",
      request: () => {
        const bad = Buffer.from(good.ciphertext);
        bad[bad.length - 1]! ^= 1;
        return { ciphertext: bad, key_id: good.key_id, annotations: good.annotations, uid: "u" };
      },
      code: grpc.status.INVALID_ARGUMENT,
      message: /failed authentication/,
    },
    {
      name: "unknown annotation",
      service: "v2",
      method: "Decrypt",
      request: () => ({
        ciphertext: good.ciphertext,
        key_id: good.key_id,
        annotations: { ...good.annotations, "evil.example.com": Buffer.from("x") },
        uid: "u",
      }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /evil\.example\.com/,
    },
    {
      name: "wrong key_id",
      service: "v2",
      method: "Decrypt",
      request: () => ({
        ciphertext: good.ciphertext,
        key_id: "local:00000000000000000000000000000000",
        annotations: good.annotations,
        uid: "u",
      }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /key_id does not match/,
    },
    {
      name: "empty key_id",
      service: "v2",
      method: "Decrypt",
      request: () => ({ ciphertext: good.ciphertext, key_id: "", annotations: good.annotations, uid: "u" }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /key_id must not be empty/,
    },
    {
      name: "oversized key_id",
      service: "v2",
      method: "Decrypt",
      request: () => ({ ciphertext: good.ciphertext, key_id: "k".repeat(2000), uid: "u" }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /key_id is over 1024/,
    },
    {
      name: "v1 wrong version",
      service: "v1",
      method: "Encrypt",
      request: () => ({ version: "v1", plain: Buffer.from("x") }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /v1beta1/,
    },
    {
      name: "v1 empty plaintext",
      service: "v1",
      method: "Encrypt",
      request: () => ({ version: "v1beta1", plain: Buffer.alloc(0) }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /plaintext must not be empty/,
    },
    {
      name: "v1 garbage ciphertext",
      service: "v1",
      method: "Decrypt",
      request: () => ({ version: "v1beta1", cipher: Buffer.from("not a ciphertext") }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /ciphertext/,
    },
    {
      name: "v1 Version with the wrong version",
      service: "v1",
      method: "Version",
      request: () => ({ version: "v2" }),
      code: grpc.status.INVALID_ARGUMENT,
      message: /v1beta1/,
    },
  ];

  for (const c of cases) {
    it(`${c.service} ${c.method}: ${c.name} → ${grpc.status[c.code]}`, async () => {
      const res = await call(client, c.service === "v2" ? v2 : v1, c.method, c.request());
      assert.equal(grpc.status[res.code], grpc.status[c.code], res.details);
      assert.match(res.details, c.message);
    });
  }

  it("still serves after all of that", async () => {
    const status = await call(client, v2, "Status", {});
    assert.equal(status.code, grpc.status.OK);
    assert.equal(status.response?.["healthz"], "ok");
    const res = await call(client, v2, "Decrypt", {
      ciphertext: good.ciphertext,
      key_id: good.key_id,
      annotations: good.annotations,
      uid: "u",
    });
    assert.deepEqual(res.response?.["plaintext"], Buffer.from("good"));
    const metrics = await plugin.metrics.registry.metrics();
    assert.match(
      metrics,
      /atrest_plugin_grpc_calls_total\{method="v2\/Decrypt",code="INVALID_ARGUMENT"\} [1-9]/,
    );
  });
});
