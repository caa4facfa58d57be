import { test } from "node:test";
import assert from "node:assert/strict";
import { parseEncryptionConfiguration } from "../encryption-config/load.js";
import { loadRendered, providerId, providersFor, renderStaged } from "./render.js";

const PLUGIN = { name: "atrest", endpoint: "unix:///run/kms.sock", timeout: "3s" };

const BASE = `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets, configmaps]
    providers:
      - aescbc: { keys: [{ name: key1, secret: c2VjcmV0IGlzIHNlY3VyZSwgSSB0aGluayBzbyEhISE= }] }
      - identity: {}
  - resources: ["*.apps"]
    providers:
      - identity: {}
`;

const ids = (text: string, resource: string) =>
  providersFor(parseEncryptionConfiguration(text, { reload: true }).config, resource).map(providerId);

test("enable: the target is read first, then writes, then is all that remains; other resources untouched", () => {
  const staged = renderStaged(loadRendered(BASE, "base"), ["secrets"], { type: "kms", plugin: PLUGIN });
  assert.deepEqual(ids(staged.read.text, "secrets"), ["aescbc:key1", "identity", "kms:v2:atrest"]);
  assert.deepEqual(ids(staged.write.text, "secrets"), ["kms:v2:atrest", "aescbc:key1", "identity"]);
  assert.deepEqual(ids(staged.final.text, "secrets"), ["kms:v2:atrest"]);
  for (const r of [staged.read, staged.write, staged.final]) {
    assert.deepEqual(ids(r.text, "configmaps"), ["aescbc:key1", "identity"], "configmaps keep their rule");
    assert.deepEqual(ids(r.text, "deployments.apps"), ["identity"]);
    assert.match(r.hash, /^sha256:[0-9a-f]{64}$/);
  }
  assert.equal(staged.base.text, BASE);
  assert.match(
    staged.read.text,
    /c2VjcmV0IGlzIHNlY3VyZSwgSSB0aGluayBzbyEhISE=/,
    "static keys are carried over",
  );
});

test("disable: identity already reads, so the read configuration is the base (no reload for nothing)", () => {
  const base = loadRendered(
    `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - kms: { apiVersion: v2, name: atrest, endpoint: "unix:///run/kms.sock", timeout: 3s }
      - identity: {}
`,
    "base",
  );
  const staged = renderStaged(base, ["secrets"], { type: "identity" });
  assert.equal(staged.read, base);
  assert.deepEqual(ids(staged.write.text, "secrets"), ["identity", "kms:v2:atrest"]);
  assert.deepEqual(ids(staged.final.text, "secrets"), ["identity"]);
});

test("a resource without any rule is identity; a KMS name already used with other settings is refused", () => {
  const none = loadRendered(
    "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [configmaps]\n    providers: [{identity: {}}]\n",
    "b",
  );
  assert.deepEqual(
    ids(renderStaged(none, ["secrets"], { type: "kms", plugin: PLUGIN }).read.text, "secrets"),
    ["identity", "kms:v2:atrest"],
  );
  const other = loadRendered(
    'apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\nresources:\n  - resources: [secrets]\n    providers:\n      - kms: { apiVersion: v2, name: atrest, endpoint: "unix:///other.sock" }\n',
    "b",
  );
  assert.throws(
    () => renderStaged(other, ["secrets"], { type: "kms", plugin: PLUGIN }),
    /already has a KMS provider named atrest/,
  );
});
