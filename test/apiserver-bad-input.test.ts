/**
 * Bad and hostile bodies through the real HTTPS handler (issue 16): no key is special (`__proto__`,
 * `toString`, `constructor`), nesting limits answer 400, malformed JSON is described as Go's decoder
 * describes it without echoing the body, and library errors caused by the input are 4xx, never 500.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import {
  decodeProtobufObject,
  encodeProtobufObject,
  PROTOBUF_MEDIA_TYPE,
} from "../src/kube-object/protobuf-codec.js";
import { call, type Reply } from "./support/api-call.js";

const S = "/api/v1/namespaces/default/secrets";
const JSON_TYPE = "application/json";

function dataOf(reply: Reply): Record<string, unknown> {
  assert.ok(reply.status < 300, `${reply.status} ${reply.body.toString().slice(0, 300)}`);
  return (reply.json().data ?? {}) as Record<string, unknown>;
}

function failure(reply: Reply, code: number): string {
  assert.equal(reply.status, code, reply.body.toString().slice(0, 300));
  const body = reply.json();
  assert.equal(body.kind, "Status");
  return String(body.message);
}

describe("apiserver: hostile bodies", () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-bad-input-"));
    store = new MemoryStore();
    server = await startApiServer({ store, dataDir: dir, securePort: 0 });
  });
  after(async () => {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const create = (name: string, extra: string): Promise<Reply> =>
    call(server, "POST", S, {
      contentType: JSON_TYPE,
      body: `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"${name}"}${extra}}`,
    });

  test("a data key __proto__ is kept by every way of writing, and stored and returned", async () => {
    assert.deepEqual(
      dataOf(await create("p-json", ',"data":{"__proto__":"eA==","toString":"eQ=="}')),
      JSON.parse('{"__proto__":"eA==","toString":"eQ=="}'),
    );
    assert.deepEqual(Object.keys(dataOf(await call(server, "GET", `${S}/p-json`))), [
      "__proto__",
      "toString",
    ]);
    const yaml = await call(server, "POST", S, {
      contentType: "application/yaml",
      body: "apiVersion: v1\nkind: Secret\nmetadata: {name: p-yaml}\ndata: {__proto__: eA==}\n",
    });
    assert.deepEqual(Object.keys(dataOf(yaml)), ["__proto__"]);
    assert.deepEqual(Object.keys(dataOf(await create("p-string", ',"stringData":{"__proto__":"x"}'))), [
      "__proto__",
    ]);
    const pb = encodeProtobufObject(
      JSON.parse(
        '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"p-pb"},"data":{"__proto__":"eA==","toString":"eQ=="}}',
      ) as Record<string, unknown>,
    );
    const viaPb = await call(server, "POST", S, { contentType: PROTOBUF_MEDIA_TYPE, body: pb });
    assert.deepEqual(Object.keys(dataOf(viaPb)), ["__proto__", "toString"]);
    const pbBack = await call(server, "GET", `${S}/p-pb`, { accept: PROTOBUF_MEDIA_TYPE });
    assert.deepEqual(Object.keys(decodeProtobufObject(pbBack.body).data as object), [
      "__proto__",
      "toString",
    ]);
    const applied = await call(server, "PATCH", `${S}/p-apply?fieldManager=t`, {
      contentType: "application/apply-patch+yaml",
      body: "apiVersion: v1\nkind: Secret\nmetadata: {name: p-apply}\ndata: {__proto__: eA==}\n",
    });
    assert.deepEqual(Object.keys(dataOf(applied)), ["__proto__"]);

    // Patches that add the key to an object without it.
    for (const [type, body] of [
      ["application/merge-patch+json", '{"data":{"__proto__":"eg=="}}'],
      ["application/strategic-merge-patch+json", '{"data":{"__proto__":"eg=="}}'],
      ["application/json-patch+json", '[{"op":"add","path":"/data/__proto__","value":"eg=="}]'],
    ] as const) {
      const name = `p-${type.split("/")[1]?.split("+")[0] ?? ""}`;
      dataOf(await create(name, ',"data":{"k":"eA=="}'));
      const patched = await call(server, "PATCH", `${S}/${name}`, { contentType: type, body });
      assert.deepEqual(dataOf(patched), { k: "eA==", ["__proto__"]: "eg==" }, type);
      assert.deepEqual(
        Object.keys(dataOf(await call(server, "GET", `${S}/${name}`))),
        ["k", "__proto__"],
        type,
      );
    }
    const replaced = await call(server, "PUT", `${S}/p-json`, {
      contentType: JSON_TYPE,
      body: '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"p-json"},"data":{"__proto__":"cQ=="}}',
    });
    assert.deepEqual(dataOf(replaced), { ["__proto__"]: "cQ==" });
  });

  test("__proto__ in a patch never makes the result inherit fields", async () => {
    dataOf(await create("inherit", ',"data":{"k":"eA=="}'));
    for (const type of ["application/merge-patch+json", "application/strategic-merge-patch+json"]) {
      const r = await call(server, "PATCH", `${S}/inherit`, {
        contentType: type,
        body: '{"__proto__":{"immutable":true},"metadata":{"__proto__":{"labels":{"a":"b"}}}}',
      });
      const obj = r.json();
      assert.equal(r.status, 200, type);
      assert.equal(obj.immutable, undefined, type);
      assert.equal((obj.metadata as { labels?: unknown }).labels, undefined, type);
      assert.equal(Object.hasOwn(obj, "__proto__"), false, "an unknown top-level field is dropped");
    }
    // The immutable flag really is not set: the data can still change.
    dataOf(
      await call(server, "PATCH", `${S}/inherit`, {
        contentType: "application/merge-patch+json",
        body: '{"data":{"k":"eQ=="}}',
      }),
    );
  });

  test("Object.prototype names are unknown fields like any other (own keys only)", async () => {
    const body =
      '{"apiVersion":"v1","kind":"Secret","metadata":{"name":"strict","toString":"x","hasOwnProperty":"y"},"constructor":1,"valueOf":2}';
    const msg = failure(
      await call(server, "POST", `${S}?fieldValidation=Strict`, { contentType: JSON_TYPE, body }),
      400,
    );
    for (const f of ["metadata.toString", "metadata.hasOwnProperty", "constructor", "valueOf"])
      assert.match(msg, new RegExp(`unknown field "${f}"`));
    const warned = await call(server, "POST", S, { contentType: JSON_TYPE, body });
    assert.equal(warned.status, 201);
    const obj = warned.json();
    assert.equal(Object.hasOwn(obj, "constructor"), false);
    assert.equal(Object.hasOwn(obj.metadata as object, "toString"), false);
    assert.match(String(warned.headers.warning), /unknown field \\"constructor\\"/);
    // A field name holding '.' or '[' is pruned too.
    const dotted = await create("dotted", ',"a.b[0]":1,"metadata.name":"x"');
    assert.equal(dotted.status, 201);
    assert.deepEqual(Object.keys(dotted.json()).sort(), ["apiVersion", "kind", "metadata", "type"]);
  });

  test("nesting: kube's 10,000-level limit is 400 for bodies; deep unknown fields are dropped", async () => {
    const arrays = (n: number): string => "[".repeat(n) + "]".repeat(n);
    const objects = (n: number): string => '{"a":'.repeat(n) + "1" + "}".repeat(n);
    assert.match(
      failure(await create("deep", `,"x":${arrays(10_001)}`), 400),
      /cannot be handled as a Secret: couldn't get version\/kind; json parse error: invalid character '\[' exceeded max depth$/,
    );
    const kept = await create("deep-ok", `,"x":${objects(9_990)},"data":{"k":"eA=="}`);
    assert.equal(kept.status, 201);
    assert.equal(kept.json().x, undefined);
    assert.match(
      failure(
        await call(server, "POST", S, {
          contentType: "application/yaml",
          body: `apiVersion: v1\nkind: Secret\nmetadata: {name: y}\nx: ${arrays(10_000)}`,
        }),
        400,
      ),
      /yaml: exceeded max depth/,
    );
    for (const type of ["application/merge-patch+json", "application/strategic-merge-patch+json"])
      assert.match(
        failure(
          await call(server, "PATCH", `${S}/deep-ok`, { contentType: type, body: `{"x":${objects(5_000)}}` }),
          400,
        ),
        /error decoding patch: invalid character '\{' exceeded max depth/,
      );
    failure(
      await call(server, "PATCH", `${S}/deep-ok`, {
        contentType: "application/json-patch+json",
        body: `[{"op":"add","path":"/x","value":${arrays(5_000)}}]`,
      }),
      400,
    );
    const mf = `,"metadata":{"name":"mf","managedFields":[{"manager":"m","operation":"Update","fieldsType":"FieldsV1","fieldsV1":${'{"f:a":'.repeat(3000)}{}${"}".repeat(3000)}}]}`;
    assert.match(
      failure(
        await call(server, "POST", S, {
          contentType: JSON_TYPE,
          body: `{"apiVersion":"v1","kind":"Secret"${mf}}`,
        }),
        400,
      ),
      /exceeded max depth/,
    );
  });

  test("json-patch paths through __proto__ or constructor are 4xx, never 500", async () => {
    dataOf(await create("jp", ',"data":{"k":"eA=="}'));
    for (const path of [
      "/__proto__/polluted",
      "/constructor/prototype/x",
      "/data/toString/x",
      "/metadata/__proto__",
    ]) {
      const r = await call(server, "PATCH", `${S}/jp`, {
        contentType: "application/json-patch+json",
        body: JSON.stringify([{ op: path === "/metadata/__proto__" ? "remove" : "add", path, value: "x" }]),
      });
      assert.equal(r.status, 422, `${path}: ${r.body.toString()}`);
      assert.equal(r.json().reason, "Invalid");
    }
    assert.equal(({} as { polluted?: unknown }).polluted, undefined);
    failure(
      await call(server, "PATCH", `${S}/jp`, {
        contentType: "application/json-patch+json",
        body: '{"op":"add"}',
      }),
      400,
    );
    failure(
      await call(server, "PATCH", `${S}/jp`, {
        contentType: "application/json-patch+json",
        body: '[{"op":"frobnicate","path":"/a"}]',
      }),
      422,
    );
    // A test op and a move keep working.
    const moved = await call(server, "PATCH", `${S}/jp`, {
      contentType: "application/json-patch+json",
      body: '[{"op":"test","path":"/data/k","value":"eA=="},{"op":"move","from":"/data/k","path":"/data/__proto__"}]',
    });
    assert.deepEqual(dataOf(moved), { ["__proto__"]: "eA==" });
  });

  test("a malformed JSON body's error is Go's decoder text and never echoes the body", async () => {
    const secretish = "c3VwZXItc2VjcmV0LXZhbHVl";
    const r = await create("m", `,"data":{"k":"${secretish}"} trailing-${secretish}`);
    const msg = failure(r, 400);
    assert.equal(
      msg,
      `Secret in version "v1" cannot be handled as a Secret: couldn't get version/kind; json parse error: invalid character 't' after object key:value pair`,
    );
    assert.ok(!r.body.toString().includes(secretish));
    for (const body of [`{"data":{"k":"${secretish}`, `{"data": ${secretish}}`, `[${secretish}`]) {
      const reply = await call(server, "POST", S, { contentType: JSON_TYPE, body });
      failure(reply, 400);
      assert.ok(!reply.body.toString().includes(secretish.slice(2, 10)), reply.body.toString());
      const patched = await call(server, "PATCH", `${S}/jp`, {
        contentType: "application/merge-patch+json",
        body,
      });
      failure(patched, 400);
      assert.ok(!patched.body.toString().includes(secretish.slice(2, 10)), patched.body.toString());
    }
  });
});
