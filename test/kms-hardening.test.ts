/**
 * atrest kms under careless and hostile input (issue 16): malformed Tags, alias existence oracles,
 * responses outside the API (unknown routes, methods, oversized bodies) and Format=XML, all shaped as
 * Alibaba Cloud shapes them.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import https from "node:https";
import { createRequire } from "node:module";
import { after, before, describe, it } from "node:test";
import { queryAuditEvents } from "../src/kms/audit-log.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";

const require = createRequire(import.meta.url);

/** A plain HTTPS request (no signature): what arrives outside the API. */
function request(
  url: string,
  ca: string | undefined,
  options: { method: string; path: string; body?: string | Buffer; headers?: Record<string, string> },
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; text: string }> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    const req = https.request(
      {
        hostname: u.hostname,
        port: u.port,
        method: options.method,
        path: options.path,
        headers: {
          ...(options.body === undefined
            ? {}
            : { "content-length": String(Buffer.byteLength(options.body)) }),
          ...options.headers,
        },
        ...(ca === undefined ? {} : { ca }),
      },
      (res) => {
        let text = "";
        res.on("data", (c: Buffer) => (text += c.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, text }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

/** The official SDK's XML reader (what @alicloud/openapi-client parses an XML error with). */
const { default: TeaXML } = require("@alicloud/tea-xml") as {
  default: { parseXml(body: string, clazz: unknown): Record<string, unknown> };
};

function assertAlibabaError(body: Record<string, unknown>, code: string): void {
  assert.equal(body.Code, code, JSON.stringify(body));
  for (const f of ["RequestId", "HostId", "Code", "Message", "Recommend"])
    assert.equal(typeof body[f], "string", `${f} in ${JSON.stringify(body)}`);
  assert.ok(String(body.Recommend).includes(String(body.RequestId)));
}

describe("atrest kms: bad input is refused the way Alibaba Cloud refuses it", () => {
  let dir: string;
  let server: KmsServer;
  let admin: KmsRpcTestClient;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-kms-hardening-"));
    await initKmsDataDir({ dataDir: dir, accountId: "1234567890123456" });
    server = await startKmsServer({ dataDir: dir, schedulerIntervalMs: 0, cacheTtlMs: 0 });
    const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    admin = new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: server.caCertPem });
  });

  after(async () => {
    admin.close();
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const keyCount = async () => Number((await admin.call("ListKeys", { PageSize: "100" })).TotalCount);

  it("CreateKey validates Tags (JSON array of {TagKey, TagValue}, Alibaba's limits) and changes nothing on bad ones", async () => {
    const before = await keyCount();
    const bad: Array<[string, RegExp]> = [
      ["not json", /Tags: must be valid JSON/],
      ['{"TagKey":"a","TagValue":"b"}', /JSON array/],
      ['["a"]', /Tags\[0\]/],
      ['[{"TagKey":"a"}]', /Tags\[0\]/],
      ['[{"TagKey":"a","TagValue":1}]', /Tags\[0\]/],
      ['[{"Key":"a","Value":"b"}]', /Tags\[0\].*TagKey/],
      ['[{"TagKey":"a","TagValue":"b","Extra":"c"}]', /Tags\[0\]: unknown field Extra/],
      ['[{"TagKey":"","TagValue":"b"}]', /Tags\[0\]\.TagKey/],
      [JSON.stringify([{ TagKey: "k".repeat(129), TagValue: "" }]), /Tags\[0\]\.TagKey.*128/],
      [JSON.stringify([{ TagKey: "k", TagValue: "v".repeat(129) }]), /Tags\[0\]\.TagValue.*128/],
      ['[{"TagKey":"aliyun-x","TagValue":"b"}]', /Tags\[0\]\.TagKey.*aliyun/],
      ['[{"TagKey":"ALIYUN","TagValue":"b"}]', /Tags\[0\]\.TagKey.*aliyun/],
      ['[{"TagKey":"acs:x","TagValue":"b"}]', /Tags\[0\]\.TagKey.*acs:/],
      ['[{"TagKey":"see http://x","TagValue":"b"}]', /Tags\[0\]\.TagKey.*http/],
      ['[{"TagKey":"k","TagValue":"acs:y"}]', /Tags\[0\]\.TagValue.*acs:/],
      ['[{"TagKey":"k","TagValue":"https://y"}]', /Tags\[0\]\.TagValue.*http/],
      ['[{"TagKey":"k\\u0000","TagValue":"v"}]', /Tags\[0\]\.TagKey.*control/],
      ['[{"TagKey":"k","TagValue":"a"},{"TagKey":"k","TagValue":"b"}]', /Tags\[1\]\.TagKey.*Tags\[0\]/],
      [
        JSON.stringify(Array.from({ length: 21 }, (_, i) => ({ TagKey: `k${i}`, TagValue: "" }))),
        /at most 20/,
      ],
    ];
    for (const [tags, message] of bad) {
      const res = await admin.raw("CreateKey", { Tags: tags });
      assert.equal(res.status, 400, `${tags}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.Code, "InvalidParameter", tags);
      assert.match(String(res.body.Message), message, tags);
    }
    assert.equal(await keyCount(), before, "no key was created by a refused CreateKey");

    const created = await admin.call("CreateKey", {
      Tags: '[{"TagKey":"team","TagValue":"infra"},{"TagKey":"empty","TagValue":""}]',
    });
    const keyId = String((created.KeyMetadata as Record<string, unknown>).KeyId);
    const tags = await admin.call("ListResourceTags", { KeyId: keyId });
    assert.deepEqual((tags.Tags as Record<string, unknown>).Tag, [
      { KeyId: keyId, TagKey: "empty", TagValue: "" },
      { KeyId: keyId, TagKey: "team", TagValue: "infra" },
    ]);
    // TagResource applies the same rules.
    const res = await admin.raw("TagResource", { KeyId: keyId, Tags: '[{"TagKey":"acs:x","TagValue":"b"}]' });
    assert.equal(res.body.Code, "InvalidParameter");
    const audited = (await queryAuditEvents(server.kdb, {})).find((e) => e.request_id === res.body.RequestId);
    assert.equal(audited?.error_code, "InvalidParameter");
  });

  it("an unknown alias and an unauthorized one get the same 403 (no existence oracle); an allowed caller learns 404", async () => {
    const mine = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    const theirs = String(((await admin.call("CreateKey", {})).KeyMetadata as Record<string, unknown>).KeyId);
    await admin.call("CreateAlias", { AliasName: "alias/theirs", KeyId: theirs });
    await server.access.createPrincipal("narrow");
    await server.access.createPolicy(
      "only-mine",
      JSON.stringify({
        Version: "1",
        Statement: [{ Effect: "Allow", Action: "kms:*", Resource: `acs:kms:*:*:key/${mine}` }],
      }),
    );
    await server.access.attachPolicy("only-mine", "narrow");
    const ak = await server.access.createAccessKey("narrow");
    const narrow = new KmsRpcTestClient({
      url: server.url,
      accessKeyId: ak.accessKeyId,
      accessKeySecret: ak.accessKeySecret,
      caCertPem: server.caCertPem,
    });
    try {
      const ask = (action: string, params: Record<string, string>) => narrow.raw(action, params);
      const shape = (r: { status: number; body: Record<string, unknown> }, name: string) => ({
        status: r.status,
        code: r.body.Code,
        message: String(r.body.Message).replaceAll(name, "<name>"),
      });
      for (const [action, params] of [
        ["Encrypt", (name: string) => ({ KeyId: name, Plaintext: "eA==" })],
        ["DescribeKey", (name: string) => ({ KeyId: name })],
        ["DeleteAlias", (name: string) => ({ AliasName: name })],
      ] as const) {
        const existing = await ask(action, params("alias/theirs"));
        const unknown = await ask(action, params("alias/nobody-has-this"));
        assert.equal(existing.status, 403, `${action}: ${JSON.stringify(existing.body)}`);
        assert.deepEqual(shape(unknown, "alias/nobody-has-this"), shape(existing, "alias/theirs"), action);
        assert.doesNotMatch(
          String(existing.body.Message),
          new RegExp(theirs),
          "the key behind the alias is not named",
        );
      }
      // The same for key ids and ARNs: an unknown one looks like one the caller may not touch.
      const unknownKey = await ask("DescribeKey", { KeyId: "00000000-0000-4000-8000-000000000000" });
      const otherKey = await ask("DescribeKey", { KeyId: theirs });
      assert.deepEqual(shape(unknownKey, "00000000-0000-4000-8000-000000000000"), shape(otherKey, theirs));
      assert.equal((await ask("DescribeKey", { KeyId: mine })).status, 200);
    } finally {
      narrow.close();
    }
    // The admin, allowed on every alias and key, is told what does not exist.
    const missing = await admin.raw("Encrypt", { KeyId: "alias/nobody-has-this", Plaintext: "eA==" });
    assert.equal(missing.status, 404);
    assert.equal(missing.body.Code, "Forbidden.AliasNotFound");
    const missingKey = await admin.raw("DescribeKey", { KeyId: "00000000-0000-4000-8000-000000000000" });
    assert.equal(missingKey.body.Code, "Forbidden.KeyNotFound");
  });

  it("outside the API every answer is Alibaba-shaped: 404 unknown path, 405 method (with Allow), 413 body", async () => {
    const ca = server.caCertPem;
    const auditBefore = (await queryAuditEvents(server.kdb, {})).length;
    const notFound = await request(server.url, ca, { method: "GET", path: "/no/such/path?Action=ListKeys" });
    assert.equal(notFound.status, 404);
    assert.equal(notFound.headers["content-type"], "application/json;charset=utf-8");
    assertAlibabaError(JSON.parse(notFound.text) as Record<string, unknown>, "InvalidAction.NotFound");
    assert.match(notFound.text, /Specified api is not found, please check your url and method/);

    for (const method of ["PUT", "DELETE", "PATCH", "OPTIONS"]) {
      const res = await request(server.url, ca, { method, path: "/", body: "Action=ListKeys" });
      assert.equal(res.status, 405, method);
      assert.equal(res.headers.allow, "GET, POST");
      assertAlibabaError(JSON.parse(res.text) as Record<string, unknown>, "UnsupportedHTTPMethod");
    }
    const head = await request(server.url, ca, { method: "HEAD", path: "/" });
    assert.equal(head.status, 405);
    const postHealth = await request(server.url, ca, { method: "POST", path: "/healthz", body: "" });
    assert.equal(postHealth.status, 405);
    assert.equal(postHealth.headers.allow, "GET");

    // Over the limit: refused before it is read, as form, JSON or any other body.
    for (const type of [
      "application/x-www-form-urlencoded",
      "application/json",
      "application/octet-stream",
    ]) {
      const big = await request(server.url, ca, {
        method: "POST",
        path: "/",
        body: Buffer.alloc(65 * 1024, "a"),
        headers: { "content-type": type },
      });
      assert.equal(big.status, 413, type);
      assertAlibabaError(JSON.parse(big.text) as Record<string, unknown>, "EntityTooLarge");
    }
    // Just under it reaches the API (and fails there, unsigned, as an API error).
    const under = await request(server.url, ca, {
      method: "POST",
      path: "/",
      body: `Action=ListKeys&Pad=${"a".repeat(60 * 1024)}`,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    assert.equal(under.status, 400);
    assertAlibabaError(JSON.parse(under.text) as Record<string, unknown>, "MissingParameter");
    // None of the refusals outside the API left an audit record; the API error did.
    assert.equal((await queryAuditEvents(server.kdb, {})).length, auditBefore + 1);
    const metrics = await request(server.url, ca, { method: "GET", path: "/metrics" });
    assert.match(metrics.text, /code="UnsupportedHTTPMethod"/);
    assert.match(metrics.text, /code="EntityTooLarge"/);
  });

  it("Format=XML answers XML as Alibaba does (results and errors), read by the official SDK's XML parser", async () => {
    const keyId = String(
      ((await admin.call("CreateKey", { Description: "a < b & c" })).KeyMetadata as Record<string, unknown>)
        .KeyId,
    );
    const described = await admin.raw("DescribeKey", { KeyId: keyId, Format: "XML" });
    assert.equal(described.status, 200);
    const xml = String(described.body.raw);
    assert.match(xml, /^<\?xml version="1.0" encoding="UTF-8"\?><DescribeKeyResponse>/);
    const parsed = TeaXML.parseXml(xml, null);
    const root = parsed.DescribeKeyResponse as Record<string, unknown>;
    assert.equal(typeof root.RequestId, "string");
    const md = root.KeyMetadata as Record<string, unknown>;
    assert.equal(md.KeyId, keyId);
    assert.equal(md.Description, "a < b & c");
    assert.equal(md.KeyState, "Enabled");

    // Lists: the wrapper holds its item element repeated.
    await admin.call("TagResource", {
      KeyId: keyId,
      Tags: '[{"TagKey":"a","TagValue":"1"},{"TagKey":"b","TagValue":"2"}]',
    });
    const tags = await admin.raw("ListResourceTags", { KeyId: keyId, Format: "xml" });
    const tagRoot = TeaXML.parseXml(String(tags.body.raw), null).ListResourceTagsResponse as Record<
      string,
      unknown
    >;
    assert.deepEqual((tagRoot.Tags as Record<string, unknown>).Tag, [
      { KeyId: keyId, TagKey: "a", TagValue: "1" },
      { KeyId: keyId, TagKey: "b", TagValue: "2" },
    ]);

    // Errors: <Error> with the same five fields.
    const missing = await admin.raw("DescribeKey", {
      KeyId: "00000000-0000-4000-8000-000000000000",
      Format: "XML",
    });
    assert.equal(missing.status, 404);
    const err = TeaXML.parseXml(String(missing.body.raw), null).Error as Record<string, unknown>;
    assertAlibabaError(err, "Forbidden.KeyNotFound");
    const notFound = await request(server.url, server.caCertPem, { method: "GET", path: "/nope?Format=XML" });
    assert.equal(notFound.headers["content-type"], "text/xml;charset=utf-8");
    assertAlibabaError(
      TeaXML.parseXml(notFound.text, null).Error as Record<string, unknown>,
      "InvalidAction.NotFound",
    );

    // A Format that is neither is refused (in JSON).
    const yaml = await admin.raw("DescribeKey", { KeyId: keyId, Format: "YAML" });
    assert.equal(yaml.body.Code, "InvalidParameter");
    assert.match(String(yaml.body.Message), /Format: must be JSON or XML/);
  });

  it("@alicloud/openapi-client with Format=XML: V1 reads the XML result, V3 parses the XML error itself", async () => {
    const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    const mod = require("@alicloud/openapi-client") as {
      default: new (c: unknown) => {
        doRPCRequest(
          action: string,
          version: string,
          protocol: string,
          method: string,
          authType: string,
          bodyType: string,
          request: unknown,
          runtime: unknown,
        ): Promise<{ body: unknown; headers: Record<string, string>; statusCode: number }>;
        callApi(p: unknown, r: unknown, rt: unknown): Promise<{ body: unknown; statusCode: number }>;
      };
      Config: new (m: Record<string, unknown>) => unknown;
      Params: new (m: Record<string, unknown>) => unknown;
      OpenApiRequest: new (m: Record<string, unknown>) => unknown;
    };
    const { RuntimeOptions } = require("@alicloud/tea-util") as {
      RuntimeOptions: new (m: Record<string, unknown>) => unknown;
    };
    const client = new mod.default(
      new mod.Config({
        ...creds,
        endpoint: new URL(server.url).host,
        protocol: "https",
        ca: server.caCertPem,
      }),
    );
    const runtime = new RuntimeOptions({ autoretry: false, readTimeout: 30_000, connectTimeout: 10_000 });
    // V1 (HMAC-SHA1): the SDK lets a request's query override its default Format=json.
    const v1 = await client.doRPCRequest(
      "ListKeys",
      "2016-01-20",
      "HTTPS",
      "POST",
      "AK",
      "string",
      new mod.OpenApiRequest({ query: { Format: "XML", PageSize: "1" } }),
      runtime,
    );
    assert.equal(v1.statusCode, 200);
    assert.equal(v1.headers["content-type"], "text/xml;charset=utf-8");
    const list = TeaXML.parseXml(String(v1.body), null).ListKeysResponse as Record<string, unknown>;
    assert.equal(list.PageSize, "1");
    assert.equal(typeof (list.Keys as { Key: { KeyId: string } }).Key.KeyId, "string");
    // V3 (ACS3-HMAC-SHA256): the same request answers an XML error (seen raw here), which the SDK
    // reads with its own XML branch (it takes that branch only for exactly text/xml;charset=utf-8).
    const rawV3 = await admin.raw(
      "DescribeKey",
      { KeyId: "no-such-key", Format: "XML" },
      { signatureVersion: "v3" },
    );
    assert.match(String(rawV3.body.raw), /^<\?xml version="1.0" encoding="UTF-8"\?><Error><RequestId>/);
    await assert.rejects(
      client.callApi(
        new mod.Params({
          action: "DescribeKey",
          version: "2016-01-20",
          protocol: "HTTPS",
          pathname: "/",
          method: "POST",
          authType: "AK",
          style: "RPC",
          reqBodyType: "formData",
          bodyType: "json",
        }),
        new mod.OpenApiRequest({ query: { KeyId: "no-such-key", Format: "XML" } }),
        runtime,
      ),
      (e: unknown) => {
        const err = e as { code?: string; data?: { statusCode?: number; HostId?: string } };
        assert.equal(err.code, "Forbidden.KeyNotFound");
        assert.equal(err.data?.statusCode, 404);
        assert.equal(typeof err.data?.HostId, "string");
        return true;
      },
    );
  });
});
