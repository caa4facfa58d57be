import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { isAtrestError } from "../../common/errors.js";
import {
  canonicalQueryV3,
  canonicalRequestV3,
  computeSignatureV3,
  parseAuthorizationV3,
  sha256Hex,
  signRequestV3,
} from "./v3.js";
import { constantTimeEqual } from "./constant-time.js";

const require = createRequire(import.meta.url);
const openApiUtil = (
  require("@alicloud/openapi-util") as {
    default: {
      getAuthorization(
        request: {
          method: string;
          pathname: string;
          query: Record<string, string>;
          headers: Record<string, string>;
        },
        algorithm: string,
        payload: string,
        accessKeyId: string,
        accessKeySecret: string,
      ): string;
    };
  }
).default;

const SECRET = "v3-secret/+= ü";
const AK = "LTAIv3example";

function sdkRequest() {
  const body = "KeyId=key-1&Plaintext=aGk%3D";
  return {
    body,
    request: {
      method: "POST",
      pathname: "/",
      query: { Zeta: "z *z", alpha: "a~b", Empty: "" },
      headers: {
        host: "127.0.0.1:8443",
        "x-acs-action": "Encrypt",
        "x-acs-version": "2016-01-20",
        "x-acs-date": "2026-11-22T08:00:00Z",
        "x-acs-signature-nonce": "0b6a1f1e-aaaa-4bbb-8ccc-123456789abc",
        "x-acs-content-sha256": sha256Hex(body),
        "content-type": "application/x-www-form-urlencoded",
        "user-agent": "not signed",
        accept: "application/json",
      } as Record<string, string>,
    },
  };
}

test("computeSignatureV3 equals @alicloud/openapi-util getAuthorization", () => {
  const { request, body } = sdkRequest();
  const auth = openApiUtil.getAuthorization(request, "ACS3-HMAC-SHA256", sha256Hex(body), AK, SECRET);
  const parsed = parseAuthorizationV3(auth);
  assert.equal(parsed.accessKeyId, AK);
  assert.deepEqual(parsed.signedHeaders, [
    "content-type",
    "host",
    "x-acs-action",
    "x-acs-content-sha256",
    "x-acs-date",
    "x-acs-signature-nonce",
    "x-acs-version",
  ]);
  const ours = computeSignatureV3({
    method: "POST",
    pathname: "/",
    query: request.query,
    headers: request.headers,
    signedHeaders: parsed.signedHeaders,
    bodySha256Hex: sha256Hex(body),
    accessKeySecret: SECRET,
  });
  assert.equal(ours, parsed.signature);
  assert.ok(constantTimeEqual(ours, parsed.signature));
  // a changed signed header, query value, body or secret gives another signature
  const base = {
    method: "POST",
    pathname: "/",
    query: request.query,
    headers: request.headers,
    signedHeaders: parsed.signedHeaders,
    bodySha256Hex: sha256Hex(body),
    accessKeySecret: SECRET,
  };
  assert.notEqual(
    computeSignatureV3({ ...base, headers: { ...request.headers, "x-acs-action": "Decrypt" } }),
    ours,
  );
  assert.notEqual(computeSignatureV3({ ...base, query: { ...request.query, alpha: "a" } }), ours);
  assert.notEqual(computeSignatureV3({ ...base, bodySha256Hex: sha256Hex(body + "x") }), ours);
  assert.notEqual(computeSignatureV3({ ...base, accessKeySecret: SECRET + "x" }), ours);
  // an unsigned header does not matter
  assert.equal(computeSignatureV3({ ...base, headers: { ...request.headers, "user-agent": "other" } }), ours);
});

test("signRequestV3 produces headers that the SDK's algorithm agrees with", () => {
  const body = "a=b";
  const headers = signRequestV3({
    method: "POST",
    host: "localhost:1234",
    action: "DescribeKey",
    version: "2016-01-20",
    body,
    contentType: "application/x-www-form-urlencoded",
    accessKeyId: AK,
    accessKeySecret: SECRET,
    date: new Date("2026-11-22T08:00:00.123Z"),
    nonce: "n-1",
  });
  assert.equal(headers["x-acs-date"], "2026-11-22T08:00:00Z");
  const { authorization, ...rest } = headers;
  assert.ok(authorization);
  const sdk = openApiUtil.getAuthorization(
    { method: "POST", pathname: "/", query: {}, headers: rest },
    "ACS3-HMAC-SHA256",
    sha256Hex(body),
    AK,
    SECRET,
  );
  assert.equal(authorization, sdk);
});

test("canonicalQueryV3 sorts, encodes, keeps empty values and sorts repeated values", () => {
  assert.equal(canonicalQueryV3({ b: ["2", "1"], a: "x y*", c: "" }), "a=x%20y%2A&b=1&b=2&c=");
});

