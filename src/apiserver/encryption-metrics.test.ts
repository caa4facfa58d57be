import { test } from "node:test";
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { Registry } from "prom-client";
import { apiserverIdentity, EncryptionMetrics } from "./encryption-metrics.js";

// Computed independently with Python's hashlib/base64 from kube's definition (server.NewConfig):
// base32(sha256(u16len(host) host u16len("kube-apiserver") "kube-apiserver")[:16]), lowercase, no padding.
test("apiserverIdentity is kube-apiserver's identity for a hostname", () => {
  assert.equal(apiserverIdentity("cp-1"), "apiserver-rplpdvtx3lntmi4xy2xnxookk4");
  assert.equal(apiserverIdentity("kind-control-plane"), "apiserver-c7uylvfxlbqccnk6myfkwetzze");
});

test("last_config_info: one series with kube's labels, replaced on each load", async () => {
  const registry = new Registry();
  const id = apiserverIdentity("cp-1");
  const m = new EncryptionMetrics(registry, id);
  // kube's own test vector: testAPIServerID → sha256:14f9d63e…
  assert.equal(
    new EncryptionMetrics(new Registry(), "testAPIServerID").apiserverIdHash,
    "sha256:14f9d63e669337ac6bfda2e2162915ee6a6067743eddd4e5c374b572f951ff37",
  );
  m.configLoaded("sha256:aaaa");
  m.onReload({ status: "success", atMs: 1_700_000_000_000, contentHash: "sha256:bbbb" });
  const text = await registry.metrics();
  const idHash = `sha256:${createHash("sha256").update(id).digest("hex")}`;
  const lines = text
    .split("\n")
    .filter((l) => l.startsWith("apiserver_encryption_config_controller_last_config_info{"));
  assert.deepEqual(lines, [
    `apiserver_encryption_config_controller_last_config_info{apiserver_id_hash="${idHash}",hash="sha256:bbbb"} 1`,
  ]);
});
