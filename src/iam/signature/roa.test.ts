import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingHttpHeaders } from "node:http";
import { createRequire } from "node:module";
import type { AddressInfo } from "node:net";
import { parse as parseQuery } from "node:querystring";
import { isAtrestError } from "../../common/errors.js";
import { computeSignatureRoa, contentMd5, HTTP_DATE, parseAuthorizationRoa, stringToSignRoa } from "./roa.js";

const require = createRequire(import.meta.url);
type RoaClient = {
  request(
    method: string,
    uriPattern: string,
    query?: Record<string, string>,
    body?: string,
    headers?: Record<string, string>,
  ): Promise<unknown>;
};
const ROAClient = (
  require("@alicloud/pop-core") as { ROAClient: new (config: Record<string, unknown>) => RoaClient }
).ROAClient;
const openApiUtil = (
  require("@alicloud/openapi-util") as {
    default: {
      getStringToSign(request: {
        method: string;
        pathname: string;
        query: Record<string, string>;
        headers: Record<string, string>;
      }): string;
      getROASignature(stringToSign: string, secret: string): string;
    };
  }
).default;

const SECRET = "roa-secret/+= ü";
const AK = "LTAIroaexample";

interface Captured {
  method: string;
  pathname: string;
  query: Record<string, string>;
  headers: Record<string, string>;
  body: Buffer;
}

function flat(h: IncomingHttpHeaders): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) if (v !== undefined) out[k] = Array.isArray(v) ? v.join(",") : v;
  return out;
}

/** One request of pop-core's ROAClient (unmodified but for its endpoint) as a server receives it. */
async function capture(
  call: (client: RoaClient) => Promise<unknown>,
  creds: { securityToken?: string } = {},
): Promise<Captured> {
  let got: Captured | undefined;
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = req.url ?? "/";
      const q = url.indexOf("?");
      const query: Record<string, string> = {};
      for (const [k, v] of Object.entries(parseQuery(q < 0 ? "" : url.slice(q + 1))))
        query[k] = Array.isArray(v) ? v.join(",") : (v ?? "");
      got = {
        method: req.method ?? "",
        pathname: q < 0 ? url : url.slice(0, q),
        query,
        headers: flat(req.headers),
        body: Buffer.concat(chunks),
      };
      res.writeHead(200, { "content-type": "application/json" }).end("{}");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const { port } = server.address() as AddressInfo;
    const client = new ROAClient({
      endpoint: `http://127.0.0.1:${port}`,
      apiVersion: "2015-12-15",
      accessKeyId: AK,
      accessKeySecret: SECRET,
      ...creds,
    });
    await call(client);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
  assert.ok(got !== undefined);
  return got;
}

function verifies(c: Captured, secret = SECRET): boolean {
  const auth = parseAuthorizationRoa(c.headers["authorization"] ?? "");
  assert.equal(auth.accessKeyId, AK);
  return computeSignatureRoa({ ...c, accessKeySecret: secret }) === auth.signature;
}

test("a GET of pop-core's ROAClient verifies: path, sorted decoded query (empty value too), x-acs-* headers", async () => {
  const c = await capture((client) =>
    client.request("GET", "/clusters/c0123", { page_size: "10", name: "a b&c=d ü", Empty: "", "z*": "~x" }),
  );
  assert.match(c.headers["date"] ?? "", HTTP_DATE);
  assert.equal(c.headers["content-md5"], contentMd5(""));
  assert.ok(verifies(c));
  assert.ok(!verifies(c, "another secret"));
  // Any signed part changed breaks it: the query, the path, a nonce, the date.
  assert.ok(!verifies({ ...c, query: { ...c.query, page_size: "11" } }));
  assert.ok(!verifies({ ...c, pathname: "/clusters/c0124" }));
  assert.ok(!verifies({ ...c, headers: { ...c.headers, "x-acs-signature-nonce": "other" } }));
  assert.ok(!verifies({ ...c, headers: { ...c.headers, date: "Thu, 03 Dec 2026 00:00:00 GMT" } }));
});