test("canonicalRequestV3 has the documented layout (blank line after the headers)", () => {
  const cr = canonicalRequestV3({
    method: "get",
    pathname: "/",
    query: {},
    headers: { host: "h:1", "x-acs-action": " A " },
    signedHeaders: ["x-acs-action", "host"],
    bodySha256Hex: "AB",
  });
  assert.equal(cr, "GET\n/\n\nhost:h:1\nx-acs-action:A\n\nhost;x-acs-action\nab");
});

test("parseAuthorizationV3 rejects malformed headers with invalid-argument", () => {
  const sig = "a".repeat(64);
  const bad = [
    "",
    "ACS3-HMAC-SHA256",
    `ACS3-HMAC-SM3 Credential=AK,SignedHeaders=host,Signature=${sig}`,
    `ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host`,
    `ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=xyz`,
    `ACS3-HMAC-SHA256 Credential=,SignedHeaders=host,Signature=${sig}`,
    `ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=,Signature=${sig}`,
    `ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host;host,Signature=${sig}`,
    `ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=ho st,Signature=${sig}`,
    `ACS3-HMAC-SHA256 Credential=AK,Credential=AK,SignedHeaders=host,Signature=${sig}`,
    `ACS3-HMAC-SHA256 Credential=AK,SignedHeaders=host,Signature=${sig},Extra=1`,
    `ACS3-HMAC-SHA256 Credential=AK;SignedHeaders=host;Signature=${sig}`,
  ];
  for (const h of bad) {
    assert.throws(
      () => parseAuthorizationV3(h),
      (e) => isAtrestError(e, "invalid-argument") && !e.message.includes(sig),
      h,
    );
  }
  const ok = parseAuthorizationV3(
    `ACS3-HMAC-SHA256 Credential=AK, SignedHeaders=Host;X-Acs-Date, Signature=${sig.toUpperCase()}`,
  );
  assert.deepEqual(ok, { accessKeyId: "AK", signedHeaders: ["host", "x-acs-date"], signature: sig });
});

test("constantTimeEqual compares content and length", () => {
  assert.equal(constantTimeEqual("abc", "abc"), true);
  assert.equal(constantTimeEqual("abc", "abd"), false);
  assert.equal(constantTimeEqual("abc", "abcd"), false);
});

test("a real @alicloud/openapi-client (V3, callApi) request verifies with computeSignatureV3", async () => {
  const {
    default: OpenApiClient,
    Config,
    Params,
    OpenApiRequest,
  } = require("@alicloud/openapi-client") as {
    default: new (c: unknown) => { callApi(p: unknown, r: unknown, rt: unknown): Promise<unknown> };
    Config: new (m: Record<string, unknown>) => unknown;
    Params: new (m: Record<string, unknown>) => unknown;
    OpenApiRequest: new (m: Record<string, unknown>) => unknown;
  };
  const { RuntimeOptions } = require("@alicloud/tea-util") as {
    RuntimeOptions: new (m: Record<string, unknown>) => unknown;
  };
  let captured: { method: string; url: string; headers: Record<string, string>; body: Buffer } | undefined;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers[k] = v;
      captured = { method: req.method ?? "", url: req.url ?? "/", headers, body: Buffer.concat(chunks) };
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify({ RequestId: "r1" }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  try {
    const { port } = server.address() as AddressInfo;
    const client = new OpenApiClient(
      new Config({
        accessKeyId: AK,
        accessKeySecret: SECRET,
        endpoint: `127.0.0.1:${port}`,
        protocol: "http",
      }),
    );
    await client.callApi(
      new Params({
        action: "Encrypt",
        version: "2016-01-20",
        protocol: "HTTP",
        pathname: "/",
        method: "POST",
        authType: "AK",
        style: "RPC",
        reqBodyType: "formData",
        bodyType: "json",
      }),
      new OpenApiRequest({
        query: { KeyId: "alias/a b*" },
        body: { Plaintext: "aGk=", EncryptionContext: '{"k":"v"}' },
      }),
      new RuntimeOptions({ autoretry: false }),
    );
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  assert.ok(captured);
  const auth = parseAuthorizationV3(captured.headers["authorization"] ?? "");
  assert.equal(auth.accessKeyId, AK);
  const url = new URL(captured.url, "http://x");
  const query: Record<string, string> = {};
  for (const [k, v] of url.searchParams) query[k] = v;
  assert.equal(query["KeyId"], "alias/a b*");
  assert.equal(captured.headers["x-acs-content-sha256"], sha256Hex(captured.body));
  const ours = computeSignatureV3({
    method: captured.method,
    pathname: url.pathname,
    query,
    headers: captured.headers,
    signedHeaders: auth.signedHeaders,
    bodySha256Hex: sha256Hex(captured.body),
    accessKeySecret: SECRET,
  });
  assert.equal(ours, auth.signature);
});
