/**
 * Server-side apply and managedFields over HTTPS, case by case, against the semantics kube documents
 * (kubernetes.io/docs/reference/using-api/server-side-apply: field management, conflicts, merge
 * strategy, upgrading from client-side apply, clearing managedFields) and kube-apiserver's own
 * messages. Each case is a sequence of writes by named field managers; after each, the HTTP status,
 * the object and who owns what (`metadata.managedFields`) are checked.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { call } from "./support/api-call.js";

type Obj = Record<string, unknown>;

interface Expect {
  readonly status: number;
  readonly message?: RegExp;
  /** Checks on the object the write answered with (2xx) or the Status (errors). */
  readonly check?: (obj: Obj) => void;
  /** "manager/Operation" → fieldsV1, exactly the entries the object then has. */
  readonly owners?: Record<string, unknown>;
}

interface Step {
  /** The fieldManager query parameter (none: the user agent's prefix). */
  readonly as?: string;
  readonly verb: "create" | "apply" | "merge" | "put" | "json-patch";
  readonly body: unknown;
  readonly force?: boolean;
  readonly query?: string;
  readonly resource?: "secrets" | "serviceaccounts" | "configmaps";
  readonly expect: Expect;
}

interface Case {
  readonly name: string;
  readonly steps: (name: string) => Step[];
}

const secret = (name: string, rest: Obj = {}, meta: Obj = {}): Obj => ({
  apiVersion: "v1",
  kind: "Secret",
  metadata: { name, ...meta },
  ...rest,
});
const b64 = (s: string): string => Buffer.from(s).toString("base64");
const dataOf = (obj: Obj): Obj => (obj.data ?? {}) as Obj;
const metaOf = (obj: Obj): Obj => (obj.metadata ?? {}) as Obj;
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

