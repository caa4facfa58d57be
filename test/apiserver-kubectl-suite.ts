/**
 * The real-kubectl suite for the apiserver, run against each store (memory, SQLite, etcd) by the
 * apiserver-kubectl-*.test.ts files. Each test has its own kubectl discovery cache dir.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { createLogger } from "../src/common/logger.js";
import type { Store } from "../src/storage/store.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { encodeProtobufObject } from "../src/kube-object/protobuf-codec.js";
import { Kubectl } from "./support/kubectl.js";

export interface StoreHandle {
  readonly store: Store;
  readonly checkName?: "etcd" | "datastore";
  close(): Promise<void>;
}

/** One line of the server's request log (src/apiserver/handler.ts, debug level). */
interface RequestRecord {
  readonly msg: string;
  readonly method: string;
  readonly path: string;
  readonly contentType?: string;
  readonly code: number;
}

export interface SuiteOptions {
  /** The kubectl binary (default: the dispatcher, which runs the minor matching the server's /version). */
  readonly kubectl?: string;
}

export function kubectlSuite(
  name: string,
  openStore: (dir: string) => Promise<StoreHandle>,
  options: SuiteOptions = {},
): void {
  const by = options.kubectl === undefined ? "kubectl" : basename(options.kubectl);
  const minorMatch = /^kubectl\.1\.(\d+)$/.exec(by)?.[1];
  const minor = minorMatch === undefined ? undefined : Number(minorMatch);
  describe(`${by} against the apiserver on ${name}`, { timeout: 240_000 }, () => {
    let dir: string;
    let handle: StoreHandle;
    let server: ApiServer;
    let kubeconfig: string;
    /** The server's request log (debug level: method, path, request Content-Type, code; never bodies). */
    const requestLog: string[] = [];
    const requests = (): RequestRecord[] =>
      requestLog.map((l) => JSON.parse(l) as RequestRecord).filter((r) => r.msg === "request");
    const k = (): Kubectl =>
      new Kubectl(kubeconfig, {
        cacheDir: mkdtempSync(join(dir, "cache-")),
        ...(options.kubectl !== undefined ? { binary: options.kubectl } : {}),
      });
    const file = (fname: string, text: string): string => {
      const p = join(dir, fname);
      writeFileSync(p, text);
      return p;
    };

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "atrest-apiserver-kubectl-"));
      handle = await openStore(dir);
      kubeconfig = join(dir, "kubeconfig");
      server = await startApiServer({
        store: handle.store,
        dataDir: dir,
        securePort: 0,
        kubeconfigOut: kubeconfig,
        ...(handle.checkName !== undefined ? { storeCheckName: handle.checkName } : {}),
        logger: createLogger({
          name: "apiserver",
          level: "debug",
          destination: {
            write: (line: string) => {
              requestLog.push(line);
            },
          },
        }),
      });
    });

    after(async () => {
      await server?.close();
      await handle?.close();
      rmSync(dir, { recursive: true, force: true });
    });

    test("create secret generic (protobuf body), get (Table) and get -A -o json", async () => {
      const kc = k();
      assert.match(
        await kc.ok([
          "create",
          "secret",
          "generic",
          "db",
          "--from-literal=password=hunter2",
          "--from-literal=user=admin",
        ]),
        /secret\/db created/,
      );
      // kubectl sent the Secret as Kubernetes protobuf (from 1.32; older minors send JSON), and the server
      // took it (201).
      const posts = requests().filter(
        (r) => r.method === "POST" && r.path === "/api/v1/namespaces/default/secrets",
      );
      assert.equal(posts.length, 1, JSON.stringify(posts));
      assert.equal(
        posts[0]?.contentType,
        minor === undefined || minor >= 32 ? "application/vnd.kubernetes.protobuf" : "application/json",
      );
      assert.equal(posts[0]?.code, 201);
      assert.doesNotMatch(requestLog.join(""), /hunter2|aHVudGVyMg/, "the request log holds no secret value");
      const table = await kc.ok(["get", "secrets"]);
      assert.match(table, /^NAME\s+TYPE\s+DATA\s+AGE\n/);
      assert.match(table, /\ndb\s+Opaque\s+2\s+\d+s\n/);
      const list = JSON.parse(await kc.ok(["get", "secrets", "-A", "-o", "json"])) as {
        items: Array<{
          metadata: {
            name: string;
            namespace: string;
            resourceVersion: string;
            uid: string;
            creationTimestamp: string;
          };
          data: Record<string, string>;
          type: string;
        }>;
      };
      const db = list.items.find((i) => i.metadata.name === "db");
      assert.ok(db);
      assert.equal(db.metadata.namespace, "default");
      assert.equal(Buffer.from(db.data.password ?? "", "base64").toString(), "hunter2");
      assert.equal(db.type, "Opaque");
      assert.match(db.metadata.resourceVersion, /^\d+$/);
      assert.match(db.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
      const again = await kc.run(["create", "secret", "generic", "db", "--from-literal=a=b"]);
      assert.notEqual(again.status, 0);
      assert.match(again.stderr, /secrets "db" already exists/);
    });

    test("create -f, apply twice, annotate, patch (merge, json, strategic), replace and a stale replace", async () => {
      const kc = k();
      const manifest = (value: string): string =>
        `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  labels: {app: web}\ndata:\n  mode: ${value}\n`;
      assert.match(
        await kc.ok(["create", "-f", file("cm.yaml", manifest("a"))]),
        /configmap\/settings created/,
      );
      assert.match(
        await kc.ok(["apply", "-f", file("cm.yaml", manifest("b"))]),
        /configmap\/settings configured/,
      );
      assert.match(
        await kc.ok(["apply", "-f", file("cm.yaml", manifest("c"))]),
        /configmap\/settings configured/,
      );
      assert.match(await kc.ok(["annotate", "configmap", "settings", "owner=team-a"]), /annotated/);
      assert.match(
        await kc.ok(["patch", "configmap", "settings", "--type=merge", "-p", '{"data":{"extra":"1"}}']),
        /patched/,
      );
      assert.match(
        await kc.ok([
          "patch",
          "configmap",
          "settings",
          "--type=json",
          "-p",
          '[{"op":"add","path":"/metadata/labels/tier","value":"front"}]',
        ]),
        /patched/,
      );
      assert.match(
        await kc.ok(["patch", "configmap", "settings", "-p", '{"metadata":{"labels":{"zone":"z1"}}}']),
        /patched/,
      );
      const cm = JSON.parse(await kc.ok(["get", "configmap", "settings", "-o", "json"])) as {
        data: Record<string, string>;
        metadata: { labels: Record<string, string>; annotations: Record<string, string> };
      };
      assert.deepEqual(cm.data, { mode: "c", extra: "1" });
      assert.deepEqual(cm.metadata.labels, { app: "web", tier: "front", zone: "z1" });
      assert.equal(cm.metadata.annotations.owner, "team-a");
      assert.ok(cm.metadata.annotations["kubectl.kubernetes.io/last-applied-configuration"]);
      const current = await kc.ok(["get", "configmap", "settings", "-o", "yaml"]);
      const path = file("current.yaml", current);
      assert.match(await kc.ok(["replace", "-f", path]), /configmap\/settings replaced/);
      const stale = await kc.run(["replace", "-f", path]);
      assert.notEqual(stale.status, 0);
      assert.match(
        stale.stderr,
        /Error from server \(Conflict\).*Operation cannot be fulfilled on configmaps "settings": the object has been modified; please apply your changes to the latest version and try again/,
      );
    });

    test("unknown fields are rejected under kubectl's strict field validation; invalid names are Invalid", async () => {
      const kc = k();
      const bad = await kc.run([
        "create",
        "-f",
        file("bad.yaml", "apiVersion: v1\nkind: Secret\nmetadata:\n  name: strict\nspec:\n  foo: 1\n"),
      ]);
      assert.notEqual(bad.status, 0);
      assert.match(bad.stderr, /BadRequest.*strict decoding error: unknown field "spec"/);
      const invalid = await kc.run(["create", "configmap", "Bad_Name", "--from-literal=a=b"]);
      assert.notEqual(invalid.status, 0);
      assert.match(
        invalid.stderr,
        /ConfigMap "Bad_Name" is invalid: metadata.name: Invalid value: "Bad_Name": a lowercase RFC 1123 subdomain/,
      );
      const missing = await kc.run(["get", "secret", "nope"]);
      assert.match(missing.stderr, /Error from server \(NotFound\): secrets "nope" not found/);
      const gone = await kc.run(["get", "secret", "strict", "-o", "name"]);
      assert.notEqual(gone.status, 0, "nothing was stored");
    });

    test("get -w sees a created secret", async () => {
      const kc = k();
      const watcher = kc.spawn(["get", "secrets", "-n", "default", "-w", "--output-watch-events"]);
      let out = "";
      const seen = new Promise<void>((resolve) => {
        watcher.stdout?.on("data", (c: Buffer) => {
          out += c.toString();
          if (/ADDED\s+watched/.test(out)) resolve();
        });
      });
      try {
        // Wait for the initial list before creating, so the object arrives as a watch event.
        for (let i = 0; i < 100 && !/NAME|No resources/.test(out); i++)
          await new Promise((r) => setTimeout(r, 100));
        await k().ok(["create", "secret", "generic", "watched", "--from-literal=k=v"]);
        await Promise.race([
          seen,
          new Promise((_, reject) =>
            setTimeout(() => reject(new Error(`no watch event; saw: ${out}`)), 20_000),
          ),
        ]);
      } finally {
        watcher.kill("SIGKILL");
      }
      assert.match(out, /ADDED\s+watched\s+Opaque\s+1/);
    });

    test("delete, delete namespace (takes its contents), create into a missing namespace", async () => {
      const kc = k();
      await kc.ok(["create", "namespace", "team"]);
      await kc.ok(["create", "secret", "generic", "inner", "-n", "team", "--from-literal=a=b"]);
      await kc.ok(["create", "serviceaccount", "robot", "-n", "team"]);
      assert.match(await kc.ok(["get", "sa", "-n", "team"]), /robot\s+0\s+/);
      assert.match(await kc.ok(["delete", "secret", "db"]), /secret "db" deleted/);
      assert.match(
        await kc.ok(["delete", "namespace", "team"], { timeoutMs: 60_000 }),
        /namespace "team" deleted/,
      );
      assert.match((await kc.run(["get", "namespace", "team"])).stderr, /namespaces "team" not found/);
      const into = await kc.run(["create", "secret", "generic", "x", "-n", "team", "--from-literal=a=b"]);
      assert.notEqual(into.status, 0);
      assert.match(into.stderr, /namespaces "team" not found/);
      const recreated = await kc.ok(["create", "namespace", "team"]);
      assert.match(recreated, /created/);
      assert.match(
        (await kc.run(["get", "secrets", "-n", "team"])).stderr,
        /No resources found in team namespace/,
      );
    });

    test("an object in kube-apiserver's protobuf form put directly into the store is served", async () => {
      const kc = k();
      const secret = {
        apiVersion: "v1",
        kind: "Secret",
        metadata: {
          name: "from-kube",
          namespace: "default",
          uid: "1f4a8f7b-01b4-49d1-b898-751eb56937f1",
          creationTimestamp: "2023-01-01T00:00:00Z",
        },
        data: { api_key: Buffer.from("086a7ffc").toString("base64") },
        type: "Opaque",
      };
      await handle.store.create("/registry/secrets/default/from-kube", encodeProtobufObject(secret));
      const got = JSON.parse(await kc.ok(["get", "secret", "from-kube", "-o", "json"])) as typeof secret;
      assert.equal(got.metadata.uid, secret.metadata.uid);
      assert.equal(Buffer.from(got.data.api_key, "base64").toString(), "086a7ffc");
      assert.match(await kc.ok(["get", "secrets"]), /from-kube\s+Opaque\s+1/);
      // An update rewrites it as JSON.
      await kc.ok(["annotate", "secret", "from-kube", "touched=yes"]);
      const raw = await handle.store.get("/registry/secrets/default/from-kube");
      assert.equal(raw?.value.subarray(0, 1).toString(), "{");
    });
  });
}
