import assert from "node:assert/strict";
import { test } from "node:test";
import { isAtrestError } from "../common/errors.js";
import { resourceFromStorageKey } from "./storage-key.js";

test("the resource comes from the segment after `registry`, whatever the prefix", () => {
  const cases: Array<[string, string]> = [
    ["/registry/secrets/default/mysecret", "secrets"],
    [
      "/43da1478-5e9c-4ef3-a92a-2b19d540c8a5/registry/secrets/kms-v2-legacy-data/dek-source-aes-gcm-key",
      "secrets",
    ],
    ["/registry/configmaps/kube-system/x", "configmaps"],
    ["/registry/deployments/default/web", "deployments.apps"],
    ["/registry/minions/node-1", "nodes"],
    ["/registry/services/endpoints/default/kubernetes", "endpoints"],
    ["/registry/services/specs/default/kubernetes", "services"],
    ["/registry/ingress/default/web", "ingresses.networking.k8s.io"],
    ["/registry/example.com/widgets/default/w1", "widgets.example.com"],
    ["/registry/apiregistration.k8s.io/apiservices/v1.apps", "apiservices.apiregistration.k8s.io"],
    ["/custom-prefix/secrets/default/s", "secrets"],
  ];
  for (const [key, resource] of cases) assert.equal(resourceFromStorageKey(key), resource, key);
});

test("a key that names no resource is an invalid-argument error", () => {
  assert.throws(
    () => resourceFromStorageKey("/something/else"),
    (err: unknown) => isAtrestError(err, "invalid-argument") && /pass --resource/.test(err.message),
  );
});
