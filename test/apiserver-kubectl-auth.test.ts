/** What kubectl prints for Forbidden (ABAC) and Unauthorized (wrong token), against a real server. */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, writeKubeconfig, type ApiServer } from "../src/apiserver/index.js";
import { Kubectl } from "./support/kubectl.js";

describe("kubectl with ABAC and a token file", { timeout: 120_000 }, () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;
  const as = (token: string): Kubectl => {
    const path = join(dir, `kubeconfig-${token}`);
    writeKubeconfig(path, { server: server.url, caCertPem: server.caCertPem, token });
    return new Kubectl(path, { cacheDir: mkdtempSync(join(dir, "cache-")) });
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-kauth-"));
    store = new MemoryStore();
    const tokens = join(dir, "tokens.csv");
    writeFileSync(tokens, 'admintoken,admin,1,"system:masters"\nreadertoken,reader,2,readers\n', {
      mode: 0o600,
    });
    const policy = join(dir, "policy.jsonl");
    const line = (spec: Record<string, unknown>): string =>
      JSON.stringify({ apiVersion: "abac.authorization.kubernetes.io/v1beta1", kind: "Policy", spec });
    writeFileSync(
      policy,
      [
        line({ group: "system:masters", namespace: "*", resource: "*", apiGroup: "*", nonResourcePath: "*" }),
        line({ group: "readers", namespace: "*", resource: "secrets", apiGroup: "*", readonly: true }),
        line({ group: "system:authenticated", nonResourcePath: "*", readonly: true }),
      ].join("\n"),
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

  test("a read-only user may get but not create: Error from server (Forbidden)", async () => {
    await as("admintoken").ok(["create", "secret", "generic", "s", "--from-literal=a=b"]);
    assert.match(await as("readertoken").ok(["get", "secret", "s"]), /^NAME\s+TYPE/);
    const denied = await as("readertoken").run(["create", "secret", "generic", "t", "--from-literal=a=b"]);
    assert.notEqual(denied.status, 0);
    assert.match(
      denied.stderr,
      /secrets is forbidden: User "reader" cannot create resource "secrets" in API group "" in the namespace "default"/,
    );
    const ns = await as("readertoken").run(["get", "namespaces"]);
    assert.match(
      ns.stderr,
      /Error from server \(Forbidden\): namespaces is forbidden: User "reader" cannot list resource "namespaces" in API group "" at the cluster scope/,
    );
  });

  test("a wrong token: error: You must be logged in to the server", async () => {
    const r = await as("wrongtoken").run(["get", "secrets"]);
    assert.notEqual(r.status, 0);
    assert.match(
      r.stderr,
      /error: You must be logged in to the server \((Unauthorized|the server has asked for the client to provide credentials)\)/,
    );
  });
});
