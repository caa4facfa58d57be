/**
 * atrest kms under careless and hostile input (issue 16): malformed Tags, alias existence oracles,
 * responses outside the API (unknown routes, methods, oversized bodies) and Format=XML, all shaped as
 * Alibaba Cloud shapes them.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { queryAuditEvents } from "../src/kms/audit-log.js";
import { initKmsDataDir } from "../src/kms/init.js";
import { KmsRpcTestClient } from "../src/kms/rpc-test-client.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";

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
});
