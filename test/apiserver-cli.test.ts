/** `atrest apiserver` as a process: flags, the ready line, the kubeconfig it writes, a clean stop. */
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { writeKubeconfig } from "../src/apiserver/index.js";
import { generateTlsMaterial } from "../src/common/tls.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { SqliteStore } from "../src/storage/sqlite-store.js";
import { runAtrest, spawnAtrest } from "./support/cli.js";
import { startEtcd } from "./support/etcd.js";
import { Kubectl } from "./support/kubectl.js";

interface Ready {
  msg: string;
  url: string;
  store: string;
  kubeconfig: string | null;
}

/** Spawns `atrest apiserver ARGS` and waits for its ready line on stdout. */
async function startApiserverCli(
  args: string[],
): Promise<{ child: ChildProcess; ready: Ready; stderr: () => string }> {
  const child = spawnAtrest(["apiserver", ...args]);
  let out = "";
  let err = "";
  child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  try {
    const ready = await new Promise<Ready>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no ready line; stderr: ${err}`)), 60_000);
      child.stdout?.on("data", (c: Buffer) => {
        out += c.toString();
        const line = out.split("\n").find((l) => l.includes("apiserver ready"));
        if (line !== undefined) {
          clearTimeout(timer);
          resolve(JSON.parse(line) as Ready);
        }
      });
      child.on("exit", (code) => {
        clearTimeout(timer);
        reject(new Error(`exited ${String(code)}: ${err}`));
      });
    });
    return { child, ready, stderr: () => err };
  } catch (e) {
    child.kill("SIGKILL");
    throw e;
  }
}

/** SIGTERM, and the exit code (SIGKILL after 20 s). */
async function stopCli(child: ChildProcess): Promise<number | null> {
  if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  child.kill("SIGTERM");
  const timer = setTimeout(() => child.kill("SIGKILL"), 20_000);
  const code = await exited;
  clearTimeout(timer);
  return code;
}

/** A kubeconfig for a client-certificate user. */
function writeCertKubeconfig(
  path: string,
  options: { server: string; caCertPem: string; certPem: string; keyPem: string },
): void {
  const b64 = (s: string): string => Buffer.from(s).toString("base64");
  writeFileSync(
    path,
    YAML.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [
        {
          name: "c",
          cluster: { server: options.server, "certificate-authority-data": b64(options.caCertPem) },
        },
      ],
      users: [
        {
          name: "u",
          user: { "client-certificate-data": b64(options.certPem), "client-key-data": b64(options.keyPem) },
        },
      ],
      contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
      "current-context": "c",
    }),
    { mode: 0o600 },
  );
}

const UNAUTHORIZED =
  /error: You must be logged in to the server \((Unauthorized|the server has asked for the client to provide credentials)\)/;

test(
  "atrest apiserver starts, writes an admin kubeconfig and token file, serves kubectl, stops on SIGTERM",
  { timeout: 90_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-cli-"));
    const kubeconfig = join(dir, "admin.kubeconfig");
    // No --datastore-endpoint: the embedded SQLite datastore in the data dir is the default.
    const child = spawnAtrest([
      "apiserver",
      "--secure-port",
      "0",
      "--data-dir",
      dir,
      "--kubeconfig-out",
      kubeconfig,
    ]);
    try {
      let out = "";
      let err = "";
      child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
      const ready = await new Promise<{ msg: string; url: string; kubeconfig: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line; stderr: ${err}`)), 60_000);
        child.stdout?.on("data", (c: Buffer) => {
          out += c.toString();
          const line = out.split("\n").find((l) => l.includes("apiserver ready"));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve(JSON.parse(line) as { msg: string; url: string; kubeconfig: string });
          }
        });
        child.on("exit", (code) => reject(new Error(`exited ${String(code)}: ${err}`)));
      });
      assert.match(ready.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.ok(existsSync(join(dir, "state.db")), "the SQLite datastore lives in the data dir");
      assert.equal(ready.kubeconfig, kubeconfig);
      assert.equal(statSync(kubeconfig).mode & 0o777, 0o600);
      const token = readFileSync(join(dir, "tokens.csv"), "utf8").split(",")[0] ?? "";
      assert.ok(readFileSync(kubeconfig, "utf8").includes(token));
      assert.doesNotMatch(err, new RegExp(token), "the token is never logged");
      const kc = new Kubectl(kubeconfig, { cacheDir: join(dir, "cache") });
      assert.match(await kc.ok(["get", "namespaces"]), /default\s+Active/);
      const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
      child.kill("SIGTERM");
      assert.equal(await exited, 0);
    } finally {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("atrest apiserver rejects bad flags with a clear error", { timeout: 60_000 }, async () => {
  // kube's --authorization-mode validation, with its messages, before anything starts.
  const cases: Array<[string[], RegExp]> = [
    [["--authorization-mode", "RBAC,Bogus"], /authorization-mode "Bogus" is not a valid mode/],
    [
      ["--authorization-mode", "RBAC,RBAC"],
      /authorization-mode "RBAC,RBAC" has mode specified more than once/,
    ],
    [["--authorization-mode", "ABAC"], /authorization-mode ABAC's authorization policy file not passed/],
    [["--authorization-mode", "Webhook"], /authorization-mode "Webhook" is not supported by atrest/],
    [
      ["--authorization-mode", "RBAC", "--authorization-policy-file", "/nonexistent"],
      /cannot specify --authorization-policy-file without mode ABAC/,
    ],
    [["--max-requests-inflight", "lots"], /--max-requests-inflight must be a whole number ≥ 0, got "lots"/],
    [["--max-mutating-requests-inflight", "-1"], /--max-mutating-requests-inflight must be a whole number/],
    [["--watch-cache=maybe"], /--watch-cache must be true or false, got "maybe"/],
  ];
  for (const [flags, message] of cases) {
    const r = await runAtrest(["apiserver", ...flags, "--datastore-endpoint", "memory://"]);
    assert.equal(r.status, 2, r.stderr);
    assert.match(r.stderr, message);
  }
});

test(
  "atrest apiserver on etcd with --etcd-prefix, --cert-dir, --bind-address, a token file, a client CA and ABAC, driven by kubectl",
  { timeout: 120_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-cli-etcd-"));
    const etcd = await startEtcd();
    let child: ChildProcess | undefined;
    try {
      const dataDir = join(dir, "data");
      const certDir = join(dir, "serving-pki");
      writeFileSync(
        join(dir, "tokens.csv"),
        'admintoken,admin,1,"system:masters"\nreadertoken,reader,2,readers\n',
        { mode: 0o600 },
      );
      // carol authenticates with a client certificate (CN = user) signed by the --client-ca-file CA.
      const carol = await generateTlsMaterial({ commonName: "carol", hosts: ["localhost"] });
      writeFileSync(join(dir, "client-ca.crt"), carol.caCertPem);
      const line = (spec: Record<string, unknown>): string =>
        JSON.stringify({ apiVersion: "abac.authorization.kubernetes.io/v1beta1", kind: "Policy", spec });
      writeFileSync(
        join(dir, "policy.jsonl"),
        [
          line({
            group: "system:masters",
            namespace: "*",
            resource: "*",
            apiGroup: "*",
            nonResourcePath: "*",
          }),
          line({ group: "readers", namespace: "*", resource: "secrets", apiGroup: "*", readonly: true }),
          line({ user: "carol", namespace: "*", resource: "secrets", apiGroup: "*", readonly: true }),
          line({ group: "system:authenticated", nonResourcePath: "*", readonly: true }),
        ].join("\n") + "\n",
      );
      const started = await startApiserverCli([
        "--secure-port",
        "0",
        "--bind-address",
        "127.0.0.1",
        "--data-dir",
        dataDir,
        "--cert-dir",
        certDir,
        "--etcd-servers",
        etcd.endpoints.join(","),
        "--etcd-prefix",
        "/atrest-test",
        "--token-auth-file",
        join(dir, "tokens.csv"),
        "--client-ca-file",
        join(dir, "client-ca.crt"),
        "--authorization-mode",
        "ABAC",
        "--authorization-policy-file",
        join(dir, "policy.jsonl"),
      ]);
      child = started.child;
      const { ready } = started;
      assert.match(ready.url, /^https:\/\/127\.0\.0\.1:\d+$/);
      assert.equal(ready.store, `etcd ${etcd.endpoints.join(",")}`);
      // The serving CA and certificate were generated into --cert-dir, not the data dir.
      for (const f of ["ca.crt", "tls.crt", "tls.key"]) assert.ok(existsSync(join(certDir, f)), f);
      assert.equal(existsSync(join(dataDir, "pki")), false);
      assert.equal(existsSync(join(dataDir, "state.db")), false, "no SQLite datastore when etcd is given");
      const caCertPem = readFileSync(join(certDir, "ca.crt"), "utf8");

      const withToken = (token: string): Kubectl => {
        const path = join(dir, `kubeconfig-${token}`);
        writeKubeconfig(path, { server: ready.url, caCertPem, token });
        return new Kubectl(path, { cacheDir: mkdtempSync(join(dir, "cache-")) });
      };
      const certPath = join(dir, "kubeconfig-carol");
      writeCertKubeconfig(certPath, {
        server: ready.url,
        caCertPem,
        certPem: carol.certPem,
        keyPem: carol.keyPem,
      });
      const asCarol = new Kubectl(certPath, { cacheDir: mkdtempSync(join(dir, "cache-")) });

      // The admin (token, group system:masters) creates.
      assert.match(
        await withToken("admintoken").ok(["create", "secret", "generic", "s1", "--from-literal=a=b"]),
        /secret\/s1 created/,
      );
      // A read-only token user reads, and is Forbidden to create. (`create secret generic` wraps the
      // server's error in its own words; `create -f` prints it as "Error from server (Forbidden)".)
      const forbidden = (user: string): RegExp =>
        new RegExp(
          `secrets is forbidden: User "${user}" cannot create resource "secrets" in API group "" in the namespace "default"`,
        );
      const manifest = (name: string): string =>
        `apiVersion: v1\nkind: Secret\nmetadata:\n  name: ${name}\nstringData:\n  a: b\n`;
      const reader = withToken("readertoken");
      assert.match(await reader.ok(["get", "secret", "s1"]), /^NAME\s+TYPE/);
      const readerCreate = await reader.run(["create", "secret", "generic", "s2", "--from-literal=a=b"]);
      assert.notEqual(readerCreate.status, 0);
      assert.match(readerCreate.stderr, /error: failed to create secret /);
      assert.match(readerCreate.stderr, forbidden("reader"));
      const readerCreateF = await reader.run(["create", "-f", "-"], { input: manifest("s2") });
      assert.notEqual(readerCreateF.status, 0);
      assert.match(readerCreateF.stderr, /Error from server \(Forbidden\): /);
      assert.match(readerCreateF.stderr, forbidden("reader"));
      // The client-certificate user is carol (not anonymous): she reads, and is Forbidden to create.
      assert.match(await asCarol.ok(["get", "secret", "s1"]), /^NAME\s+TYPE/);
      const carolCreate = await asCarol.run(["create", "-f", "-"], { input: manifest("s3") });
      assert.notEqual(carolCreate.status, 0);
      assert.match(carolCreate.stderr, /Error from server \(Forbidden\): /);
      assert.match(carolCreate.stderr, forbidden("carol"));
      // A token that is not in the file is Unauthorized.
      const wrong = await withToken("wrongtoken").run(["get", "secrets"]);
      assert.notEqual(wrong.status, 0);
      assert.match(wrong.stderr, UNAUTHORIZED);

      // The objects are in etcd under --etcd-prefix, and nothing under the default /registry.
      const raw = new EtcdStore({ endpoints: etcd.endpoints });
      try {
        const secrets = await raw.list("/atrest-test/secrets/");
        assert.deepEqual(
          secrets.items.map((i) => i.key),
          ["/atrest-test/secrets/default/s1"],
        );
        assert.ok((await raw.get("/atrest-test/namespaces/default")) !== undefined);
        assert.equal((await raw.list("/registry/")).items.length, 0);
      } finally {
        await raw.close();
      }
      assert.equal(await stopCli(child), 0);
      assert.doesNotMatch(started.stderr(), /admintoken|readertoken/, "tokens are never logged");
    } finally {
      child?.kill("SIGKILL");
      await etcd.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test(
  "atrest apiserver with --tls-cert-file/--tls-private-key-file and --datastore-endpoint sqlite:///abs/path",
  { timeout: 90_000 },
  async () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-cli-tls-"));
    let child: ChildProcess | undefined;
    try {
      const dataDir = join(dir, "data");
      // A certificate of our own (not one the server generates), for the address it binds.
      const serving = await generateTlsMaterial({ commonName: "my-apiserver", hosts: ["127.0.0.2"] });
      writeFileSync(join(dir, "serving.crt"), serving.certPem + serving.caCertPem);
      writeFileSync(join(dir, "serving.key"), serving.keyPem, { mode: 0o600 });
      mkdirSync(join(dir, "db"));
      const dbPath = join(dir, "db", "objects.db");
      const kubeconfigOut = join(dir, "admin.kubeconfig");
      const started = await startApiserverCli([
        "--secure-port",
        "0",
        "--bind-address",
        "127.0.0.2",
        "--data-dir",
        dataDir,
        "--tls-cert-file",
        join(dir, "serving.crt"),
        "--tls-private-key-file",
        join(dir, "serving.key"),
        "--datastore-endpoint",
        `sqlite://${dbPath}`,
        "--kubeconfig-out",
        kubeconfigOut,
      ]);
      child = started.child;
      const { ready } = started;
      assert.match(ready.url, /^https:\/\/127\.0\.0\.2:\d+$/);
      assert.equal(ready.store, `sqlite ${dbPath}`);
      assert.ok(existsSync(dbPath), "the datastore is the file the endpoint names");
      assert.equal(existsSync(join(dataDir, "state.db")), false);
      assert.equal(existsSync(join(dataDir, "pki")), false, "no certificate is generated");
      // It listens on the bind address only.
      const port = Number(new URL(ready.url).port);
      await assert.rejects(
        new Promise<void>((resolve, reject) => {
          const s = connect(port, "127.0.0.1", () => {
            s.destroy();
            resolve();
          });
          s.on("error", reject);
        }),
        /ECONNREFUSED/,
      );

      // Trusting only our CA works: the server presents our certificate.
      const token = readFileSync(join(dataDir, "tokens.csv"), "utf8").split(",")[0] ?? "";
      const ours = join(dir, "kubeconfig-ours");
      writeKubeconfig(ours, { server: ready.url, caCertPem: serving.caCertPem, token });
      const kc = new Kubectl(ours, { cacheDir: mkdtempSync(join(dir, "cache-")) });
      assert.match(
        await kc.ok(["create", "secret", "generic", "s", "--from-literal=a=b"]),
        /secret\/s created/,
      );
      // The kubeconfig it wrote works too.
      const admin = new Kubectl(kubeconfigOut, { cacheDir: mkdtempSync(join(dir, "cache-")) });
      assert.match(await admin.ok(["get", "secret", "s"]), /\ns\s+Opaque\s+1\s/);
      assert.equal(await stopCli(child), 0);

      const store = new SqliteStore({ path: dbPath });
      try {
        assert.ok(
          (await store.get("/registry/secrets/default/s")) !== undefined,
          "the Secret is in that file",
        );
      } finally {
        await store.close();
      }
    } finally {
      child?.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
