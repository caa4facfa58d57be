/** The apiserver's REST surface over HTTPS, request by request: Status errors, bad input, auth, watch, health. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { request } from "node:https";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { decodeProtobufObject, encodeProtobufObject } from "../src/kube-object/protobuf-codec.js";
import { call, type Reply } from "./support/api-call.js";

const json = "application/json";
const secret = (name: string, extra: Record<string, unknown> = {}): string =>
  JSON.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name }, stringData: { k: "v" }, ...extra });

function assertStatus(reply: Reply, code: number, reason: string, message?: RegExp): Record<string, unknown> {
  const body = reply.json();
  assert.equal(reply.status, code, reply.body.toString());
  assert.equal(body.kind, "Status");
  assert.equal(body.apiVersion, "v1");
  assert.equal(body.status, "Failure");
  assert.equal(body.reason, reason);
  assert.equal(body.code, code);
  if (message !== undefined) assert.match(String(body.message), message);
  return body;
}

describe("apiserver REST surface", () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;
  const S = "/api/v1/namespaces/default/secrets";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-api-"));
    store = new MemoryStore();
    server = await startApiServer({ store, dataDir: dir, securePort: 0, watchBookmarkIntervalMs: 100 });
  });
  after(async () => {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("version, discovery and OpenAPI documents", async () => {
    const v = (await call(server, "GET", "/version", { token: null })).json();
    assert.equal(v.major, "1");
    assert.equal(v.minor, "32");
    assert.equal(v.gitVersion, "v1.32.0-atrest");
    assert.deepEqual((await call(server, "GET", "/api")).json().versions, ["v1"]);
    assert.equal((await call(server, "GET", "/apis")).json().kind, "APIGroupList");
    const resources = (await call(server, "GET", "/api/v1")).json().resources as Array<{
      name: string;
      shortNames?: string[];
      namespaced: boolean;
      kind: string;
      verbs: string[];
    }>;
    assert.deepEqual(resources.map((r) => r.name).sort(), [
      "configmaps",
      "namespaces",
      "secrets",
      "serviceaccounts",
    ]);
    assert.deepEqual(resources.find((r) => r.name === "configmaps")?.shortNames, ["cm"]);
    assert.equal(resources.find((r) => r.name === "namespaces")?.namespaced, false);
    assert.ok(resources.find((r) => r.name === "secrets")?.verbs.includes("watch"));
    const aggregated = await call(server, "GET", "/api", {
      accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
    });
    assert.equal(
      aggregated.headers["content-type"],
      "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList",
    );
    const groups = aggregated.json() as {
      kind: string;
      items: Array<{
        versions: Array<{ version: string; resources: Array<{ resource: string; scope: string }> }>;
      }>;
    };
    assert.equal(groups.kind, "APIGroupDiscoveryList");
    assert.deepEqual(groups.items[0]?.versions[0]?.resources.map((r) => `${r.resource}:${r.scope}`).sort(), [
      "configmaps:Namespaced",
      "namespaces:Cluster",
      "secrets:Namespaced",
      "serviceaccounts:Namespaced",
    ]);
    const index = (await call(server, "GET", "/openapi/v3")).json() as {
      paths: Record<string, { serverRelativeURL: string }>;
    };
    const doc = (await call(server, "GET", index.paths["api/v1"]?.serverRelativeURL ?? "")).json() as {
      components: { schemas: Record<string, unknown> };
      paths: Record<string, { patch?: { parameters: Array<{ name: string }> } }>;
    };
    assert.ok(doc.components.schemas["io.k8s.api.core.v1.Secret"]);
    assert.ok(
      doc.paths["/api/v1/namespaces/{namespace}/secrets/{name}"]?.patch?.parameters.some(
        (p) => p.name === "fieldValidation",
      ),
    );
  });

  test("create, get, update with resourceVersion CAS (409 with kube's message), no-op update keeps the version", async () => {
    const created = await call(server, "POST", S, { body: secret("cas"), contentType: json });
    assert.equal(created.status, 201);
    const obj = created.json() as {
      metadata: { resourceVersion: string; uid: string };
      data: Record<string, string>;
      type: string;
      stringData?: unknown;
    };
    assert.equal(obj.type, "Opaque");
    assert.equal(obj.data.k, Buffer.from("v").toString("base64"));
    assert.equal(obj.stringData, undefined);
    const rv = obj.metadata.resourceVersion;
    const put = (body: unknown): Promise<Reply> =>
      call(server, "PUT", `${S}/cas`, { body: JSON.stringify(body), contentType: json });
    const same = await put(obj);
    assert.equal(same.status, 200);
    assert.equal(
      (same.json().metadata as { resourceVersion: string }).resourceVersion,
      rv,
      "nothing changed, nothing written",
    );
    const changed = await put({ ...obj, data: { k: Buffer.from("w").toString("base64") } });
    assert.equal(changed.status, 200);
    assert.notEqual((changed.json().metadata as { resourceVersion: string }).resourceVersion, rv);
    const stale = assertStatus(
      await put({ ...obj, data: { k: "eA==" } }),
      409,
      "Conflict",
      /^Operation cannot be fulfilled on secrets "cas": the object has been modified; please apply your changes to the latest version and try again$/,
    );
    assert.deepEqual(stale.details, { name: "cas", kind: "secrets" });
    const now = (await call(server, "GET", `${S}/cas`)).json() as { data: Record<string, string> };
    assert.equal(now.data.k, Buffer.from("w").toString("base64"), "the stale write changed nothing");
  });

  test("errors are Status objects with kube's reasons, and bad input stores nothing", async () => {
    const before = await store.currentRevision();
    assertStatus(await call(server, "GET", `${S}/missing`), 404, "NotFound", /^secrets "missing" not found$/);
    await call(server, "POST", S, { body: secret("dup"), contentType: json });
    const afterDup = await store.currentRevision();
    assertStatus(
      await call(server, "POST", S, { body: secret("dup"), contentType: json }),
      409,
      "AlreadyExists",
      /^secrets "dup" already exists$/,
    );
    assertStatus(await call(server, "POST", S, { body: "{not json", contentType: json }), 400, "BadRequest");
    assertStatus(
      await call(server, "POST", S, {
        body: Buffer.from("k8s\0\x0a\xff\xff", "latin1"),
        contentType: "application/vnd.kubernetes.protobuf",
      }),
      400,
      "BadRequest",
    );
    assertStatus(
      await call(server, "POST", `${S}?fieldValidation=Strict`, {
        body: secret("strict", { spec: { foo: 1 } }),
        contentType: json,
      }),
      400,
      "BadRequest",
      /strict decoding error: unknown field "spec"/,
    );
    assertStatus(
      await call(server, "POST", `${S}?fieldValidation=Strict`, {
        body: JSON.stringify({ kind: "Secret", metadata: { name: "s", foo: 1 } }),
        contentType: json,
      }),
      400,
      "BadRequest",
      /unknown field "metadata.foo"/,
    );
    assertStatus(
      await call(server, "POST", S, { body: secret("ct"), contentType: "text/plain" }),
      415,
      "UnsupportedMediaType",
    );
    assertStatus(
      await call(server, "POST", S, { body: Buffer.alloc(3 * 1024 * 1024 + 1, 0x20), contentType: json }),
      413,
      "RequestEntityTooLarge",
    );
    const inv = assertStatus(
      await call(server, "POST", S, { body: secret("Bad_Name"), contentType: json }),
      422,
      "Invalid",
      /^Secret "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
    );
    assert.deepEqual(
      (inv.details as { causes: Array<{ field: string; reason: string }> }).causes.map((c) => [
        c.field,
        c.reason,
      ]),
      [["metadata.name", "FieldValueInvalid"]],
    );
    assertStatus(
      await call(server, "POST", S, {
        body: JSON.stringify({ metadata: { name: "k" }, data: { "bad key": "eA==" } }),
        contentType: json,
      }),
      422,
      "Invalid",
      /data\[bad key\]: Invalid value: "bad key": a valid config key must consist of alphanumeric characters/,
    );
    assertStatus(
      await call(server, "POST", S, {
        body: JSON.stringify({ metadata: { name: "l", labels: { "bad label!": "x" } } }),
        contentType: json,
      }),
      422,
      "Invalid",
      /metadata.labels: Invalid value: "bad label!"/,
    );
    assertStatus(
      await call(server, "POST", "/api/v1/namespaces", {
        body: JSON.stringify({ metadata: { name: "has.dot" } }),
        contentType: json,
      }),
      422,
      "Invalid",
      /a lowercase RFC 1123 label must consist/,
    );
    assertStatus(
      await call(server, "POST", "/api/v1/namespaces/nowhere/secrets", {
        body: secret("x"),
        contentType: json,
      }),
      404,
      "NotFound",
      /^namespaces "nowhere" not found$/,
    );
    assertStatus(
      await call(server, "PATCH", `${S}/dup`, { body: "{}", contentType: "application/apply-patch+yaml" }),
      422,
      "Invalid",
      /^PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch$/,
    );
    assertStatus(
      await call(server, "PATCH", `${S}/dup`, { body: "{}", contentType: "application/apply-patch+cbor" }),
      415,
      "UnsupportedMediaType",
    );
    assertStatus(await call(server, "GET", "/api/v1/nothing"), 404, "NotFound");
    assertStatus(await call(server, "GET", `${S}/a%25b`), 400, "BadRequest", /name may not contain '%'/);
    assertStatus(await call(server, "GET", `${S}/%E0%A4%A`), 400, "BadRequest");
    assert.equal(await store.currentRevision(), afterDup, "no failed request wrote anything");
    assert.ok(afterDup > before);
  });

  test("immutable Secrets refuse data changes; type is immutable", async () => {
    const created = (
      await call(server, "POST", S, { body: secret("frozen", { immutable: true }), contentType: json })
    ).json();
    const changed = { ...created, data: { k: "eA==" } };
    assertStatus(
      await call(server, "PUT", `${S}/frozen`, { body: JSON.stringify(changed), contentType: json }),
      422,
      "Invalid",
      /^Secret "frozen" is invalid: data: Forbidden: field is immutable when `immutable` is set$/,
    );
    const relabel = await call(server, "PATCH", `${S}/frozen`, {
      body: JSON.stringify({ metadata: { labels: { ok: "yes" } } }),
      contentType: "application/merge-patch+json",
    });
    assert.equal(relabel.status, 200, "metadata may still change");
    assertStatus(
      await call(server, "PATCH", `${S}/frozen`, {
        body: JSON.stringify({ type: "kubernetes.io/basic-auth" }),
        contentType: "application/merge-patch+json",
      }),
      422,
      "Invalid",
      /type: Invalid value: "kubernetes.io\/basic-auth": field is immutable/,
    );
  });

  test("list pagination with limit/continue, label and field selectors", async () => {
    await call(server, "POST", "/api/v1/namespaces", {
      body: JSON.stringify({ metadata: { name: "paging" } }),
      contentType: json,
    });
    for (let i = 0; i < 7; i++) {
      const labels = { idx: String(i), parity: i % 2 === 0 ? "even" : "odd" };
      await call(server, "POST", "/api/v1/namespaces/paging/configmaps", {
        body: JSON.stringify({ metadata: { name: `c${i}`, labels }, data: { i: String(i) } }),
        contentType: json,
      });
    }
    const names: string[] = [];
    let cont: string | undefined;
    let pages = 0;
    do {
      const list = (
        await call(
          server,
          "GET",
          `/api/v1/namespaces/paging/configmaps?limit=3${cont !== undefined ? `&continue=${encodeURIComponent(cont)}` : ""}`,
        )
      ).json() as {
        kind: string;
        items: Array<{ metadata: { name: string } }>;
        metadata: { continue?: string; resourceVersion: string };
      };
      assert.equal(list.kind, "ConfigMapList");
      names.push(...list.items.map((i) => i.metadata.name));
      cont = list.metadata.continue;
      pages++;
    } while (cont !== undefined && pages < 10);
    assert.deepEqual(names, ["c0", "c1", "c2", "c3", "c4", "c5", "c6"]);
    assert.equal(pages, 3);
    const sel = async (q: string): Promise<string[]> =>
      (
        (await call(server, "GET", `/api/v1/namespaces/paging/configmaps?${q}`)).json().items as Array<{
          metadata: { name: string };
        }>
      ).map((i) => i.metadata.name);
    assert.deepEqual(await sel("labelSelector=parity%3Dodd"), ["c1", "c3", "c5"]);
    assert.deepEqual(await sel("labelSelector=idx%20in%20(1,2),parity!%3Deven"), ["c1"]);
    assert.deepEqual(await sel("labelSelector=parity%3Deven&limit=2"), ["c0", "c2"]);
    assert.deepEqual(await sel("fieldSelector=metadata.name%3Dc4"), ["c4"]);
    assert.deepEqual(
      (
        (
          await call(
            server,
            "GET",
            "/api/v1/configmaps?fieldSelector=metadata.namespace%3Dpaging,metadata.name!%3Dc0",
          )
        ).json().items as unknown[]
      ).length,
      6,
    );
    assertStatus(
      await call(server, "GET", "/api/v1/namespaces/paging/configmaps?fieldSelector=spec.x%3D1"),
      400,
      "BadRequest",
    );
    const del = await call(
      server,
      "DELETE",
      "/api/v1/namespaces/paging/configmaps?labelSelector=parity%3Dodd",
    );
    assert.equal(del.status, 200);
    assert.deepEqual(await sel(""), ["c0", "c2", "c4", "c6"]);
  });

  test("Table output for kubectl get", async () => {
    const t = (
      await call(server, "GET", S, {
        accept: "application/json;as=Table;v=v1;g=meta.k8s.io,application/json",
      })
    ).json() as {
      kind: string;
      columnDefinitions: Array<{ name: string }>;
      rows: Array<{ cells: unknown[]; object: { kind: string } }>;
    };
    assert.equal(t.kind, "Table");
    assert.deepEqual(
      t.columnDefinitions.map((c) => c.name),
      ["Name", "Type", "Data", "Age"],
    );
    assert.equal(t.rows[0]?.object.kind, "PartialObjectMetadata");
    const ns = (
      await call(server, "GET", "/api/v1/namespaces", {
        accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
      })
    ).json() as { columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> };
    assert.deepEqual(
      ns.columnDefinitions.map((c) => c.name),
      ["Name", "Status", "Age"],
    );
    assert.ok(ns.rows.some((r) => r.cells[0] === "default" && r.cells[1] === "Active"));
    const byLabel = (
      await call(
        server,
        "GET",
        "/api/v1/namespaces?labelSelector=kubernetes.io%2Fmetadata.name%3Dkube-system",
      )
    ).json();
    assert.deepEqual(
      (byLabel.items as Array<{ metadata: { name: string } }>).map((i) => i.metadata.name),
      ["kube-system"],
    );
  });

  test("protobuf request and response bodies", async () => {
    const body = encodeProtobufObject({
      apiVersion: "v1",
      kind: "Secret",
      metadata: { name: "pb" },
      data: { k: Buffer.from("v").toString("base64") },
    });
    const reply = await call(server, "POST", S, {
      body,
      contentType: "application/vnd.kubernetes.protobuf",
      accept: "application/vnd.kubernetes.protobuf, */*",
    });
    assert.equal(reply.status, 201);
    assert.equal(reply.headers["content-type"], "application/vnd.kubernetes.protobuf");
    const obj = decodeProtobufObject(reply.body) as {
      metadata: { name: string; resourceVersion: string };
      type: string;
    };
    assert.equal(obj.metadata.name, "pb");
    assert.equal(obj.type, "Opaque");
    const err = await call(server, "GET", `${S}/nope`, { accept: "application/vnd.kubernetes.protobuf" });
    assert.equal(err.status, 404);
    const status = decodeProtobufObject(err.body);
    assert.equal(status.kind, "Status");
    assert.equal(status.reason, "NotFound");
  });

  test("watch from a resourceVersion streams events; a compacted one is 410 Expired", async () => {
    const list = (await call(server, "GET", S)).json() as { metadata: { resourceVersion: string } };
    const rv = list.metadata.resourceVersion;
    const events: Array<{ type: string; object: { metadata: { name: string } } }> = [];
    const url = new URL(`${S}?watch=true&resourceVersion=${rv}&timeoutSeconds=10`, server.url);
    const done = new Promise<void>((resolve, reject) => {
      const req = request(
        url,
        { headers: { Authorization: `Bearer ${server.adminToken ?? ""}` }, ca: server.caCertPem },
        (res) => {
          let buf = "";
          res.on("data", (c: Buffer) => {
            buf += c.toString();
            let nl: number;
            while ((nl = buf.indexOf("\n")) >= 0) {
              events.push(JSON.parse(buf.slice(0, nl)) as (typeof events)[number]);
              buf = buf.slice(nl + 1);
            }
            if (events.length >= 3) {
              req.destroy();
              resolve();
            }
          });
          res.on("error", () => undefined);
        },
      );
      req.on("error", (e) => (events.length >= 3 ? resolve() : reject(e)));
      req.end();
    });
    await new Promise((r) => setTimeout(r, 200));
    await call(server, "POST", S, { body: secret("w"), contentType: json });
    await call(server, "PATCH", `${S}/w`, {
      body: JSON.stringify({ metadata: { labels: { a: "b" } } }),
      contentType: "application/merge-patch+json",
    });
    await call(server, "DELETE", `${S}/w`, {
      body: JSON.stringify({ kind: "DeleteOptions", apiVersion: "v1", propagationPolicy: "Background" }),
      contentType: json,
    });
    await done;
    assert.deepEqual(
      events.map((e) => [e.type, e.object.metadata.name]),
      [
        ["ADDED", "w"],
        ["MODIFIED", "w"],
        ["DELETED", "w"],
      ],
    );

    await call(server, "POST", S, { body: secret("w2"), contentType: json });
    await store.compact(await store.currentRevision());
    const expired = await call(server, "GET", `${S}?watch=true&resourceVersion=1`);
    assert.equal(expired.status, 200);
    const ev = JSON.parse(expired.body.toString().trim().split("\n")[0] ?? "{}") as {
      type: string;
      object: { code: number; reason: string };
    };
    assert.equal(ev.type, "ERROR");
    assert.equal(ev.object.code, 410);
    assert.equal(ev.object.reason, "Expired");
  });

  test("watches that allow bookmarks get BOOKMARK events with the revision they have caught up to", async () => {
    const list = (await call(server, "GET", S)).json() as { metadata: { resourceVersion: string } };
    const lines: Array<{ type: string; object: { kind: string; metadata: { resourceVersion: string } } }> =
      [];
    let created = 0;
    const url = new URL(
      `${S}?watch=true&allowWatchBookmarks=true&resourceVersion=${list.metadata.resourceVersion}`,
      server.url,
    );
    await new Promise<void>((resolve, reject) => {
      const req = request(
        url,
        { headers: { Authorization: `Bearer ${server.adminToken ?? ""}` }, ca: server.caCertPem },
        (res) => {
          let buf = "";
          res.on("data", (c: Buffer) => {
            buf += c.toString();
            let nl: number;
            while ((nl = buf.indexOf("\n")) >= 0) {
              lines.push(JSON.parse(buf.slice(0, nl)) as (typeof lines)[number]);
              buf = buf.slice(nl + 1);
            }
            if (
              created > 0 &&
              lines.some((l) => l.type === "BOOKMARK" && Number(l.object.metadata.resourceVersion) >= created)
            ) {
              req.destroy();
              resolve();
            }
          });
          res.on("error", () => undefined);
        },
      );
      req.on("error", (e) => (created > 0 ? resolve() : reject(e)));
      req.end();
      setTimeout(() => {
        void call(server, "POST", S, { body: secret("bm"), contentType: json }).then((r) => {
          created = Number((r.json().metadata as { resourceVersion: string }).resourceVersion);
        });
      }, 150);
    });
    const added = lines.findIndex((l) => l.type === "ADDED");
    const bookmark = lines.findIndex((l, i) => i > added && l.type === "BOOKMARK");
    assert.ok(added >= 0 && bookmark > added, JSON.stringify(lines.map((l) => l.type)));
    assert.equal(lines[bookmark]?.object.kind, "Secret");
  });

  test("health endpoints with named checks, and metrics", async () => {
    assert.equal((await call(server, "GET", "/livez", { token: null })).body.toString(), "ok");
    const verbose = (await call(server, "GET", "/readyz?verbose", { token: null })).body.toString();
    assert.match(verbose, /\[\+\]ping ok\n/);
    assert.match(verbose, /\[\+\]datastore ok\n/);
    assert.match(verbose, /readyz check passed/);
    assert.equal((await call(server, "GET", "/healthz/datastore", { token: null })).body.toString(), "ok");
    const metrics = (await call(server, "GET", "/metrics")).body.toString();
    assert.match(metrics, /apiserver_request_total\{verb="GET",resource="secrets",code="404"\} \d+/);
    assert.match(metrics, /apiserver_request_duration_seconds_bucket/);
    assert.match(
      metrics,
      /apiserver_storage_transformation_operations_total\{transformation_type="to_storage",transformer_prefix="identity",status="OK"\} \d+/,
    );
    assert.doesNotMatch(metrics, /hunter2|dmFsdWU=/);
  });

  test("no token or a wrong token is 401 Unauthorized", async () => {
    assertStatus(await call(server, "GET", S, { token: null }), 401, "Unauthorized", /^Unauthorized$/);
    assertStatus(await call(server, "GET", S, { token: "wrong" }), 401, "Unauthorized");
    assertStatus(
      await call(server, "POST", S, { token: "wrong", body: secret("sneaky"), contentType: json }),
      401,
      "Unauthorized",
    );
    assert.equal((await call(server, "GET", `${S}/sneaky`)).status, 404);
  });
});

