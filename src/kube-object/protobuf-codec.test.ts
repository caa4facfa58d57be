import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { decodeProtobufObject, encodeProtobufObject, hasProtobufMagic } from "./protobuf-codec.js";

const vectors = JSON.parse(
  readFileSync(new URL("../../../shared/vectors/kubernetes-at-rest.json", import.meta.url), "utf8"),
) as {
  kubernetes: { kmsv2_legacy_aes_gcm_key: { plaintext_hex: string } };
};

test("decodes the protobuf Secret that kube-apiserver v1.27 stored (kmsv2_legacy_aes_gcm_key plaintext)", () => {
  const bytes = Buffer.from(vectors.kubernetes.kmsv2_legacy_aes_gcm_key.plaintext_hex, "hex");
  assert.ok(hasProtobufMagic(bytes));
  const obj = decodeProtobufObject(bytes);
  assert.equal(obj.apiVersion, "v1");
  assert.equal(obj.kind, "Secret");
  assert.equal(obj.type, "Opaque");
  const meta = obj.metadata as Record<string, unknown>;
  assert.equal(meta.name, "dek-source-aes-gcm-key");
  assert.equal(meta.namespace, "kms-v2-legacy-data");
  assert.equal(meta.uid, "1f4a8f7b-01b4-49d1-b898-751eb56937f1");
  assert.match(meta.creationTimestamp as string, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  assert.equal(meta.generateName, undefined, "empty strings are omitted as Go's JSON does");
  const managed = meta.managedFields as Array<Record<string, unknown>>;
  assert.equal(managed[0]?.operation, "Update");
  assert.deepEqual(managed[0]?.fieldsV1, { "f:data": { ".": {}, "f:api_key": {} }, "f:type": {} });
  const data = obj.data as Record<string, string>;
  assert.equal(Buffer.from(data.api_key ?? "", "base64").toString(), "086a7ffc-0225-11e8-ba89-0ed5f89f718b");
});

test("round-trips a Secret through protobuf", () => {
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: {
      name: "s",
      namespace: "default",
      labels: { a: "b" },
      creationTimestamp: "2026-01-01T00:00:00Z",
      resourceVersion: "12",
    },
    data: { k: Buffer.from("value").toString("base64"), empty: "" },
    type: "Opaque",
    immutable: false,
  };
  const back = decodeProtobufObject(encodeProtobufObject(secret));
  assert.deepEqual(back, secret);
});

test("round-trips Namespace, ConfigMap, ServiceAccount and Status", () => {
  const objs = [
    {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "ns" },
      spec: { finalizers: ["kubernetes"] },
      status: { phase: "Active" },
    },
    {
      apiVersion: "v1",
      kind: "ConfigMap",
      metadata: { name: "c", namespace: "n" },
      data: { a: "1" },
      binaryData: { b: "AAE=" },
    },
    {
      apiVersion: "v1",
      kind: "ServiceAccount",
      metadata: { name: "sa", namespace: "n" },
      secrets: [{ name: "x" }],
      automountServiceAccountToken: true,
    },
    {
      apiVersion: "v1",
      kind: "Status",
      metadata: {},
      status: "Failure",
      message: "m",
      reason: "NotFound",
      details: { name: "x", kind: "secrets" },
      code: 404,
    },
  ];
  for (const o of objs) assert.deepEqual(decodeProtobufObject(encodeProtobufObject(o)), o);
});

test("malformed protobuf is an invalid-argument error", () => {
  assert.throws(() => decodeProtobufObject(Buffer.from("k8s\0\xff\xff\xff", "latin1")), {
    code: "invalid-argument",
  });
  assert.throws(() => decodeProtobufObject(Buffer.from("nope")), { code: "invalid-argument" });
});

test("round-trips the RBAC kinds, the access reviews and SelfSubjectReview (kube's rbac/v1, authorization/v1, authentication/v1 messages)", () => {
  const objs = [
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "ClusterRole",
      metadata: { name: "view", labels: { "rbac.authorization.k8s.io/aggregate-to-edit": "true" } },
      rules: [
        { verbs: ["get"], apiGroups: [""], resources: ["secrets"], resourceNames: ["a"] },
        { verbs: ["get"], nonResourceURLs: ["/healthz"] },
      ],
      aggregationRule: {
        clusterRoleSelectors: [
          {
            matchLabels: { "rbac.authorization.k8s.io/aggregate-to-view": "true" },
            matchExpressions: [{ key: "k", operator: "In", values: ["v"] }],
          },
        ],
      },
    },
    {
      apiVersion: "rbac.authorization.k8s.io/v1",
      kind: "RoleBinding",
      metadata: { name: "b", namespace: "n" },
      subjects: [
        { kind: "User", apiGroup: "rbac.authorization.k8s.io", name: "ann" },
        { kind: "ServiceAccount", name: "robot", namespace: "ci" },
      ],
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "view" },
    },
    {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectAccessReview",
      metadata: {},
      spec: { resourceAttributes: { namespace: "n", verb: "get", resource: "secrets" } },
      status: { allowed: true, reason: "ok" },
    },
    {
      apiVersion: "authorization.k8s.io/v1",
      kind: "SelfSubjectRulesReview",
      metadata: {},
      spec: { namespace: "n" },
      status: {
        resourceRules: [{ verbs: ["*"], apiGroups: ["*"], resources: ["*"] }],
        nonResourceRules: [{ verbs: ["get"], nonResourceURLs: ["/api"] }],
        incomplete: false,
      },
    },
    {
      apiVersion: "authentication.k8s.io/v1",
      kind: "SelfSubjectReview",
      metadata: { creationTimestamp: "2026-12-02T01:02:03Z" },
      status: { userInfo: { username: "ann", uid: "7", groups: ["dev", "system:authenticated"] } },
    },
  ];
  for (const o of objs) assert.deepEqual(decodeProtobufObject(encodeProtobufObject(o)), o);
  // A kind is looked up in its own group version: a Role is not a core/v1 kind.
  assert.throws(() => encodeProtobufObject({ apiVersion: "v1", kind: "Role", metadata: {} }), {
    code: "invalid-argument",
  });
});
