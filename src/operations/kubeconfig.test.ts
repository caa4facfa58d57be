import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseKubeconfig } from "./kubeconfig.js";

const kubeconfig = (user: string, extra = "") => `apiVersion: v1
kind: Config
current-context: b
clusters:
  - name: a
    cluster: { server: "https://10.0.0.1:6443" }
  - name: c2
    cluster: { server: "https://127.0.0.1:6443/", certificate-authority-data: ${Buffer.from("CA PEM").toString("base64")}${extra} }
contexts:
  - { name: a, context: { cluster: a, user: u } }
  - { name: b, context: { cluster: c2, user: u } }
users:
  - name: u
    user: ${user}
`;

test("the current context's server, CA and token; a tokenFile relative to the kubeconfig", () => {
  const c = parseKubeconfig(kubeconfig("{ token: abc }"), "/etc/kube/config");
  assert.deepEqual(c, {
    server: "https://127.0.0.1:6443",
    insecureSkipTlsVerify: false,
    caPem: "CA PEM",
    token: "abc",
  });
  const dir = mkdtempSync(join(tmpdir(), "atrest-kubeconfig-"));
  try {
    writeFileSync(join(dir, "token"), "from-file\n");
    assert.equal(parseKubeconfig(kubeconfig("{ tokenFile: token }"), join(dir, "config")).token, "from-file");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("exec plugins, a missing context, plain http and a certificate without its key are refused", () => {
  assert.throws(
    () => parseKubeconfig(kubeconfig("{ exec: { command: aws } }"), "k"),
    /exec or auth-provider plugin/,
  );
  assert.throws(
    () =>
      parseKubeconfig(kubeconfig("{ token: x }").replace("current-context: b", "current-context: zz"), "k"),
    /no context zz/,
  );
  assert.throws(
    () =>
      parseKubeconfig(
        kubeconfig("{ token: x }").replace("https://127.0.0.1:6443/", "http://127.0.0.1:6443"),
        "k",
      ),
    /must be https/,
  );
  assert.throws(
    () =>
      parseKubeconfig(kubeconfig(`{ client-certificate-data: ${Buffer.from("C").toString("base64")} }`), "k"),
    /needs its key/,
  );
});
