import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { ManualClock } from "../common/clock.js";
import { isAtrestError } from "../common/errors.js";
import { contextForKey } from "../envelope/transformer.js";
import type { KmsClientFactories } from "./build.js";
import { buildEncryptionState } from "./build.js";
import { decodeStoredValue } from "./decode-value.js";
import { parseEncryptionConfiguration } from "./load.js";

const vectors = JSON.parse(
  readFileSync(
    fileURLToPath(new URL("../../../shared/vectors/kubernetes-at-rest.json", import.meta.url)),
    "utf8",
  ),
) as {
  derived: Record<string, { etcd_value_hex: string; plaintext_hex: string; config_secret_base64?: string }>;
};
const hex = (name: string) => Buffer.from(vectors.derived[name]!.etcd_value_hex, "hex");
const plain = (name: string) => Buffer.from(vectors.derived[name]!.plaintext_hex, "hex");
const SECRET = vectors.derived["D-aesgcm"]!.config_secret_base64!;

/** A base64 "plugin" in process, like the one that recorded the vectors. */
const base64Clients: KmsClientFactories = {
  createKmsV1Client: () => ({
    encrypt: (p) => Promise.resolve(Buffer.from(Buffer.from(p).toString("base64"))),
    decrypt: (c) => Promise.resolve(Buffer.from(Buffer.from(c).toString(), "base64")),
    close: () => undefined,
  }),
  createKmsV2Client: () => {
    throw new Error("not used");
  },
};

test("the real providers: vectors read through the configured chain; writes round-trip per resource", async () => {
  const yaml = `apiVersion: apiserver.config.k8s.io/v1
kind: EncryptionConfiguration
resources:
  - resources: [secrets]
    providers:
      - aesgcm: {keys: [{name: key1, secret: "${SECRET}"}]}
      - aescbc: {keys: [{name: key1, secret: "${SECRET}"}]}
      - secretbox: {keys: [{name: key1, secret: "${SECRET}"}]}
      - kms: {name: kms-provider, endpoint: "unix:///unused.sock"}
      - identity: {}
  - resources: ["*.apps"]
    providers:
      - secretbox: {keys: [{name: apps, secret: "${SECRET}"}]}
`;
  const state = await buildEncryptionState(parseEncryptionConfiguration(yaml).config, {
    clients: base64Clients,
    clock: new ManualClock(),
    background: false,
  });
  const key = "/registry/secrets/default/mysecret";
  const cases: Array<[string, string, boolean]> = [
    ["D-aesgcm", "aesgcm", false],
    ["D-aescbc (10-byte plaintext)", "aescbc", true],
    ["D-secretbox", "secretbox", true],
    ["D-kms-v1 (AES-GCM payload, written by >=1.25)", "kms", true],
  ];
  for (const [name, provider, stale] of cases) {
    const d = await decodeStoredValue(state, key, hex(name));
    assert.equal(d.origin.provider, provider, name);
    assert.equal(d.stale, stale, name);
    assert.deepEqual(d.plaintext, plain(name), name);
  }
  const plainValue = await decodeStoredValue(state, key, Buffer.from("not encrypted"));
  assert.deepEqual([plainValue.origin.provider, plainValue.stale], ["identity", true]);

  const deployments = state.transformerFor("deployments.apps");
  const ctx = contextForKey("/registry/deployments/default/web");
  const stored = await deployments.transformToStorage(Buffer.from("spec"), ctx);
  assert.ok(stored.toString("latin1").startsWith("k8s:enc:secretbox:v1:apps:"));
  assert.equal(
    (await decodeStoredValue(state, "/registry/deployments/default/web", stored)).plaintext.toString(),
    "spec",
  );

  // A key that does not name the resource: --resource decides.
  const custom = await decodeStoredValue(state, "/elsewhere/web", stored, { resource: "deployments.apps" });
  assert.equal(custom.plaintext.toString(), "spec");
  await assert.rejects(decodeStoredValue(state, "/elsewhere/web", stored), (err: unknown) =>
    isAtrestError(err, "invalid-argument"),
  );

  // No rule for configmaps: identity, which refuses encrypted-looking bytes.
  const cm = state.transformerFor("configmaps");
  assert.equal((await cm.transformToStorage(Buffer.from("x"), ctx)).toString(), "x");
  await assert.rejects(cm.transformFromStorage(hex("D-aesgcm"), ctx), (err: unknown) => isAtrestError(err));
  state.close();
});