const CASES: Case[] = [
  {
    name: "a create records an Update entry; a map it adds is owned with its keys",
    steps: (n) => [
      {
        as: "creator",
        verb: "create",
        body: secret(n, { data: { a: b64("1") } }, { labels: { x: "1" } }),
        expect: {
          status: 201,
          owners: {
            "creator/Update": {
              "f:data": { ".": {}, "f:a": {} },
              "f:metadata": { "f:labels": { ".": {}, "f:x": {} } },
              "f:type": {},
            },
          },
        },
      },
    ],
  },
  {
    name: "an apply creates the object; the applier owns exactly its configuration (defaults are no one's)",
    steps: (n) => [
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("1") } }, { labels: { x: "1" } }),
        expect: {
          status: 201,
          check: (o) => assert.equal(o.type, "Opaque"),
          owners: { "alice/Apply": { "f:data": { "f:a": {} }, "f:metadata": { "f:labels": { "f:x": {} } } } },
        },
      },
    ],
  },
  {
    name: "appliers setting the same value share it; a change by either is then a conflict",
    steps: (n) => [
      { as: "alice", verb: "apply", body: secret(n, { data: { a: b64("1") } }), expect: { status: 201 } },
      {
        as: "bob",
        verb: "apply",
        body: secret(n, { data: { a: b64("1") } }),
        expect: {
          status: 200,
          owners: { "alice/Apply": { "f:data": { "f:a": {} } }, "bob/Apply": { "f:data": { "f:a": {} } } },
        },
      },
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("2") } }),
        expect: {
          status: 409,
          message: /^Apply failed with 1 conflict: conflict with "bob": \.data\.a$/,
          check: (s) => {
            assert.equal(s.reason, "Conflict");
            assert.deepEqual((s.details as Obj).causes, [
              { reason: "FieldManagerConflict", message: 'conflict with "bob"', field: ".data.a" },
            ]);
          },
        },
      },
    ],
  },
  {
    name: "force=true overrides a conflict and moves ownership",
    steps: (n) => [
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("1"), b: b64("1") } }),
        expect: { status: 201 },
      },
      {
        as: "bob",
        verb: "apply",
        body: secret(n, { data: { a: b64("2") } }),
        expect: { status: 409, message: /conflict with "alice": \.data\.a/ },
      },
      {
        as: "bob",
        verb: "apply",
        force: true,
        body: secret(n, { data: { a: b64("2") } }),
        expect: {
          status: 200,
          check: (o) => assert.deepEqual(dataOf(o), { a: b64("2"), b: b64("1") }),
          owners: { "alice/Apply": { "f:data": { "f:b": {} } }, "bob/Apply": { "f:data": { "f:a": {} } } },
        },
      },
    ],
  },
  {
    name: "several conflicts are listed per manager, managers sorted",
    steps: (n) => [
      { as: "carol", verb: "apply", body: secret(n, { data: { c: b64("1") } }), expect: { status: 201 } },
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("1"), b: b64("1") } }),
        expect: { status: 200 },
      },
      {
        as: "bob",
        verb: "apply",
        body: secret(n, { data: { a: b64("2"), b: b64("2"), c: b64("2") } }),
        expect: {
          status: 409,
          message:
            /^Apply failed with 3 conflicts: conflicts with "alice":\n- \.data\.a\n- \.data\.b\nconflicts with "carol":\n- \.data\.c$/,
        },
      },
    ],
  },
  {
    name: "a field no longer applied is removed when no one else owns it",
    steps: (n) => [
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("1"), b: b64("1") } }, { labels: { x: "1", y: "1" } }),
        expect: { status: 201 },
      },
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("1") } }, { labels: { x: "1" } }),
        expect: {
          status: 200,
          check: (o) => {
            assert.deepEqual(dataOf(o), { a: b64("1") });
            assert.deepEqual(metaOf(o).labels, { x: "1" });
          },
          owners: { "alice/Apply": { "f:data": { "f:a": {} }, "f:metadata": { "f:labels": { "f:x": {} } } } },
        },
      },
    ],
  },
  {
    name: "a field no longer applied stays while another manager owns it",
    steps: (n) => [
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("1"), b: b64("1") } }),
        expect: { status: 201 },
      },
      { as: "bob", verb: "apply", body: secret(n, { data: { b: b64("1") } }), expect: { status: 200 } },
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("1") } }),
        expect: {
          status: 200,
          check: (o) => assert.deepEqual(dataOf(o), { a: b64("1"), b: b64("1") }),
          owners: { "alice/Apply": { "f:data": { "f:a": {} } }, "bob/Apply": { "f:data": { "f:b": {} } } },
        },
      },
    ],
  },
  {
    name: "a non-apply write takes the fields it changes without a conflict; the applier then conflicts with it",
    steps: (n) => [
      { as: "alice", verb: "apply", body: secret(n, { data: { a: b64("1") } }), expect: { status: 201 } },
      {
        as: "editor",
        verb: "merge",
        body: { data: { a: b64("2") } },
        expect: {
          status: 200,
          owners: { "editor/Update": { "f:data": { "f:a": {} } } },
        },
      },
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("1") } }),
        expect: {
          status: 409,
          message: /^Apply failed with 1 conflict: conflict with "editor" using v1: \.data\.a$/,
        },
      },
    ],
  },
  {
    name: "Secret data is a granular map: each key is its own field",
    steps: (n) => [
      { as: "alice", verb: "apply", body: secret(n, { data: { a: b64("1") } }), expect: { status: 201 } },
      {
        as: "bob",
        verb: "apply",
        body: secret(n, { data: { b: b64("2") } }),
        expect: {
          status: 200,
          check: (o) => assert.deepEqual(dataOf(o), { a: b64("1"), b: b64("2") }),
          owners: { "alice/Apply": { "f:data": { "f:a": {} } }, "bob/Apply": { "f:data": { "f:b": {} } } },
        },
      },
    ],
  },
  {
    name: "labels and annotations are granular maps too",
    steps: (n) => [
      { as: "alice", verb: "apply", body: secret(n, {}, { labels: { x: "1" } }), expect: { status: 201 } },
      {
        as: "bob",
        verb: "apply",
        body: secret(n, {}, { labels: { z: "1" }, annotations: { note: "hi" } }),
        expect: {
          status: 200,
          check: (o) => {
            assert.deepEqual(metaOf(o).labels, { x: "1", z: "1" });
            assert.deepEqual(metaOf(o).annotations, { note: "hi" });
          },
          owners: {
            "alice/Apply": { "f:metadata": { "f:labels": { "f:x": {} } } },
            "bob/Apply": { "f:metadata": { "f:annotations": { "f:note": {} }, "f:labels": { "f:z": {} } } },
          },
        },
      },
    ],
  },
  {
    name: "stringData: the applier owns its stringData keys; the stored Secret holds them in data",
    steps: (n) => [
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { stringData: { k: "v" } }),
        expect: {
          status: 201,
          check: (o) => {
            assert.deepEqual(dataOf(o), { k: b64("v") });
            assert.equal(o.stringData, undefined);
          },
          owners: { "alice/Apply": { "f:stringData": { "f:k": {} } } },
        },
      },
    ],
  },
  {
    name: "ServiceAccount secrets are a list keyed by name: items are owned and removed one by one",
    steps: (n) => {
      const sa = (names: string[]): Obj => ({
        apiVersion: "v1",
        kind: "ServiceAccount",
        metadata: { name: n },
        secrets: names.map((name) => ({ name })),
      });
      return [
        {
          as: "alice",
          verb: "apply",
          resource: "serviceaccounts",
          body: sa(["s1"]),
          expect: { status: 201 },
        },
        { as: "bob", verb: "apply", resource: "serviceaccounts", body: sa(["s2"]), expect: { status: 200 } },
        {
          as: "alice",
          verb: "apply",
          resource: "serviceaccounts",
          body: sa([]),
          expect: {
            status: 200,
            check: (o) => assert.deepEqual(o.secrets, [{ name: "s2" }]),
            owners: { "bob/Apply": { "f:secrets": { 'k:{"name":"s2"}': {} } } },
          },
        },
      ];
    },
  },
  {
    name: "an apply that changes nothing writes nothing",
    steps: (n) => {
      let rv = "";
      return [
        {
          as: "alice",
          verb: "apply",
          body: secret(n, { data: { a: b64("1") } }),
          expect: { status: 201, check: (o) => (rv = String(metaOf(o).resourceVersion)) },
        },
        {
          as: "alice",
          verb: "apply",
          body: secret(n, { data: { a: b64("1") } }),
          expect: { status: 200, check: (o) => assert.equal(metaOf(o).resourceVersion, rv) },
        },
      ];
    },
  },
  {
    name: "clearing managedFields with one empty entry; untracked objects stay untracked until the first apply",
    steps: (n) => [
      { as: "creator", verb: "create", body: secret(n, { data: { a: b64("1") } }), expect: { status: 201 } },
      {
        as: "editor",
        verb: "merge",
        body: { metadata: { managedFields: [{}] } },
        expect: { status: 200, owners: {} },
      },
      { as: "editor", verb: "merge", body: { data: { b: b64("1") } }, expect: { status: 200, owners: {} } },
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("2") } }),
        expect: { status: 409, message: /conflict with "before-first-apply" using v1: \.data\.a$/ },
      },
      {
        as: "alice",
        verb: "apply",
        force: true,
        body: secret(n, { data: { a: b64("2") } }),
        expect: {
          status: 200,
          owners: {
            "alice/Apply": { "f:data": { "f:a": {} } },
            "before-first-apply/Update": { "f:data": { ".": {}, "f:b": {} }, "f:type": {} },
          },
        },
      },
    ],
  },
  {
    name: "managedFields a client writes with a non-apply write replace the recorded ones",
    steps: (n) => [
      { as: "creator", verb: "create", body: secret(n, { data: { a: b64("1") } }), expect: { status: 201 } },
      {
        as: "kubectl",
        verb: "json-patch",
        body: [
          {
            op: "replace",
            path: "/metadata/managedFields",
            value: [
              {
                manager: "mine",
                operation: "Apply",
                apiVersion: "v1",
                fieldsType: "FieldsV1",
                fieldsV1: { "f:data": { "f:a": {} } },
              },
            ],
          },
        ],
        expect: { status: 200, owners: { "mine/Apply": { "f:data": { "f:a": {} } } } },
      },
    ],
  },
  {
    name: "client-side apply → server-side apply: kubectl takes over what last-applied says, and keeps the annotation",
    steps: (n) => {
      const csa = secret(n, { data: { a: b64("1") } });
      const annotated = secret(
        n,
        { data: { a: b64("1") } },
        { annotations: { [LAST_APPLIED]: JSON.stringify(csa) } },
      );
      return [
        { as: "kubectl-client-side-apply", verb: "create", body: annotated, expect: { status: 201 } },
        {
          as: "someone-else",
          verb: "apply",
          body: secret(n, { data: { a: b64("2") } }),
          expect: { status: 409, message: /conflict with "kubectl-client-side-apply" using v1: \.data\.a$/ },
        },
        {
          as: "kubectl",
          verb: "apply",
          body: secret(n, { data: { a: b64("2") } }),
          expect: {
            status: 200,
            check: (o) => {
              assert.deepEqual(dataOf(o), { a: b64("2") });
              const ann = (metaOf(o).annotations ?? {}) as Obj;
              assert.equal(
                ann[LAST_APPLIED],
                '{"apiVersion":"v1","data":{"a":"Mg=="},"kind":"Secret","metadata":{"name":"' + n + '"}}\n',
              );
            },
          },
        },
      ];
    },
  },
  {
    name: "dryRun=All applies nothing",
    steps: (n) => [
      { as: "alice", verb: "apply", body: secret(n, { data: { a: b64("1") } }), expect: { status: 201 } },
      {
        as: "alice",
        verb: "apply",
        query: "dryRun=All",
        body: secret(n, { data: { a: b64("2") } }),
        expect: { status: 200, check: (o) => assert.deepEqual(dataOf(o), { a: b64("2") }) },
      },
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("1") } }),
        expect: { status: 200, check: (o) => assert.deepEqual(dataOf(o), { a: b64("1") }) },
      },
    ],
  },
  {
    name: "preconditions in the configuration: a stale resourceVersion and a uid that matches nothing are conflicts",
    steps: (n) => [
      {
        as: "svm",
        verb: "apply",
        body: secret(n, {}, { uid: "00000000-0000-0000-0000-000000000000" }),
        expect: {
          status: 409,
          message:
            /^Operation cannot be fulfilled on secrets ".*": uid mismatch: the provided object specified uid 00000000-0000-0000-0000-000000000000, and no existing object was found$/,
        },
      },
      { as: "alice", verb: "apply", body: secret(n, { data: { a: b64("1") } }), expect: { status: 201 } },
      {
        as: "svm",
        verb: "apply",
        body: secret(n, {}, { resourceVersion: "1" }),
        expect: { status: 409, message: /the object has been modified; please apply your changes/ },
      },
    ],
  },
  {
    name: "bad input: no fieldManager, force on a merge patch, managedFields in the configuration, wrong kind, unknown field",
    steps: (n) => [
      { as: "alice", verb: "apply", body: secret(n, { data: { a: b64("1") } }), expect: { status: 201 } },
      {
        as: "",
        verb: "apply",
        body: secret(n),
        expect: {
          status: 422,
          message:
            /^PatchOptions\.meta\.k8s\.io "" is invalid: fieldManager: Required value: is required for apply patch$/,
        },
      },
      {
        as: "x".repeat(129),
        verb: "apply",
        body: secret(n),
        expect: { status: 422, message: /fieldManager: Too long: may not be more than 128 bytes$/ },
      },
      {
        as: "editor",
        verb: "merge",
        force: true,
        body: { data: {} },
        expect: { status: 422, message: /force: Forbidden: may not be specified for non-apply patch$/ },
      },
      {
        as: "alice",
        verb: "apply",
        body: secret(n, {}, { managedFields: [] }),
        expect: { status: 400, message: /^metadata\.managedFields must be nil$/ },
      },
      {
        as: "alice",
        verb: "apply",
        body: { ...secret(n), kind: "ConfigMap" },
        expect: { status: 400, message: /^invalid object type: \/v1, Kind=ConfigMap$/ },
      },
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { spec: { x: 1 } }),
        expect: {
          status: 400,
          message:
            /^failed to create typed patch object \(default\/case-\d+; \/v1, Kind=Secret\): \.spec: field not declared in schema$/,
        },
      },
      {
        as: "alice",
        verb: "apply",
        body: secret("another-name"),
        expect: {
          status: 400,
          message: /^the name of the object \(another-name\) does not match the name on the URL/,
        },
      },
      {
        as: "alice",
        verb: "apply",
        body: "{ not yaml: [",
        expect: { status: 400, message: /^error decoding YAML: / },
      },
      {
        as: "alice",
        verb: "apply",
        body: secret(n, { data: { a: b64("1") } }),
        expect: { status: 200, owners: { "alice/Apply": { "f:data": { "f:a": {} } } } },
      },
    ],
  },
];

