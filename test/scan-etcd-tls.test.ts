/**
 * `atrest scan` against etcd set up as kubeadm does it: TLS with client certificates required, so an
 * operator passes the apiserver's `--etcd-cafile`, `--etcd-certfile` and `--etcd-keyfile`.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { generateTlsMaterial } from "../src/common/tls.js";
import { SCAN_EXIT } from "../src/scan/report.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { runAtrest } from "./support/cli.js";
import { startEtcd, type EtcdCluster } from "./support/etcd.js";
import { parseReport } from "./scan-support.js";

const dir = mkdtempSync(join(tmpdir(), "atrest-scan-etcd-tls-"));
let etcd: EtcdCluster | undefined;
const files = { ca: join(dir, "ca.crt"), cert: join(dir, "client.crt"), key: join(dir, "client.key") };

before(async () => {
  const tls = await generateTlsMaterial({ commonName: "etcd", hosts: ["127.0.0.1", "localhost"] });
  writeFileSync(files.ca, tls.caCertPem);
  writeFileSync(files.cert, tls.certPem);
  writeFileSync(files.key, tls.keyPem, { mode: 0o600 });
  etcd = await startEtcd({ tls });
  const store = new EtcdStore({
    endpoints: etcd.endpoints,
    tls: { caCertPem: tls.caCertPem, clientCertPem: tls.certPem, clientKeyPem: tls.keyPem },
  });
  try {
    await store.create(
      "/registry/secrets/default/plain",
      Buffer.from(JSON.stringify({ kind: "Secret", metadata: { name: "plain" }, data: { v: "eA==" } })),
    );
  } finally {
    await store.close();
  }
});

after(async () => {
  await etcd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("scan reads a TLS etcd with the CA and a client certificate; without the certificate it fails clearly", async () => {
  const servers = etcd!.endpoints.join(",");
  assert.ok(servers.startsWith("https://"));
  const ok = await runAtrest([
    "scan",
    "--etcd-servers",
    servers,
    "--etcd-cafile",
    files.ca,
    "--etcd-certfile",
    files.cert,
    "--etcd-keyfile",
    files.key,
    "-o",
    "json",
  ]);
  const report = parseReport(ok.stdout);
  assert.equal(report.resources["secrets"]?.plaintext, 1, ok.stderr);
  assert.equal(ok.status, SCAN_EXIT.plaintext, "a plaintext Secret gates automation");

  const noCert = await runAtrest(
    ["scan", "--etcd-servers", servers, "--etcd-cafile", files.ca, "-o", "json"],
    {
      timeoutMs: 60_000,
    },
  );
  assert.notEqual(noCert.status, 0);
  assert.equal(noCert.stdout, "");
  assert.equal(noCert.stderr.trim().split("\n").length, 1, noCert.stderr);

  const certWithoutCa = await runAtrest(["scan", "--etcd-servers", servers, "--etcd-certfile", files.cert]);
  assert.equal(certWithoutCa.status, 2, certWithoutCa.stderr);
  assert.match(certWithoutCa.stderr, /--etcd-certfile and --etcd-keyfile need --etcd-cafile/);
});
