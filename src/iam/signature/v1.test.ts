import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { canonicalQueryV1, computeSignatureV1, percentEncode, stringToSignV1 } from "./v1.js";
import { percentEncodeBytes } from "./percent-encode.js";

const require = createRequire(import.meta.url);
const openApiUtil = (
  require("@alicloud/openapi-util") as {
    default: { getRPCSignature(params: Record<string, string>, method: string, secret: string): string };
  }
).default;
type RpcClient = new (config: {
  endpoint: string;
  apiVersion: string;
  accessKeyId: string;
  accessKeySecret: string;
}) => {
  request(action: string, params: Record<string, unknown>, opts?: Record<string, unknown>): Promise<unknown>;
};
const { RPCClient } = require("@alicloud/pop-core") as { RPCClient: RpcClient };

const SECRET = "testsecret/+=&%*~ é";
const PARAMS: Record<string, string> = {
  Action: "Encrypt",
  Version: "2016-01-20",
  Format: "JSON",
  AccessKeyId: "LTAIexample",
  SignatureMethod: "HMAC-SHA1",
  SignatureVersion: "1.0",
  SignatureNonce: "5f1b3c5e-0000-4000-8000-000000000000",
  Timestamp: "2026-11-22T08:00:00Z",
  KeyId: "key-hzz6f2a6b0c1d2e3f4g5",
  Plaintext: "aGVsbG8gd29ybGQ=", // base64 with '='
  EncryptionContext: '{"a b":"c*d~e(f)!\'g","ü":"日本"}',
  "EncryptionContext.x": "y z",
};

test("percentEncode keeps unreserved characters and encodes everything else as RFC 3986 says", () => {
  assert.equal(percentEncode("AZaz09-_.~"), "AZaz09-_.~");
  assert.equal(percentEncode(" "), "%20");
  assert.equal(percentEncode("*"), "%2A");
  assert.equal(percentEncode("!'()"), "%21%27%28%29");
  assert.equal(percentEncode("/+=&"), "%2F%2B%3D%26");
  assert.equal(percentEncode("é"), "%C3%A9");
  assert.equal(percentEncode("日"), "%E6%97%A5");
});

test("percentEncode equals the byte-by-byte definition for every character class, lone surrogates too", () => {
  const samples: string[] = ["", "a", "😀", "\ud800", "x\udfffy", "\u0000\u007f\u0080", "ZZ%20"];
  for (let cp = 0; cp < 0x3000; cp++) samples.push(String.fromCharCode(cp));
  for (let i = 0; i < 200; i++) {
    let s = "";
    for (let j = 0; j < 12; j++) s += String.fromCharCode(Math.floor(Math.random() * 0x10000));
    samples.push(s);
  }
  for (const s of samples) assert.equal(percentEncode(s), percentEncodeBytes(s), JSON.stringify(s));
});

test("canonicalQueryV1 sorts by name, skips Signature and encodes names and values", () => {
  assert.equal(canonicalQueryV1({ b: "2 3", a: "1", Signature: "x", "C.d": "*" }), "C.d=%2A&a=1&b=2%203");
});

test("stringToSignV1 is METHOD&%2F&enc(canonical)", () => {
  assert.equal(stringToSignV1("get", { A: "x y" }), "GET&%2F&A%3Dx%2520y");
});

test("computeSignatureV1 equals @alicloud/openapi-util getRPCSignature (GET and POST)", () => {
  for (const method of ["GET", "POST"]) {
    assert.equal(
      computeSignatureV1(method, PARAMS, SECRET),
      openApiUtil.getRPCSignature(PARAMS, method, SECRET),
    );
  }
  // and it ignores a Signature parameter already present
  assert.equal(
    computeSignatureV1("GET", { ...PARAMS, Signature: "abc" }, SECRET),
    computeSignatureV1("GET", PARAMS, SECRET),
  );
  // and a different secret or parameter changes it
  assert.notEqual(computeSignatureV1("GET", PARAMS, SECRET + "x"), computeSignatureV1("GET", PARAMS, SECRET));
  assert.notEqual(
    computeSignatureV1("GET", { ...PARAMS, KeyId: "k2" }, SECRET),
    computeSignatureV1("GET", PARAMS, SECRET),
  );
});

/** Receives one request from @alicloud/pop-core and returns its merged parameters and method. */
async function capturePopCoreRequest(
  method: "GET" | "POST",
): Promise<{ method: string; params: Record<string, string> }> {
  let captured: { method: string; params: Record<string, string> } | undefined;
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const params: Record<string, string> = {};
      const url = new URL(req.url ?? "/", "http://x");
      for (const [k, v] of url.searchParams) params[k] = v;
      for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString("utf8"))) params[k] = v;
      captured = { method: req.method ?? "", params };
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ RequestId: "r1" }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const client = new RPCClient({
      endpoint: `http://127.0.0.1:${port}`,
      apiVersion: "2016-01-20",
      accessKeyId: "LTAIexample",
      accessKeySecret: SECRET,
    });
    await client.request(
      "Encrypt",
      { KeyId: "alias/my key", Plaintext: "aGk=", EncryptionContext: '{"a":"b*c (d)"}' },
      { method, timeout: 10_000 },
    );
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  assert.ok(captured);
  return captured;
}

for (const method of ["GET", "POST"] as const) {
  test(`a real @alicloud/pop-core ${method} request verifies with computeSignatureV1`, async () => {
    const { method: m, params } = await capturePopCoreRequest(method);
    assert.equal(m, method);
    const signature = params["Signature"];
    assert.ok(signature !== undefined && signature.length > 0);
    assert.equal(params["KeyId"], "alias/my key");
    assert.equal(computeSignatureV1(m, params, SECRET), signature);
    assert.notEqual(computeSignatureV1(m, { ...params, KeyId: "alias/other" }, SECRET), signature);
  });
}
