import { test } from "node:test";
import assert from "node:assert/strict";
import { parseClusterFile, renderClusterFile } from "./cluster-file.js";

const VALID = `apiVersion: atrest.io/v1alpha1
kind: Cluster
name: prod-1
region: cn-hangzhou
kubeconfig: admin.kubeconfig
apiservers:
  - url: https://10.0.0.1:6443
    encryptionConfig: { file: enc/encryption-config.yaml }
  - url: https://10.0.0.2:6443/
    metrics: { url: https://10.0.0.2:6444 }
    encryptionConfig: agent
store:
  etcd: { endpoints: [https://10.0.0.1:2379], caFile: pki/ca.crt, certFile: pki/c.crt, keyFile: pki/c.key }
kms: { profile: kms-profile.json }
plugins:
  - { name: atrest, endpoint: "unix:///var/run/atrest/kms.sock", timeout: 5s }
operation: { convergeTimeout: 2m, pageSize: 100 }
`;

function problems(text: string): string[] {
  try {
    parseClusterFile(text, "/etc/atrest/cluster.yaml");
  } catch (err) {
    return ((err as { details: { problems: string[] } }).details.problems ?? []).slice();
  }
  assert.fail("expected the file to be refused");
}

test("a valid cluster file: paths made absolute against the file, defaults filled in", () => {
  const c = parseClusterFile(VALID, "/etc/atrest/cluster.yaml");
  assert.equal(c.name, "prod-1");
  assert.equal(c.kubeconfig, "/etc/atrest/admin.kubeconfig");
  assert.deepEqual(c.apiservers[0], {
    url: "https://10.0.0.1:6443",
    metricsUrl: "https://10.0.0.1:6443",
    delivery: { kind: "file", path: "/etc/atrest/enc/encryption-config.yaml" },
  });
  assert.deepEqual(c.apiservers[1], {
    url: "https://10.0.0.2:6443",
    metricsUrl: "https://10.0.0.2:6444",
    delivery: { kind: "agent" },
  });
  assert.deepEqual(c.store, {
    kind: "etcd",
    endpoints: ["https://10.0.0.1:2379"],
    caFile: "/etc/atrest/pki/ca.crt",
    certFile: "/etc/atrest/pki/c.crt",
    keyFile: "/etc/atrest/pki/c.key",
    prefix: "/registry",
  });
  assert.deepEqual(c.resources, ["secrets"]);
  assert.equal(c.tunables.convergeTimeoutMs, 120_000);
  assert.equal(c.tunables.pageSize, 100);
  assert.equal(c.tunables.concurrency, 64);
  assert.equal(c.plugins[0]?.timeout, "5s");
});

test("every problem is reported at once, each with its path", () => {
  const bad = VALID.replace("name: prod-1", "name: Prod_1")
    .replace("region: cn-hangzhou", "region: cn-hangzhou\ncolour: blue")
    .replace("https://10.0.0.1:6443\n", "http://10.0.0.1:6443\n")
    .replace("encryptionConfig: agent", "encryptionConfig: carrier-pigeon")
    .replace(`"unix:///var/run/atrest/kms.sock"`, "tcp://1.2.3.4:1")
    .replace("convergeTimeout: 2m", "convergeTimeout: soon");
  const p = problems(bad);
  assert.ok(
    p.includes("name: must be a DNS label: lowercase letters, digits and '-', 1-63 chars"),
    p.join("\n"),
  );
  assert.ok(p.includes("colour: unknown field"), p.join("\n"));
  assert.ok(p.includes("apiservers[0].url: must be https://host[:port] (no path)"), p.join("\n"));
  assert.ok(p.includes('apiservers[1].encryptionConfig: must be "agent" or {file: PATH}'), p.join("\n"));
  assert.ok(p.includes("plugins[0].endpoint: must be unix:///absolute/path.sock"), p.join("\n"));
  assert.ok(
    p.includes("operation.convergeTimeout: must be a positive duration like 30s, 5m or 500ms"),
    p.join("\n"),
  );
});

test("rules across fields: duplicates, one store, TLS files together, configmaps not managed", () => {
  assert.deepEqual(problems(VALID.replace("https://10.0.0.2:6443/", "https://10.0.0.1:6443")), [
    "apiservers[1].url: https://10.0.0.1:6443 is listed twice",
  ]);
  assert.deepEqual(problems(VALID.replace("store:\n", "store:\n  sqlite: /var/lib/a.db\n")), [
    "store: give exactly one of sqlite or etcd",
  ]);
  assert.deepEqual(problems(VALID.replace(", keyFile: pki/c.key", "")), [
    "store.etcd: certFile and keyFile go together",
  ]);
  assert.deepEqual(problems(VALID + "resources: [secrets, configmaps]\n"), [
    "resources[1]: configmaps cannot be managed (the operation record is a ConfigMap)",
  ]);
  assert.deepEqual(problems(VALID.replace("- { name: atrest,", "- { name: 'a:b',")), [
    "plugins[0].name: must not contain ':' (kube's KMS v2 name rule)",
  ]);
  assert.match(problems("a: [")[0] ?? "", /not valid YAML/);
  assert.deepEqual(problems("[]"), ["(file): must be a YAML mapping"]);
});

test("renderClusterFile writes what parseClusterFile reads", () => {
  const text = renderClusterFile({
    name: "atrest-up",
    region: "cn-hangzhou",
    kubeconfig: "/d/kubeconfig",
    apiservers: [{ url: "https://127.0.0.1:6443", configFile: "/d/encryption-config.yaml" }],
    store: { sqlite: "/d/apiserver.db" },
    kmsProfile: "/d/kms-profile.json",
    plugins: [{ name: "atrest", endpoint: "unix:///d/kms-plugin.sock" }],
  });
  const c = parseClusterFile(text, "/d/cluster.yaml");
  assert.equal(c.store.kind, "sqlite");
  assert.equal(c.apiservers[0]?.delivery.kind, "file");
  assert.equal(c.plugins[0]?.timeout, "3s");
});
