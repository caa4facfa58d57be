/**
 * RBAC with real kubectl against `--authorization-mode=RBAC`: namespace-scoped view, `kubectl auth can-i`
 * (and `--list`), kube's Forbidden messages, escalation prevention, impersonation (`--as`), service-account
 * subjects, kube's bootstrap roles and their aggregation.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { MemoryStore } from "../src/storage/memory-store.js";
import { startApiServer, writeKubeconfig, type ApiServer } from "../src/apiserver/index.js";
import { Kubectl } from "./support/kubectl.js";

describe("RBAC with kubectl", { timeout: 240_000 }, () => {
  let dir: string;
  let store: MemoryStore;
  let server: ApiServer;
  const as = (user: string): Kubectl => {
    const path = join(dir, `kubeconfig-${user}`);
    writeKubeconfig(path, { server: server.url, caCertPem: server.caCertPem, token: `${user}-token` });
    return new Kubectl(path, { cacheDir: mkdtempSync(join(dir, "cache-")) });
  };
  const admin = (): Kubectl => as("admin");
  const file = (name: string, text: string): string => {
    const p = join(dir, name);
    writeFileSync(p, text);
    return p;
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "atrest-rbac-kubectl-"));
    store = new MemoryStore();
    const tokens = join(dir, "tokens.csv");
    writeFileSync(
      tokens,
      [
        'admin-token,admin,1,"system:masters"',
        "alice-token,alice,2,",
        "bob-token,bob,3,",
        "carol-token,carol,4,",
        'robot-token,system:serviceaccount:team:robot,5,"system:serviceaccounts,system:serviceaccounts:team"',
      ].join("\n"),
      { mode: 0o600 },
    );
    server = await startApiServer({
      store,
      dataDir: dir,
      securePort: 0,
      tokenAuthFile: tokens,
      authorizationMode: "RBAC",
    });
    const k = admin();
    await k.ok(["create", "namespace", "team"]);
    await k.ok(["create", "configmap", "settings", "-n", "team", "--from-literal=mode=a"]);
    await k.ok(["create", "secret", "generic", "db", "-n", "team", "--from-literal=password=hunter2"]);
  });
  after(async () => {
    await server?.close();
    await store?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test("a user bound to view in one namespace lists configmaps there and nothing else", async () => {
    await admin().ok([
      "create",
      "rolebinding",
      "alice-view",
      "--clusterrole=view",
      "--user=alice",
      "-n",
      "team",
    ]);
    const alice = as("alice");
    assert.match(await alice.ok(["get", "configmaps", "-n", "team"]), /^NAME\s+DATA\s+AGE\nsettings\s+1\s+/);
    const secrets = await alice.run(["get", "secrets", "-n", "team"]);
    assert.notEqual(secrets.status, 0);
    assert.equal(
      secrets.stderr.trim(),
      'Error from server (Forbidden): secrets is forbidden: User "alice" cannot list resource "secrets" in API group "" in the namespace "team"',
    );
    const one = await alice.run(["get", "secret", "db", "-n", "team"]);
    assert.match(
      one.stderr,
      /Error from server \(Forbidden\): secrets "db" is forbidden: User "alice" cannot get resource "secrets" in API group "" in the namespace "team"/,
    );
    const elsewhere = await alice.run(["get", "configmaps", "-n", "default"]);
    assert.match(
      elsewhere.stderr,
      /Error from server \(Forbidden\): configmaps is forbidden: User "alice" cannot list resource "configmaps" in API group "" in the namespace "default"/,
    );
    const write = await alice.run(["create", "configmap", "x", "-n", "team", "--from-literal=a=b"]);
    assert.match(write.stderr, /configmaps is forbidden: User "alice" cannot create resource "configmaps"/);
    const allNamespaces = await alice.run(["get", "configmaps", "-A"]);
    assert.match(
      allNamespaces.stderr,
      /cannot list resource "configmaps" in API group "" at the cluster scope/,
    );
    // view reads its own namespace (kube's namespaces rule in the namespace), not the list of them.
    assert.match(await alice.ok(["get", "namespace", "team"]), /team\s+Active/);
    assert.match((await alice.run(["get", "namespaces"])).stderr, /cannot list resource "namespaces"/);
  });

  test("kubectl auth can-i agrees, and --list shows the rules", async () => {
    const alice = as("alice");
    assert.equal((await alice.ok(["auth", "can-i", "list", "configmaps", "-n", "team"])).trim(), "yes");
    const secret = await alice.run(["auth", "can-i", "get", "secrets", "-n", "team"]);
    assert.equal(secret.status, 1);
    assert.equal(secret.stdout.trim(), "no");
    assert.equal(
      (await alice.run(["auth", "can-i", "list", "configmaps", "-n", "default"])).stdout.trim(),
      "no",
    );
    const list = await alice.ok(["auth", "can-i", "--list", "-n", "team"]);
    assert.match(list, /^configmaps\s+\[\]\s+\[\]\s+\[get list watch\]$/m);
    assert.match(list, /^selfsubjectaccessreviews\.authorization\.k8s\.io\s+\[\]\s+\[\]\s+\[create\]$/m);
    assert.match(list, /^\s+\[\/api\/\*\]\s+\[\]\s+\[get\]$/m, "system:discovery's URLs");
    assert.doesNotMatch(list, /^secrets\s/m);
    assert.equal((await admin().ok(["auth", "can-i", "*", "*"])).trim(), "yes");
  });

  test("an edit user cannot create a RoleBinding granting admin; nothing is stored", async () => {
    const k = admin();
    await k.ok(["create", "rolebinding", "bob-edit", "--clusterrole=edit", "--user=bob", "-n", "team"]);
    const bob = as("bob");
    const plain = await bob.run([
      "create",
      "rolebinding",
      "bob-admin",
      "--clusterrole=admin",
      "--user=bob",
      "-n",
      "team",
    ]);
    assert.notEqual(plain.status, 0);
    assert.match(
      plain.stderr,
      /rolebindings.rbac.authorization.k8s.io is forbidden: User "bob" cannot create resource "rolebindings" in API group "rbac.authorization.k8s.io" in the namespace "team"/,
    );
    // Allowed to write bindings, bob still may not grant what he does not hold.
    await k.ok([
      "create",
      "role",
      "binder",
      "--verb=create,get",
      "--resource=rolebindings.rbac.authorization.k8s.io",
      "-n",
      "team",
    ]);
    await k.ok(["create", "rolebinding", "bob-binder", "--role=binder", "--user=bob", "-n", "team"]);
    const escalate = await bob.run([
      "create",
      "rolebinding",
      "bob-admin",
      "--clusterrole=admin",
      "--user=bob",
      "-n",
      "team",
    ]);
    assert.notEqual(escalate.status, 0);
    assert.match(
      escalate.stderr,
      /rolebindings.rbac.authorization.k8s.io "bob-admin" is forbidden: user "bob" \(groups=\["system:authenticated"\]\) is attempting to grant RBAC permissions not currently held:\n\{APIGroups:\["authorization.k8s.io"\], Resources:\["localsubjectaccessreviews"\], Verbs:\["create"\]\}/,
    );
    assert.match((await k.run(["get", "rolebinding", "bob-admin", "-n", "team"])).stderr, /NotFound/);
    // What he holds (view is part of edit) he may pass on.
    assert.match(
      await bob.ok([
        "create",
        "rolebinding",
        "carol-view",
        "--clusterrole=view",
        "--user=carol",
        "-n",
        "team",
      ]),
      /rolebinding.rbac.authorization.k8s.io\/carol-view created/,
    );
    assert.match(await as("carol").ok(["get", "configmaps", "-n", "team"]), /settings/);
    const role = await bob.run([
      "create",
      "-f",
      file(
        "r.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: Role\nmetadata: {name: nodes, namespace: team}\nrules: [{apiGroups: [''], resources: [nodes], verbs: [delete]}]\n",
      ),
    ]);
    assert.match(
      role.stderr,
      /roles.rbac.authorization.k8s.io is forbidden: User "bob" cannot create resource "roles"/,
    );
  });

  test("--as works for an admin and is refused for others", async () => {
    const k = admin();
    assert.match(await k.ok(["get", "configmaps", "-n", "team", "--as=alice"]), /settings/);
    const asAlice = await k.run(["get", "secrets", "-n", "team", "--as=alice"]);
    assert.match(asAlice.stderr, /secrets is forbidden: User "alice" cannot list resource "secrets"/);
    assert.equal(
      (await k.run(["auth", "can-i", "get", "secrets", "-n", "team", "--as=alice"])).stdout.trim(),
      "no",
    );
    assert.equal(
      (await k.ok(["auth", "can-i", "list", "configmaps", "-n", "team", "--as=alice"])).trim(),
      "yes",
    );
    // kubectl auth whoami (SelfSubjectReview): the requester, or whom it impersonates.
    assert.match(
      await k.ok(["auth", "whoami"]),
      /^ATTRIBUTE\s+VALUE\nUsername\s+admin\nUID\s+1\nGroups\s+\[system:masters system:authenticated\]\n$/,
    );
    assert.match(
      await k.ok(["auth", "whoami", "--as=carol", "--as-group=auditors", "-o", "json"]),
      /"userInfo": \{\s+"username": "carol",\s+"groups": \[\s+"auditors",\s+"system:authenticated"\s+\]/,
    );
    // A discovery cache of alice's own first: without one, kubectl's discovery fails too, and prints less.
    const alice = as("alice");
    await alice.ok(["get", "configmaps", "-n", "team"]);
    const refused = await alice.run(["get", "configmaps", "-n", "team", "--as=bob"]);
    assert.equal(
      refused.stderr.trim(),
      'Error from server (Forbidden): users "bob" is forbidden: User "alice" cannot impersonate resource "users" in API group "" at the cluster scope',
    );
    // edit may impersonate the namespace's service accounts (kube's aggregate-to-edit rule).
    await k.ok(["create", "serviceaccount", "builder", "-n", "team"]);
    await k.ok([
      "create",
      "rolebinding",
      "builder-view",
      "--clusterrole=view",
      "--serviceaccount=team:builder",
      "-n",
      "team",
    ]);
    const bob = as("bob");
    await bob.ok(["get", "configmaps", "-n", "team"]);
    assert.match(
      await bob.ok(["get", "configmaps", "-n", "team", "--as=system:serviceaccount:team:builder"]),
      /settings/,
    );
    const outside = await bob.run([
      "get",
      "configmaps",
      "-n",
      "default",
      "--as=system:serviceaccount:default:default",
    ]);
    assert.match(
      outside.stderr,
      /serviceaccounts "default" is forbidden: User "bob" cannot impersonate resource "serviceaccounts" in API group "" in the namespace "default"/,
    );
  });

  test("service-account subjects: by name, and by the groups system:serviceaccounts[:<ns>]", async () => {
    const robot = as("robot");
    assert.match(
      (await robot.run(["get", "configmaps", "-n", "team"])).stderr,
      /User "system:serviceaccount:team:robot" cannot list/,
    );
    await admin().ok([
      "create",
      "rolebinding",
      "robot-view",
      "--clusterrole=view",
      "--serviceaccount=team:robot",
      "-n",
      "team",
    ]);
    assert.match(await robot.ok(["get", "configmaps", "-n", "team"]), /settings/);
    await admin().ok([
      "create",
      "clusterrolebinding",
      "all-sa-read-ns",
      "--clusterrole=view",
      "--group=system:serviceaccounts:team",
    ]);
    const defaults = await robot.run(["get", "configmaps", "-n", "default"]);
    assert.equal(defaults.status, 0, defaults.stderr);
    assert.match(defaults.stderr, /No resources found in default namespace/);
  });

  test("kube's bootstrap roles, kubectl create role|clusterrole|clusterrolebinding, and aggregation into view", async () => {
    const k = admin();
    const roles = await k.ok(["get", "clusterroles"]);
    for (const name of [
      "admin",
      "cluster-admin",
      "edit",
      "view",
      "system:aggregate-to-view",
      "system:basic-user",
      "system:discovery",
    ])
      assert.match(roles, new RegExp(`^${name}\\s+\\d{4}-`, "m"));
    assert.match(
      await k.ok(["get", "clusterrolebinding", "cluster-admin", "-o", "wide"]),
      /ClusterRole\/cluster-admin\s+\S+\s+system:masters/,
    );
    const admin_ = JSON.parse(await k.ok(["get", "clusterrole", "admin", "-o", "json"])) as {
      rules: Array<{ resources?: string[] }>;
    };
    assert.ok(
      admin_.rules.some((r) => r.resources?.includes("rolebindings")),
      "admin has aggregate-to-admin's rules",
    );
    assert.ok(
      admin_.rules.some((r) => r.resources?.includes("secrets")),
      "… and edit's",
    );
    await k.ok([
      "create",
      "clusterrole",
      "widget-viewer",
      "--verb=get,list",
      "--resource=configmaps",
      "--resource-name=widgets",
    ]);
    await k.ok(["label", "clusterrole", "widget-viewer", "rbac.authorization.k8s.io/aggregate-to-view=true"]);
    let view = "";
    for (let i = 0; i < 50 && !view.includes("widgets"); i++) {
      view = await k.ok(["get", "clusterrole", "view", "-o", "json"]);
      if (!view.includes("widgets")) await new Promise((r) => setTimeout(r, 100));
    }
    assert.match(view, /"widgets"/, "the labelled role was aggregated into view");
    assert.match(
      await k.ok(["describe", "clusterrole", "view"]),
      /configmaps\s+\[\]\s+\[widgets\]\s+\[get list\]/,
    );
    await k.ok([
      "create",
      "clusterrolebinding",
      "carol-reads",
      "--clusterrole=widget-viewer",
      "--user=carol",
    ]);
    assert.equal(
      (await as("carol").ok(["auth", "can-i", "get", "configmaps/widgets", "-n", "default"])).trim(),
      "yes",
    );
    assert.equal(
      (await as("carol").run(["auth", "can-i", "get", "configmaps/other", "-n", "default"])).stdout.trim(),
      "no",
    );
    assert.match(await k.ok(["delete", "clusterrolebinding", "carol-reads"]), /deleted/);
    assert.equal(
      (await as("carol").run(["auth", "can-i", "get", "configmaps/widgets", "-n", "default"])).stdout.trim(),
      "no",
    );
  });

  test("malformed RBAC objects: kube's validation messages through kubectl", async () => {
    const bad = await admin().run([
      "create",
      "-f",
      file(
        "bad.yaml",
        "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {name: bad}\nroleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: x}\nsubjects: [{kind: Robot, name: r}]\n",
      ),
    ]);
    assert.notEqual(bad.status, 0);
    assert.match(
      bad.stderr,
      /The ClusterRoleBinding "bad" is invalid: \n\* roleRef.kind: Unsupported value: "Role": supported values: "ClusterRole"\n\* subjects\[0\].kind: Unsupported value: "Robot": supported values: "ServiceAccount", "User", "Group"/,
    );
  });
});