describe("apiserver with ABAC and a token file", () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-abac-"));
    store = new MemoryStore();
    const tokens = join(dir, "tokens.csv");
    writeFileSync(
      tokens,
      'admintoken,admin,1,"system:masters"\nreadertoken,reader,2,"readers,other"\nnobodytoken,nobody,3\n',
      { mode: 0o600 },
    );
    const policy = join(dir, "policy.jsonl");
    const line = (spec: Record<string, unknown>): string =>
      JSON.stringify({ apiVersion: "abac.authorization.kubernetes.io/v1beta1", kind: "Policy", spec });
    writeFileSync(
      policy,
      [
        line({ group: "system:masters", namespace: "*", resource: "*", apiGroup: "*", nonResourcePath: "*" }),
        line({ group: "readers", namespace: "default", resource: "secrets", apiGroup: "*", readonly: true }),
        line({ user: "*", nonResourcePath: "*", readonly: true }),
      ].join("\n") + "\n",
    );
    server = await startApiServer({
      store,
      dataDir: dir,
      securePort: 0,
      tokenAuthFile: tokens,
      authorizationMode: "ABAC",
      authorizationPolicyFile: policy,
    });
  });
  after(async () => {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("policies allow, readonly and namespace limits forbid with kube's message", async () => {
    assert.equal(server.adminToken, "admintoken");
    const S = "/api/v1/namespaces/default/secrets";
    assert.equal(
      (await call(server, "POST", S, { token: "admintoken", body: secret("a"), contentType: json })).status,
      201,
    );
    assert.equal((await call(server, "GET", `${S}/a`, { token: "readertoken" })).status, 200);
    assertStatus(
      await call(server, "POST", S, { token: "readertoken", body: secret("b"), contentType: json }),
      403,
      "Forbidden",
      /^secrets is forbidden: User "reader" cannot create resource "secrets" in API group "" in the namespace "default": No policy matched\.$/,
    );
    assertStatus(
      await call(server, "GET", "/api/v1/namespaces/kube-system/secrets", { token: "readertoken" }),
      403,
      "Forbidden",
      /cannot list resource "secrets" in API group "" in the namespace "kube-system"/,
    );
    assertStatus(
      await call(server, "GET", "/api/v1/namespaces", { token: "nobodytoken" }),
      403,
      "Forbidden",
      /cannot list resource "namespaces" in API group "" at the cluster scope/,
    );
    assert.equal(
      (await call(server, "GET", "/api/v1", { token: "nobodytoken" })).status,
      200,
      "discovery is allowed by the nonResourcePath policy",
    );
    assert.equal(
      (await call(server, "GET", `${S}/b`, { token: "admintoken" })).status,
      404,
      "the forbidden create stored nothing",
    );
  });
});
