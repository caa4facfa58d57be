/**
 * API groups: `/apis/<group>/<version>` routing, discovery (plain and aggregated), OpenAPI v3 per group
 * version, kube's storage keys, protobuf bodies, Tables and kube's validation messages for the RBAC kinds.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { decodeProtobufObject, encodeProtobufObject } from "../src/kube-object/protobuf-codec.js";
import { call, type Reply } from "./support/api-call.js";

const RBAC = "/apis/rbac.authorization.k8s.io/v1";
const json = "application/json";
const pb = "application/vnd.kubernetes.protobuf";

function status(reply: Reply): { code: number; reason: string; message: string; details?: unknown } {
  const body = reply.json() as {
    kind: string;
    code: number;
    reason: string;
    message: string;
    details?: unknown;
  };
  assert.equal(body.kind, "Status", reply.body.toString());
  assert.equal(reply.status, body.code);
  return body;
}

describe("API groups", () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-groups-"));
    store = new MemoryStore();
    server = await startApiServer({ store, dataDir: dir, securePort: 0 });
  });
  after(async () => {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("discovery: /apis, /apis/<group>, /apis/<group>/<version> and aggregated discovery", async () => {
    const list = (await call(server, "GET", "/apis")).json() as {
      groups: Array<{ name: string; preferredVersion: { groupVersion: string } }>;
    };
    assert.deepEqual(
      list.groups.map((g) => `${g.name} ${g.preferredVersion.groupVersion}`),
      [
        "authentication.k8s.io authentication.k8s.io/v1",
        "authorization.k8s.io authorization.k8s.io/v1",
        "rbac.authorization.k8s.io rbac.authorization.k8s.io/v1",
        "storagemigration.k8s.io storagemigration.k8s.io/v1beta1",
      ],
    );
    const group = (await call(server, "GET", "/apis/rbac.authorization.k8s.io")).json();
    assert.equal(group.kind, "APIGroup");
    assert.deepEqual(group.versions, [{ groupVersion: "rbac.authorization.k8s.io/v1", version: "v1" }]);
    const resources = (await call(server, "GET", RBAC)).json() as {
      groupVersion: string;
      resources: Array<{ name: string; namespaced: boolean; kind: string; verbs: string[] }>;
    };
    assert.equal(resources.groupVersion, "rbac.authorization.k8s.io/v1");
    assert.deepEqual(resources.resources.map((r) => `${r.name}:${r.kind}:${r.namespaced}`).sort(), [
      "clusterrolebindings:ClusterRoleBinding:false",
      "clusterroles:ClusterRole:false",
      "rolebindings:RoleBinding:true",
      "roles:Role:true",
    ]);
    const authz = (await call(server, "GET", "/apis/authorization.k8s.io/v1")).json() as {
      resources: Array<{ name: string; verbs: string[] }>;
    };
    assert.deepEqual(
      authz.resources.find((r) => r.name === "selfsubjectaccessreviews")?.verbs,
      ["create"],
      "the reviews are create-only",
    );
    const aggregated = await call(server, "GET", "/apis", {
      accept: "application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json",
    });
    assert.match(String(aggregated.headers["content-type"]), /as=APIGroupDiscoveryList/);
    const items = (
      aggregated.json() as {
        items: Array<{
          metadata: { name: string };
          versions: Array<{ version: string; resources: Array<{ resource: string; responseKind: unknown }> }>;
        }>;
      }
    ).items;
    const rbac = items.find((i) => i.metadata.name === "rbac.authorization.k8s.io");
    assert.deepEqual(rbac?.versions[0]?.resources.find((r) => r.resource === "roles")?.responseKind, {
      group: "rbac.authorization.k8s.io",
      version: "v1",
      kind: "Role",
    });
    assert.equal(status(await call(server, "GET", "/apis/nope.example.com")).code, 404);
    assert.equal(status(await call(server, "GET", "/apis/rbac.authorization.k8s.io/v2/roles")).code, 404);
    assert.equal(status(await call(server, "GET", `${RBAC}/namespaces/default/secrets`)).code, 404);
  });

  test("OpenAPI v3 has one document per group version, with kubectl's fieldValidation hint", async () => {
    const index = (await call(server, "GET", "/openapi/v3")).json() as {
      paths: Record<string, { serverRelativeURL: string }>;
    };
    assert.deepEqual(Object.keys(index.paths).sort(), [
      "api/v1",
      "apis/authentication.k8s.io/v1",
      "apis/authorization.k8s.io/v1",
      "apis/rbac.authorization.k8s.io/v1",
      "apis/storagemigration.k8s.io/v1alpha1",
      "apis/storagemigration.k8s.io/v1beta1",
    ]);
    const url = index.paths["apis/rbac.authorization.k8s.io/v1"]?.serverRelativeURL ?? "";
    const reply = await call(server, "GET", url);
    assert.equal(reply.headers["cache-control"], "public, immutable");
    const doc = reply.json() as {
      paths: Record<string, Record<string, { operationId: string; parameters?: Array<{ name: string }> }>>;
      components: { schemas: Record<string, { "x-kubernetes-group-version-kind"?: unknown }> };
    };
    const patch = doc.paths[`${RBAC}/namespaces/{namespace}/roles/{name}`]?.patch;
    assert.equal(patch?.operationId, "patchRbacAuthorizationV1NamespacedRole");
    assert.ok(patch?.parameters?.some((p) => p.name === "fieldValidation"));
    assert.equal(doc.paths[`${RBAC}/clusterroles`]?.get?.operationId, "listRbacAuthorizationV1ClusterRole");
    assert.deepEqual(doc.components.schemas["io.k8s.api.rbac.v1.Role"]?.["x-kubernetes-group-version-kind"], [
      { group: "rbac.authorization.k8s.io", version: "v1", kind: "Role" },
    ]);
    assert.equal(
      doc.paths["/api/v1/namespaces/{namespace}/secrets"],
      undefined,
      "only this group version's paths",
    );
    assert.equal(status(await call(server, "GET", "/openapi/v3/apis/nope/v1")).code, 404);
  });

  test("Roles and RoleBindings: CRUD under kube's storage keys, protobuf in and out, Tables", async () => {
    const role = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "Role",
      metadata: { name: "reader" },
      rules: [{ apiGroups: [""], resources: ["secrets"], verbs: ["get", "list"] }],
    };
    const created = await call(server, "POST", `${RBAC}/namespaces/default/roles`, {
      body: encodeProtobufObject(role),
      contentType: pb,
      accept: `${pb}, ${json}`,
    });
    assert.equal(created.status, 201, created.body.toString());
    assert.equal(created.headers["content-type"], pb);
    const back = decodeProtobufObject(created.body);
    assert.equal(back.apiVersion, "rbac.authorization.k8s.io/v1");
    assert.deepEqual(back.rules, role.rules);
    const stored = await store.get("/registry/roles/default/reader");
    assert.ok(stored, "kube's key: <prefix>/roles/<namespace>/<name>");
    assert.equal(
      (JSON.parse(stored.value.toString()) as { apiVersion: string }).apiVersion,
      "rbac.authorization.k8s.io/v1",
    );

    const binding = {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRoleBinding",
      metadata: { name: "readers" },
      roleRef: { kind: "ClusterRole", name: "view" },
      subjects: [
        { kind: "User", name: "ann" },
        { kind: "Group", name: "team" },
        { kind: "ServiceAccount", name: "robot", namespace: "ci" },
      ],
    };
    const crb = await call(server, "POST", `${RBAC}/clusterrolebindings`, {
      body: JSON.stringify(binding),
      contentType: json,
    });
    assert.equal(crb.status, 201, crb.body.toString());
    const got = crb.json() as { roleRef: unknown; subjects: unknown };
    assert.deepEqual(got.roleRef, {
      kind: "ClusterRole",
      name: "view",
      apiGroup: "rbac.authorization.k8s.io",
    });
    assert.deepEqual(
      got.subjects,
      [
        { kind: "User", name: "ann", apiGroup: "rbac.authorization.k8s.io" },
        { kind: "Group", name: "team", apiGroup: "rbac.authorization.k8s.io" },
        { kind: "ServiceAccount", name: "robot", namespace: "ci" },
      ],
      "kube's defaulting of the subjects' apiGroup",
    );
    assert.ok(await store.get("/registry/clusterrolebindings/readers"));

    const table = (
      await call(server, "GET", `${RBAC}/clusterrolebindings`, {
        accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
      })
    ).json() as {
      columnDefinitions: Array<{ name: string; priority: number }>;
      rows: Array<{ cells: unknown[] }>;
    };
    assert.deepEqual(
      table.columnDefinitions.map((c) => `${c.name}:${c.priority}`),
      ["Name:0", "Role:0", "Age:0", "Users:1", "Groups:1", "ServiceAccounts:1"],
    );
    assert.deepEqual(
      table.rows.find((row) => row.cells[0] === "readers")?.cells.filter((_, i) => i !== 2),
      ["readers", "ClusterRole/view", "ann", "team", "ci/robot"],
    );
    const roles = (
      await call(server, "GET", `${RBAC}/namespaces/default/roles`, {
        accept: "application/json;as=Table;v=v1;g=meta.k8s.io",
      })
    ).json() as { columnDefinitions: Array<{ name: string }>; rows: Array<{ cells: unknown[] }> };
    assert.deepEqual(
      roles.columnDefinitions.map((c) => c.name),
      ["Name", "Created At"],
    );
    assert.match(String(roles.rows[0]?.cells[1]), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const list = (await call(server, "GET", `${RBAC}/rolebindings`)).json();
    assert.equal(list.kind, "RoleBindingList");
    assert.equal(list.apiVersion, "rbac.authorization.k8s.io/v1");
    const del = await call(server, "DELETE", `${RBAC}/namespaces/default/roles/reader`);
    assert.equal(del.status, 200);
    assert.equal(await store.get("/registry/roles/default/reader"), undefined);
    assert.match(
      status(await call(server, "GET", `${RBAC}/namespaces/default/roles/reader`)).message,
      /^roles\.rbac\.authorization\.k8s\.io "reader" not found$/,
    );
  });

  test("malformed RBAC objects get kube's validation messages and nothing is stored", async () => {
    const keysBefore = (await store.list("/registry/")).items.map((kv) => kv.key);
    const post = (path: string, obj: unknown): Promise<Reply> =>
      call(server, "POST", `${RBAC}/${path}`, { body: JSON.stringify(obj), contentType: json });
    const cases: Array<{ path: string; obj: unknown; message: string }> = [
      {
        path: "namespaces/default/roles",
        obj: { metadata: { name: "r" }, rules: [{ verbs: [], apiGroups: [""] }] },
        message:
          'Role.rbac.authorization.k8s.io "r" is invalid: [rules[0].verbs: Required value: verbs must contain at least one value, rules[0].resources: Required value: resource rules must supply at least one resource]',
      },
      {
        path: "namespaces/default/roles",
        obj: { metadata: { name: "r" }, rules: [{ verbs: ["get"], nonResourceURLs: ["/healthz"] }] },
        message:
          'Role.rbac.authorization.k8s.io "r" is invalid: rules[0].nonResourceURLs: Invalid value: []string{"/healthz"}: namespaced rules cannot apply to non-resource URLs',
      },
      {
        path: "clusterroles",
        obj: {
          metadata: { name: "c" },
          rules: [{ verbs: ["get"], nonResourceURLs: ["/x"], resources: ["pods"] }],
        },
        message:
          'ClusterRole.rbac.authorization.k8s.io "c" is invalid: rules[0].nonResourceURLs: Invalid value: []string{"/x"}: rules cannot apply to both regular resources and non-resource URLs',
      },
      {
        path: "clusterroles",
        obj: { metadata: { name: "a/b" }, aggregationRule: {} },
        message:
          'ClusterRole.rbac.authorization.k8s.io "a/b" is invalid: [metadata.name: Invalid value: "a/b": may not contain \'/\', aggregationRule.clusterRoleSelectors: Required value: at least one clusterRoleSelector required if aggregationRule is non-nil]',
      },
      {
        path: "namespaces/default/rolebindings",
        obj: {
          metadata: { name: "b" },
          roleRef: { kind: "Pod", name: "" },
          subjects: [{ kind: "Robot", name: "x" }],
        },
        message:
          'RoleBinding.rbac.authorization.k8s.io "b" is invalid: [roleRef.kind: Unsupported value: "Pod": supported values: "Role", "ClusterRole", roleRef.name: Required value, subjects[0].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"]',
      },
      {
        path: "clusterrolebindings",
        obj: {
          metadata: { name: "b" },
          roleRef: { kind: "Role", name: "r", apiGroup: "example.com" },
          subjects: [{ kind: "ServiceAccount", name: "Bad_Name" }],
        },
        message:
          'ClusterRoleBinding.rbac.authorization.k8s.io "b" is invalid: [roleRef.apiGroup: Unsupported value: "example.com": supported values: "rbac.authorization.k8s.io", roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole", subjects[0].name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, \'-\' or \'.\', and must start and end with an alphanumeric character (e.g. \'example.com\', regex used for validation is \'[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*\'), subjects[0].namespace: Required value]',
      },
    ];
    for (const c of cases) {
      const s = status(await post(c.path, c.obj));
      assert.equal(s.reason, "Invalid");
      assert.equal(s.message, c.message);
    }
    const strict = await call(server, "POST", `${RBAC}/clusterroles?fieldValidation=Strict`, {
      body: JSON.stringify({
        metadata: { name: "s" },
        rules: [{ verbs: ["get"], resources: ["x"], apiGroups: [""], bogus: 1 }],
      }),
      contentType: json,
    });
    assert.match(status(strict).message, /strict decoding error: unknown field "rules\[0\]\.bogus"/);
    const wrongGroup = await post("clusterroles", {
      apiVersion: "v1",
      kind: "ClusterRole",
      metadata: { name: "w" },
    });
    assert.equal(
      status(wrongGroup).message,
      'the API version in the data ("v1") does not match the expected API version (rbac.authorization.k8s.io/v1)',
    );
    const keys = (await store.list("/registry/")).items.map((kv) => kv.key);
    assert.deepEqual(keys, keysBefore, "nothing was stored");
  });

  test("an update may not change a binding's roleRef; verbs a resource does not serve are 405", async () => {
    const path = `${RBAC}/namespaces/default/rolebindings`;
    const made = await call(server, "POST", path, {
      body: JSON.stringify({ metadata: { name: "fixed" }, roleRef: { kind: "ClusterRole", name: "view" } }),
      contentType: json,
    });
    assert.equal(made.status, 201);
    const patched = await call(server, "PATCH", `${path}/fixed`, {
      body: JSON.stringify({ roleRef: { name: "edit" } }),
      contentType: "application/merge-patch+json",
    });
    assert.equal(
      status(patched).message,
      'RoleBinding.rbac.authorization.k8s.io "fixed" is invalid: roleRef: Invalid value: rbac.RoleRef{APIGroup:"rbac.authorization.k8s.io", Kind:"ClusterRole", Name:"edit"}: cannot change roleRef',
    );
    const get = await call(server, "GET", "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews");
    assert.equal(status(get).code, 405);
  });
});