describe("server-side apply over HTTPS, against kube's documented semantics", () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-apply-"));
    store = new MemoryStore();
    server = await startApiServer({ store, dataDir: dir, securePort: 0 });
  });
  after(async () => {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  CASES.forEach((c, i) => {
    test(c.name, async () => {
      const name = `case-${i}`;
      for (const [j, step] of c.steps(name).entries()) {
        const collection = `/api/v1/namespaces/default/${step.resource ?? "secrets"}`;
        const params = new URLSearchParams(step.query ?? "");
        if (step.as !== undefined) params.set("fieldManager", step.as);
        if (step.force !== undefined) params.set("force", String(step.force));
        const q = params.toString() === "" ? "" : `?${params.toString()}`;
        const body = typeof step.body === "string" ? step.body : JSON.stringify(step.body);
        const [method, path, contentType] =
          step.verb === "create"
            ? ["POST", collection, "application/json"]
            : step.verb === "put"
              ? ["PUT", `${collection}/${name}`, "application/json"]
              : step.verb === "merge"
                ? ["PATCH", `${collection}/${name}`, "application/merge-patch+json"]
                : step.verb === "json-patch"
                  ? ["PATCH", `${collection}/${name}`, "application/json-patch+json"]
                  : ["PATCH", `${collection}/${name}`, "application/apply-patch+yaml"];
        const reply = await call(server, method, `${path}${q}`, { body, contentType });
        const where = `step ${j} (${step.verb} as ${step.as ?? "-"}): ${reply.body.toString()}`;
        assert.equal(reply.status, step.expect.status, where);
        const obj = reply.json();
        if (step.expect.message !== undefined) assert.match(String(obj.message), step.expect.message, where);
        step.expect.check?.(obj);
        if (step.expect.owners !== undefined) {
          const entries = (metaOf(obj).managedFields ?? []) as Obj[];
          const owners = Object.fromEntries(
            entries.map((e) => [`${String(e.manager)}/${String(e.operation)}`, e.fieldsV1]),
          );
          assert.deepEqual(owners, step.expect.owners, where);
          for (const e of entries) {
            assert.ok(e.time === undefined || typeof e.time === "string");
            assert.equal(e.apiVersion, "v1");
            assert.equal(e.fieldsType, "FieldsV1");
            // An entry gets a time when its manager changed the object (a no-op co-owner has none).
            if (typeof e.time === "string") assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
          }
        }
      }
    });
  });

  test("managedFields are stored, and every write verb honours dryRun=All", async () => {
    const S = "/api/v1/namespaces/default/secrets";
    const before = await store.currentRevision();
    for (const [method, path, ct, body] of [
      ["POST", S, "application/json", JSON.stringify(secret("dry"))],
      ["PATCH", `${S}/dry`, "application/apply-patch+yaml", JSON.stringify(secret("dry"))],
    ] as const) {
      const r = await call(server, method, `${path}?dryRun=All&fieldManager=dry`, { body, contentType: ct });
      assert.ok(r.status === 201, r.body.toString());
    }
    assert.equal(await store.currentRevision(), before, "dry runs store nothing");
    const created = await call(server, "PATCH", `${S}/stored?fieldManager=alice`, {
      body: JSON.stringify(secret("stored", { data: { a: b64("1") } })),
      contentType: "application/apply-patch+yaml",
    });
    assert.equal(created.status, 201);
    const raw = await store.get("/registry/secrets/default/stored");
    assert.ok(raw !== undefined);
    const stored = JSON.parse(Buffer.from(raw.value).toString("utf8")) as Obj;
    assert.deepEqual(
      (metaOf(stored).managedFields as Obj[]).map((e) => e.manager),
      ["alice"],
      "kube stores managedFields with the object",
    );
    const yaml = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: stored\ndata:\n  a: " + b64("1") + "\n";
    const again = await call(server, "PATCH", `${S}/stored?fieldManager=alice`, {
      body: yaml,
      contentType: "application/apply-patch+yaml",
    });
    assert.equal(again.status, 200, "YAML bodies are read as kube reads them");
    for (const [method, path, ct, body] of [
      ["PUT", `${S}/stored`, "application/json", again.body.toString()],
      ["PATCH", `${S}/stored`, "application/merge-patch+json", '{"data":{"b":"Yg=="}}'],
      ["PATCH", `${S}/stored`, "application/apply-patch+yaml", JSON.stringify(secret("stored"))],
      // A DELETE with a body takes its options from the body only (kube's delete handler).
      ["DELETE", `${S}/stored`, "application/json", '{"dryRun":["All"]}'],
    ] as const) {
      const revision = await store.currentRevision();
      const r = await call(server, method, `${path}?dryRun=All&fieldManager=alice`, {
        body,
        contentType: ct,
      });
      assert.equal(r.status, 200, `${method} ${ct}: ${r.body.toString()}`);
      assert.equal(await store.currentRevision(), revision, `${method} ${ct} with dryRun stores nothing`);
    }
  });
});
