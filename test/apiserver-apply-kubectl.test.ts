/**
 * `kubectl apply --server-side` (the real kubectl) against the apiserver, as against kube-apiserver:
 * two field managers, a conflict kubectl reports with its advice, `--force-conflicts` moving
 * ownership, `--show-managed-fields`, `--dry-run=server`, and the upgrade of an object made with
 * client-side apply (kubectl's own follow-up requests: the kubectl-last-applied apply and the JSON
 * patch that moves kubectl-client-side-apply's fields to kubectl).
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import YAML from "yaml";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, type ApiServer } from "../src/apiserver/index.js";
import { Kubectl } from "./support/kubectl.js";

interface Entry {
  manager: string;
  operation: string;
  apiVersion: string;
  time?: string;
  fieldsType: string;
  fieldsV1: Record<string, unknown>;
}
interface Obj {
  metadata: { managedFields?: Entry[]; annotations?: Record<string, string>; resourceVersion: string };
  data?: Record<string, string>;
}

describe("kubectl apply --server-side", { timeout: 240_000 }, () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;
  let kubeconfig: string;
  const k = (): Kubectl => new Kubectl(kubeconfig, { cacheDir: mkdtempSync(join(dir, "cache-")) });
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  const cm = (name: string, data: Record<string, string>): string =>
    YAML.stringify({ apiVersion: "v1", kind: "ConfigMap", metadata: { name }, data });
  const owners = (o: Obj): Record<string, Record<string, unknown>> =>
    Object.fromEntries(
      (o.metadata.managedFields ?? []).map((e) => [`${e.manager}/${e.operation}`, e.fieldsV1]),
    );

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-apply-kubectl-"));
    store = new MemoryStore();
    kubeconfig = join(dir, "kubeconfig");
    server = await startApiServer({ store, dataDir: dir, securePort: 0, kubeconfigOut: kubeconfig });
  });
  after(async () => {
    await server.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("two field managers: shared fields, a conflict, --force-conflicts, --show-managed-fields", async () => {
    const kc = k();
    const get = async (args: string[] = []): Promise<Obj> =>
      YAML.parse(await kc.ok(["get", "configmap", "shared", "-o", "yaml", ...args])) as Obj;
    assert.match(
      await kc.ok([
        "apply",
        "--server-side",
        "-f",
        file("a.yaml", cm("shared", { mode: "a", owner: "team-a" })),
      ]),
      /^configmap\/shared serverside-applied\n$/,
    );
    assert.equal((await get()).metadata.managedFields, undefined, "kubectl hides managedFields by default");
    // bob sets mode to the same value (co-owns it) and adds a key of his own.
    assert.match(
      await kc.ok([
        "apply",
        "--server-side",
        "--field-manager=bob",
        "-f",
        file("b.yaml", cm("shared", { mode: "a", extra: "bob" })),
      ]),
      /serverside-applied/,
    );
    let o = await get(["--show-managed-fields"]);
    assert.deepEqual(owners(o), {
      "kubectl/Apply": { "f:data": { "f:mode": {}, "f:owner": {} } },
      "bob/Apply": { "f:data": { "f:extra": {}, "f:mode": {} } },
    });
    assert.equal(o.metadata.managedFields?.[0]?.apiVersion, "v1");
    assert.equal(o.metadata.managedFields?.[0]?.fieldsType, "FieldsV1");
    // bob now changes a field kubectl co-owns and one kubectl owns alone: a conflict, nothing changes.
    const rv = o.metadata.resourceVersion;
    const conflicting = file("b2.yaml", cm("shared", { mode: "b", owner: "team-b", extra: "bob" }));
    const refused = await kc.run(["apply", "--server-side", "--field-manager=bob", "-f", conflicting]);
    assert.equal(refused.status, 1);
    assert.match(
      refused.stderr,
      /Apply failed with 2 conflicts: conflicts with "kubectl":\n- \.data\.mode\n- \.data\.owner\nPlease review the fields above--they currently have other managers/,
    );
    assert.match(refused.stderr, /re-run the apply\s+command with the `--force-conflicts` flag/);
    assert.equal((await get()).metadata.resourceVersion, rv, "a refused apply changes nothing");
    // --dry-run=server shows the outcome and changes nothing either.
    await kc.ok([
      "apply",
      "--server-side",
      "--field-manager=bob",
      "--force-conflicts",
      "--dry-run=server",
      "-f",
      conflicting,
    ]);
    assert.equal((await get()).metadata.resourceVersion, rv);
    assert.match(
      await kc.ok(["apply", "--server-side", "--field-manager=bob", "--force-conflicts", "-f", conflicting]),
      /serverside-applied/,
    );
    o = await get(["--show-managed-fields"]);
    assert.deepEqual(o.data, { mode: "b", owner: "team-b", extra: "bob" });
    assert.deepEqual(owners(o), {
      "bob/Apply": { "f:data": { "f:extra": {}, "f:mode": {}, "f:owner": {} } },
    });
    // kubectl applies a manifest without mode and owner: they stay, bob owns them.
    await kc.ok(["apply", "--server-side", "-f", file("a2.yaml", cm("shared", { note: "x" }))]);
    o = await get();
    assert.deepEqual(o.data, { mode: "b", owner: "team-b", extra: "bob", note: "x" });
    // bob stops applying extra: removed, since no one else owns it.
    await kc.ok([
      "apply",
      "--server-side",
      "--field-manager=bob",
      "-f",
      file("b3.yaml", cm("shared", { mode: "b", owner: "team-b" })),
    ]);
    assert.deepEqual((await get()).data, { mode: "b", owner: "team-b", note: "x" });
  });

  test("an object made with client-side apply moves to server-side apply without conflicts", async () => {
    const kc = k();
    assert.match(
      await kc.ok(["apply", "-f", file("c.yaml", cm("upgraded", { mode: "a", keep: "1" }))]),
      /configmap\/upgraded created/,
    );
    const get = async (): Promise<Obj> =>
      YAML.parse(await kc.ok(["get", "configmap", "upgraded", "-o", "yaml", "--show-managed-fields"])) as Obj;
    assert.deepEqual(Object.keys(owners(await get())), ["kubectl-client-side-apply/Update"]);
    // The server-side apply changes a value client-side apply set: allowed (last-applied matches).
    assert.match(
      await kc.ok([
        "apply",
        "--server-side",
        "-f",
        file("c2.yaml", cm("upgraded", { mode: "b", keep: "1" })),
      ]),
      /serverside-applied/,
    );
    const o = await get();
    assert.deepEqual(o.data, { mode: "b", keep: "1" });
    const who = owners(o);
    assert.ok(who["kubectl/Apply"], JSON.stringify(who));
    assert.equal(
      who["kubectl-client-side-apply/Update"],
      undefined,
      "kubectl migrated its client-side fields",
    );
    assert.deepEqual(who["kubectl-last-applied/Apply"], {
      "f:metadata": { "f:annotations": { "f:kubectl.kubernetes.io/last-applied-configuration": {} } },
    });
    assert.deepEqual((who["kubectl/Apply"] as { "f:data"?: unknown })["f:data"], {
      "f:keep": {},
      "f:mode": {},
    });
    const lastApplied = o.metadata.annotations?.["kubectl.kubernetes.io/last-applied-configuration"];
    assert.ok(lastApplied !== undefined, "the annotation is kept for a later downgrade");
    assert.deepEqual((JSON.parse(lastApplied) as { data: unknown }).data, { mode: "b", keep: "1" });
    // And a manifest without `keep` now removes it: kubectl owns it after the migration.
    await kc.ok(["apply", "--server-side", "-f", file("c3.yaml", cm("upgraded", { mode: "b" }))]);
    assert.deepEqual((await get()).data, { mode: "b" });
  });

  test("Secrets: stringData is applied into data, and a conflict on a data key is reported", async () => {
    const kc = k();
    const s = (data: Record<string, unknown>): string =>
      YAML.stringify({ apiVersion: "v1", kind: "Secret", metadata: { name: "creds" }, ...data });
    await kc.ok(["apply", "--server-side", "-f", file("s.yaml", s({ stringData: { user: "admin" } }))]);
    const got = YAML.parse(
      await kc.ok(["get", "secret", "creds", "-o", "yaml", "--show-managed-fields"]),
    ) as Obj & {
      stringData?: unknown;
    };
    assert.deepEqual(got.data, { user: Buffer.from("admin").toString("base64") });
    assert.equal(got.stringData, undefined);
    assert.deepEqual(owners(got), { "kubectl/Apply": { "f:stringData": { "f:user": {} } } });
    await kc.ok([
      "apply",
      "--server-side",
      "--field-manager=ops",
      "-f",
      file("s2.yaml", s({ data: { user: "b3Bz" } })),
    ]);
    const refused = await kc.run([
      "apply",
      "--server-side",
      "-f",
      file("s3.yaml", s({ data: { user: "YWRtaW4=" } })),
    ]);
    assert.equal(refused.status, 1);
    assert.match(refused.stderr, /Apply failed with 1 conflict: conflict with "ops": \.data\.user/);
  });
});