test("a PUT with a JSON body verifies, Content-MD5 and Content-Type signed", async () => {
  const body = JSON.stringify({ disable_encryption: false, kms_key_id: "key-1" });
  const c = await capture((client) =>
    client.request("PUT", "/clusters/c0123/kms", {}, body, { "Content-Type": "application/json" }),
  );
  assert.equal(c.body.toString(), body);
  assert.equal(c.headers["content-md5"], contentMd5(body));
  assert.ok(verifies(c));
  assert.ok(!verifies({ ...c, headers: { ...c.headers, "content-type": "text/plain" } }));
  assert.ok(!verifies({ ...c, headers: { ...c.headers, "content-md5": contentMd5("{}") } }));
});

test("an STS key's request signs x-acs-security-token and x-acs-accesskey-id", async () => {
  const c = await capture((client) => client.request("GET", "/clusters/c0123"), { securityToken: "tok-ü/1" });
  assert.equal(c.headers["x-acs-security-token"], "tok-ü/1");
  assert.equal(c.headers["x-acs-accesskey-id"], AK);
  assert.ok(verifies(c));
  assert.ok(!verifies({ ...c, headers: { ...c.headers, "x-acs-security-token": "tok-2" } }));
});

test("the string to sign is openapi-util's getStringToSign (the official SDKs' signature v2)", () => {
  const request = {
    method: "POST",
    pathname: "/clusters",
    query: { b: "2", a: "1 ü", empty: "" },
    headers: {
      accept: "application/json",
      "content-md5": contentMd5("{}"),
      "content-type": "application/json; charset=utf-8",
      date: "Wed, 02 Dec 2026 14:00:00 GMT",
      host: "127.0.0.1:9444",
      "x-acs-signature-nonce": "n-1",
      "x-acs-signature-method": "HMAC-SHA1",
      "x-acs-signature-version": "1.0",
      "x-acs-version": "2015-12-15",
      "x-acs-action": "CreateCluster",
      "x-acs-meta": "  tab\there  ",
      "user-agent": "not signed",
    },
  };
  const ours = stringToSignRoa(request);
  assert.equal(ours, openApiUtil.getStringToSign(request));
  assert.equal(
    ours,
    [
      "POST",
      "application/json",
      contentMd5("{}"),
      "application/json; charset=utf-8",
      "Wed, 02 Dec 2026 14:00:00 GMT",
      "x-acs-action:CreateCluster",
      "x-acs-meta:tab here",
      "x-acs-signature-method:HMAC-SHA1",
      "x-acs-signature-nonce:n-1",
      "x-acs-signature-version:1.0",
      "x-acs-version:2015-12-15",
      "/clusters?a=1 ü&b=2&empty=",
    ].join("\n"),
  );
  assert.equal(
    computeSignatureRoa({ ...request, accessKeySecret: SECRET }),
    openApiUtil.getROASignature(ours, SECRET),
  );
});

test("a malformed Authorization is refused naming the rule, without echoing it", () => {
  for (const bad of [
    "acs",
    "acs LTAIx",
    "acs :AQEBAQEBAQEBAQEBAQEBAQEBAQE=",
    "acs LTAIx:not base64!",
    "acs LTAIx:c2ln",
    "ACS3-HMAC-SHA256 Credential=x",
    "Bearer abc",
  ]) {
    assert.throws(
      () => parseAuthorizationRoa(bad),
      (e: unknown) =>
        isAtrestError(e) &&
        e.code === "invalid-argument" &&
        !/LTAIx|c2ln|AQEB|base64!|Credential=x|abc/.test(e.message),
      bad,
    );
  }
  const ok = parseAuthorizationRoa("acs STS.abc:AQEBAQEBAQEBAQEBAQEBAQEBAQE=");
  assert.equal(ok.accessKeyId, "STS.abc");
});
