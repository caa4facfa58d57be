/**
 * The official Kubernetes Python client (Debian's python3-kubernetes, run by Debian's /usr/bin/python3)
 * against a TLS apiserver with RBAC: Secrets, ConfigMaps, ServiceAccounts and Namespaces — create, read,
 * replace, patch, delete, delete collection, list with paging and selectors, watch — typed errors, and
 * query parameters as kube-apiserver converts them. test/python/official_client_suite.py holds the cases;
 * each of its TestCase classes runs here as one test.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, writeKubeconfig, type ApiServer } from "../src/apiserver/index.js";

const PYTHON = "/usr/bin/python3"; // Debian's, where python3-kubernetes is installed
const SUITE_DIR = join(import.meta.dirname, "python");

function runPython(
  args: string[],
  env: Record<string, string>,
): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(PYTHON, args, {
      cwd: SUITE_DIR,
      env: { ...process.env, ...env, PYTHONDONTWRITEBYTECODE: "1" },
    });
    let output = "";
    child.stdout.on("data", (c: Buffer) => (output += c.toString()));
    child.stderr.on("data", (c: Buffer) => (output += c.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), 120_000);
    child.on("error", reject);
    child.on("close", (status) => {
      clearTimeout(timer);
      resolve({ status, output });
    });
  });
}

describe("the official Python client", { timeout: 300_000 }, () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;
  let env: Record<string, string>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-clients-python-"));
    store = new MemoryStore();
    const tokens = join(dir, "tokens.csv");
    writeFileSync(tokens, ['admin-token,admin,1,"system:masters"', "nobody-token,nobody,2,"].join("\n"), {
      mode: 0o600,
    });
    server = await startApiServer({
      store,
      dataDir: dir,
      securePort: 0,
      tokenAuthFile: tokens,
      authorizationMode: "RBAC",
    });
    const kubeconfig = (user: string): string => {
      const path = join(dir, `kubeconfig-${user}`);
      writeKubeconfig(path, { server: server.url, caCertPem: server.caCertPem, token: `${user}-token` });
      return path;
    };
    env = { ATREST_KUBECONFIG: kubeconfig("admin"), ATREST_KUBECONFIG_NOBODY: kubeconfig("nobody") };
  });
  after(async () => {
    await server?.close();
    await store?.close();
    if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
  });

  for (const suite of [
    "SecretsTest",
    "ConfigMapsTest",
    "ServiceAccountsTest",
    "NamespacesTest",
    "TypedErrorsTest",
    "ParametersTest",
  ])
    test(suite, async () => {
      const r = await runPython(
        ["-W", "ignore::ResourceWarning", "-m", "unittest", "-v", `official_client_suite.${suite}`],
        env,
      );
      assert.equal(r.status, 0, r.output);
      assert.match(r.output, /^OK$/m, r.output);
    });
});
