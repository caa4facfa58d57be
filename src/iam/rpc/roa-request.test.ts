import { test } from "node:test";
import assert from "node:assert/strict";
import { isAtrestError } from "../../common/errors.js";
import { computeSignatureRoa, contentMd5 } from "../signature/roa.js";
import { readRoaRequest } from "./roa-request.js";
import type { RpcHttpRequest } from "./rpc-request.js";

const SECRET = "s3cret";
const BODY = '{"disable_encryption":true}';

function request(
  over: Partial<RpcHttpRequest> = {},
  headers: Record<string, string> = {},
  omit: readonly string[] = [],
): RpcHttpRequest {
  const h: Record<string, string> = {
    accept: "application/json",
    date: "Wed, 02 Dec 2026 14:00:00 GMT",
    "content-type": "application/json",
    "content-md5": contentMd5(BODY),
    "x-acs-signature-nonce": "n-1",
    "x-acs-signature-method": "HMAC-SHA1",
    "x-acs-version": "2015-12-15",
    ...headers,
  };
  for (const name of omit) delete h[name];
  const base = { method: "PUT", pathname: "/clusters/c1/kms", query: { a: "1" }, rawBody: Buffer.from(BODY) };
  const signature = computeSignatureRoa({ ...base, headers: h, accessKeySecret: SECRET });
  return {
    ...base,
    headers: { ...h, authorization: `acs LTAIkey:${signature}` },
    sourceIp: "127.0.0.1",
    ...over,
  };
}

const read = (r: RpcHttpRequest) =>
  readRoaRequest(r, String(r.headers["authorization"]), "UpdateKMSEncryption");

function refusedWith(code: string) {
  return (e: unknown) => isAtrestError(e) && e.details?.["acsCode"] === code;
}

test("a signed request reads as the operation's, and verifies with its secret only", () => {
  const r = read(request());
  assert.deepEqual(
    [r.accessKeyId, r.action, r.version, r.nonce, r.timestamp],
    ["LTAIkey", "UpdateKMSEncryption", "2015-12-15", "n-1", "Wed, 02 Dec 2026 14:00:00 GMT"],
  );
  assert.equal(r.securityToken, undefined);
  assert.ok(r.verify(SECRET));
  assert.ok(!r.verify("other"));
});

test("a body that is not the one Content-MD5 names fails verification; no Content-MD5 leaves it unsigned", () => {
  assert.ok(!read(request({ rawBody: Buffer.from('{"disable_encryption":false}') })).verify(SECRET));
  const other = Buffer.from("{}");
  assert.ok(read(request({}, {}, ["content-md5"])).verify(SECRET));
  assert.ok(
    read(request({ rawBody: other }, {}, ["content-md5"])).verify(SECRET),
    "the SDKs' v2: body unsigned",
  );
});

test("what no ROA client sends is refused before any key is looked up", () => {
  assert.throws(
    () => read(request({}, { "x-acs-signature-method": "HMAC-SHA256" })),
    refusedWith("UnsupportedSignatureMethod"),
  );
  assert.throws(
    () => read(request({}, { "x-acs-signature-version": "2.0" })),
    refusedWith("InvalidParameter"),
  );
  assert.throws(
    () => read(request({}, { "x-acs-accesskey-id": "LTAIother" })),
    refusedWith("IncompleteSignature"),
  );
  assert.throws(() => read(request({ query: { a: ["1", "2"] } })), refusedWith("InvalidParameter"));
  assert.throws(
    () => readRoaRequest(request(), "acs LTAIkey:short", "UpdateKMSEncryption"),
    refusedWith("IncompleteSignature"),
  );
});

test("a signed x-acs-action and an STS token are read as sent (the caller checks the action)", () => {
  const r = read(request({}, { "x-acs-action": "DeleteCluster", "x-acs-security-token": "tok" }));
  assert.equal(r.action, "DeleteCluster");
  assert.equal(r.securityToken, "tok");
  assert.ok(r.verify(SECRET));
});
