/**
 * AtrestKmsSdkClient overrides the SDK's `doRequest` (rpc-client 1.3.2 drops RuntimeOptions `ca` and
 * `extendsParameters.headers`, which the plugin needs). These tests prove the override puts on the wire
 * exactly what the stock SDK does for the same call — method, path, query string, headers (in order),
 * body and signature — apart from the headers it was asked to add. Both clients send to a local HTTP
 * server that records the raw requests, with the SDK's nonce and timestamp pinned so the two requests
 * (and their signatures) must be byte-identical; each signature is also checked independently.
 */
import { after, afterEach, before, beforeEach, describe, it, mock } from "node:test";
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { computeSignatureV1 } from "../iam/signature/index.js";
import { AtrestKmsSdkClient, KmsHttpError, SdkConfig, kmsSdk, sdkRuntime } from "./alibaba-sdk-client.js";

// The very module objects rpc-client (and so both clients) call for the nonce and the timestamp.
const sdkRequire = createRequire(createRequire(import.meta.url).resolve("@alicloud/rpc-client"));
const teaUtil = (sdkRequire("@alicloud/tea-util") as { default: { getNonce(): string } }).default;
const rpcUtil = (sdkRequire("@alicloud/rpc-util") as { default: { getTimestamp(): string } }).default;

const NONCE = "0f1e2d3c-fixed-nonce";
const TIMESTAMP = "2024-05-06T07:08:09Z";
const SECRET = "SK-wire-test";

interface Captured {
  method: string;
  url: string;
  /** Header names (lower-cased) and values, in the order sent. */
  headers: Array<[string, string]>;
  body: string;
}

function params(c: Captured): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of new URL(c.url, "http://x").searchParams) out[k] = v;
  if (c.body !== "") for (const [k, v] of new URLSearchParams(c.body)) out[k] = v;
  return out;
}

describe("AtrestKmsSdkClient.doRequest on the wire", () => {
  let server: Server;
  let host: string;
  const captured: Captured[] = [];
  let reply: { status: number; body: Record<string, unknown> } = { status: 200, body: {} };

  before(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString("utf8")));
      req.on("end", () => {
        const headers: Array<[string, string]> = [];
        for (let i = 0; i < req.rawHeaders.length; i += 2)
          headers.push([req.rawHeaders[i]!.toLowerCase(), req.rawHeaders[i + 1]!]);
        captured.push({ method: req.method ?? "", url: req.url ?? "", headers, body });
        res.writeHead(reply.status, { "content-type": "application/json" });
        res.end(JSON.stringify(reply.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });
  beforeEach(() => {
    captured.length = 0;
    reply = {
      status: 200,
      body: { RequestId: "r-1", CiphertextBlob: "QUJD", KeyId: "key-1", KeyVersionId: "ver-1" },
    };
    mock.method(teaUtil, "getNonce", () => NONCE);
    mock.method(rpcUtil, "getTimestamp", () => TIMESTAMP);
  });
  afterEach(() => mock.restoreAll());

  const config = (securityToken?: string) =>
    new SdkConfig({
      accessKeyId: "AK-wire-test",
      accessKeySecret: SECRET,
      ...(securityToken ? { securityToken } : {}),
      regionId: "cn-hangzhou",
      endpoint: host,
      protocol: "http",
      connectTimeout: 2_000,
      readTimeout: 5_000,
    });
  const runtime = (headers: Record<string, string> = {}) =>
    sdkRuntime({ readTimeoutMs: 5_000, connectTimeoutMs: 2_000, headers });

  /** One call through the stock SDK client, then the same through ours; returns both requests. */
  async function both(
    send: (
      client: InstanceType<typeof kmsSdk.default>,
      rt: ReturnType<typeof sdkRuntime>,
    ) => Promise<unknown>,
    options: { securityToken?: string; headers?: Record<string, string> } = {},
  ): Promise<{ stock: Captured; ours: Captured }> {
    await send(new kmsSdk.default(config(options.securityToken)), runtime(options.headers));
    await send(new AtrestKmsSdkClient(config(options.securityToken), undefined), runtime(options.headers));
    assert.equal(captured.length, 2, "exactly one attempt each");
    return { stock: captured[0]!, ours: captured[1]! };
  }

  function assertSignedV1(c: Captured): void {
    const p = params(c);
    assert.equal(p["SignatureNonce"], NONCE, "the nonce was pinned");
    assert.equal(p["Timestamp"], TIMESTAMP, "the timestamp was pinned");
    assert.equal(p["SignatureMethod"], "HMAC-SHA1");
    assert.equal(p["SignatureVersion"], "1.0");
    assert.equal(p["Signature"], computeSignatureV1(c.method, p, SECRET), "signature verifies");
  }

  it("Encrypt (parameters in the query of a POST): identical requests", async () => {
    const { stock, ours } = await both((client, rt) =>
      client.encryptEx(
        new kmsSdk.EncryptRequest({ keyId: "alias/k8s", plaintext: Buffer.from("seed").toString("base64") }),
        rt,
      ),
    );
    assert.deepEqual(ours, stock);
    assert.equal(ours.method, "POST");
    assert.equal(new URL(ours.url, "http://x").pathname, "/");
    assert.equal(params(ours)["Action"], "Encrypt");
    assert.equal(params(ours)["KeyId"], "alias/k8s");
    assert.ok(ours.headers.some(([k, v]) => k === "host" && v === host));
    assertSignedV1(stock);
    assertSignedV1(ours);
  });

  it("with an STS token and the uid header: identical but for the added header", async () => {
    const uid = { "x-atrest-uid": "uid-0123-abcd" };
    const { stock, ours } = await both(
      (client, rt) => client.decryptEx(new kmsSdk.DecryptRequest({ ciphertextBlob: "QUJD+/=" }), rt),
      { securityToken: "sts-token-1", headers: uid },
    );
    assert.deepEqual(
      ours.headers.filter(([k]) => k === "x-atrest-uid"),
      [["x-atrest-uid", "uid-0123-abcd"]],
    );
    assert.equal(
      stock.headers.some(([k]) => k === "x-atrest-uid"),
      false,
      "the stock SDK cannot send it",
    );
    assert.deepEqual({ ...ours, headers: ours.headers.filter(([k]) => k !== "x-atrest-uid") }, stock);
    assert.equal(params(ours)["SecurityToken"], "sts-token-1");
    assertSignedV1(ours);
  });

  it("a form body (doRequest with body): same body, content-type and signature over query + body", async () => {
    const { stock, ours } = await both((client, rt) =>
      client.doRequest(
        "Encrypt",
        "HTTPS",
        "POST",
        "2016-01-20",
        "AK",
        { KeyId: "key-1", EncryptionContext: { a: "b c" } },
        { Plaintext: "c2VlZA==", Note: "ü & =" },
        rt,
      ),
    );
    assert.deepEqual(ours, stock);
    assert.ok(
      ours.headers.some(([k, v]) => k === "content-type" && v === "application/x-www-form-urlencoded"),
    );
    assert.equal(new URLSearchParams(ours.body).get("Note"), "ü & =");
    assertSignedV1(ours);
  });

  it("an error answer: one attempt each, the same KMS error data", async () => {
    reply = {
      status: 409,
      body: { RequestId: "r-2", HostId: "kms", Code: "Rejected.Disabled", Message: "key is disabled" },
    };
    const send = (client: InstanceType<typeof kmsSdk.default>) =>
      client.describeKeyEx(new kmsSdk.DescribeKeyRequest({ keyId: "key-1" }), runtime() as never).then(
        () => assert.fail("expected a rejection"),
        (e: unknown) => e,
      );
    const stockErr = (await send(new kmsSdk.default(config()))) as { data?: unknown; code?: unknown };
    const oursErr = await send(new AtrestKmsSdkClient(config(), undefined));
    assert.equal(captured.length, 2);
    assert.deepEqual(captured[1], captured[0]);
    assert.ok(oursErr instanceof KmsHttpError);
    assert.equal(oursErr.httpStatus, 409);
    assert.deepEqual(oursErr.data, stockErr.data);
    assert.equal(stockErr.code, "Rejected.DisabledError");
  });
});
