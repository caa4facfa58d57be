/**
 * The seed documents' new-cluster flow in the web console, in real Chromium against `atrest up` (its
 * control plane runs managed clusters): a RAM user signed in with its console password opens Create
 * Cluster on the Clusters page, a bad name is refused as the cs API refuses it, then a cluster with
 * embedded SQLite and, under Advanced options, Secret Encryption on a key picked in "Select Key" is
 * created and listed Running; its first Secret (real kubectl) is under the KMS (`atrest scan`). A user
 * whose policy denies cs:CreateCluster sees the refusal explained; Delete Cluster asks for the name and
 * removes it. Screenshots of each step go to test-screenshots/create-cluster/.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { KmsClient, loadKmsProfile, type KmsProfile } from "../src/kms/client/index.js";
import { runAtrest } from "./support/cli.js";
import { CHROMIUM, screenshot } from "./support/console-stack.js";
import { startUpWithControlPlane, type UpReady } from "./support/control-plane.js";
import { Kubectl } from "./support/kubectl.js";

const SUITE = "create-cluster";
const root = mkdtempSync(join(tmpdir(), "atrest-console-create-"));
const dataDir = join(root, "up");
let child: ChildProcess | undefined;
let up: UpReady & { consoleUrl: string };
let profile: KmsProfile;
let identity: KmsClient;
let browser: Browser;

const ram = (action: string, params: Record<string, string> = {}) =>
  identity.call(action, params, { version: "2015-05-01" });
const clusterDir = (id: string) => join(dataDir, "managed", "clusters", id);

async function user(name: string, password: string, policies: Array<[string, "System" | "Custom"]>) {
  await ram("CreateUser", { UserName: name });
  await ram("CreateLoginProfile", { UserName: name, Password: password });
  for (const [p, type] of policies)
    await ram("AttachPolicyToUser", { UserName: name, PolicyName: p, PolicyType: type });
}

before(async () => {
  const started = await startUpWithControlPlane(dataDir, ["--update-cooldown", "1s"]);
  child = started.child;
  up = started.ready as UpReady & { consoleUrl: string };
  profile = loadKmsProfile(up.kmsProfile);
  identity = new KmsClient({
    endpoint: up.identityEndpoint,
    regionId: up.region,
    accessKeyId: profile.accessKeyId,
    accessKeySecret: profile.accessKeySecret,
    caPem: readFileSync(profile.caFile!, "utf8"),
  });
  await ram("CreatePolicy", {
    PolicyName: "deny-create-cluster",
    PolicyDocument: JSON.stringify({
      Version: "1",
      Statement: [{ Action: ["cs:CreateCluster"], Effect: "Deny", Resource: ["*"] }],
    }),
  });
  await user("alice", "Alice-pass-1", [
    ["AliyunCSFullAccess", "System"],
    ["AliyunKMSReadOnlyAccess", "System"],
  ]);
  await user("dana", "Dana-pass-1", [
    ["AliyunCSFullAccess", "System"],
    ["deny-create-cluster", "Custom"],
  ]);
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});

after(async () => {
  await browser?.close();
  identity?.close();
  child?.kill("SIGINT");
  if (child !== undefined && child.exitCode === null)
    await new Promise((r) => {
      const t = setTimeout(() => {
        child?.kill("SIGKILL");
        r(undefined);
      }, 30_000);
      child?.once("exit", () => {
        clearTimeout(t);
        r(undefined);
      });
    });
  rmSync(root, { recursive: true, force: true });
});

async function signedIn(userName: string, password: string): Promise<Page> {
  const ctx = await browser.newContext({ ignoreHTTPSErrors: true, viewport: { width: 1360, height: 1000 } });
  const p = await ctx.newPage();
  await p.goto(up.consoleUrl);
  await p.getByRole("tab", { name: "Password" }).click();
  await p.getByLabel("User name", { exact: true }).fill(userName);
  await p.getByLabel("Password", { exact: true }).fill(password);
  await p.getByRole("button", { name: "Sign in" }).click();
  await p.waitForURL((u) => !u.pathname.startsWith("/console/signin"));
  await p.getByRole("link", { name: "Clusters" }).click();
  await p.getByRole("button", { name: "Create Cluster" }).waitFor();
  return p;
}

async function scanSecrets(id: string) {
  const r = await runAtrest([
    "scan",
    "--datastore-endpoint",
    `sqlite://${join(clusterDir(id), "apiserver.db")}`,
    "--resource",
    "secrets",
    "-o",
    "json",
  ]);
  return (
    JSON.parse(r.stdout) as {
      resources: { secrets: { total: number; plaintext: number; byKmsProvider: Record<string, number> } };
    }
  ).resources.secrets;
}

let createdId = "";

describe("console: Create Cluster with Secret Encryption's Select Key", () => {
  it("refuses a bad name as the service does, then creates a cluster on a chosen key: Running, Secrets under KMS", async () => {
    const p = await signedIn("alice", "Alice-pass-1");
    await p.getByRole("button", { name: "Create Cluster" }).click();
    const dialog = p.getByRole("dialog", { name: "Create Cluster" });
    await dialog.waitFor();
    assert.equal(await dialog.getByLabel("Region").inputValue(), up.region);
    assert.ok(await dialog.getByRole("radio", { name: "Embedded SQLite" }).isChecked());
    await screenshot(p, SUITE, "01-create-dialog");

    await dialog.getByLabel("Cluster name").fill("-bad name");
    await dialog.getByRole("button", { name: "Create" }).click();
    await dialog.getByRole("alert").filter({ hasText: "InvalidParameter" }).waitFor();
    await screenshot(p, SUITE, "02-bad-name-refused");

    await dialog.getByLabel("Cluster name").fill("web-prod");
    await dialog.getByText("Advanced options").click();
    await dialog.getByRole("checkbox", { name: "Secret Encryption" }).check();
    const select = dialog.getByLabel("Select Key");
    await select.locator(`option[value="${up.keyId}"]`).waitFor({ state: "attached" });
    const option = await select.locator(`option[value="${up.keyId}"]`).innerText();
    assert.match(option, /Software|Hardware/, "the key's protection is shown");
    await select.selectOption(up.keyId);
    await screenshot(p, SUITE, "03-select-key");
    await dialog.getByRole("button", { name: "Create" }).click();
    await p.getByRole("status").filter({ hasText: "Cluster web-prod created" }).waitFor({ timeout: 120_000 });
    const row = p.getByRole("table", { name: "Clusters" }).getByRole("row").filter({ hasText: "web-prod" });
    await row.getByText("Running").waitFor();
    await row.getByText(up.keyId).waitFor();
    await screenshot(p, SUITE, "04-created-running");

    const list = await p.evaluate(async () => {
      const r = await fetch("/console/api/clusters");
      return (await r.json()) as { clusters: Array<{ clusterId: string; name: string; kmsKeyId: string }> };
    });
    const c = list.clusters.find((x) => x.name === "web-prod");
    assert.ok(c !== undefined);
    assert.equal(c.kmsKeyId, up.keyId);
    createdId = c.clusterId;
    const kubectl = new Kubectl(join(clusterDir(createdId), "kubeconfig"));
    await kubectl.ok(["create", "secret", "generic", "first", "--from-literal=k=from-the-console"]);
    const scan = await scanSecrets(createdId);
    assert.equal(scan.plaintext, 0);
    assert.deepEqual(scan.byKmsProvider, { "kms:v2:atrest": 1 });
    await p.context().close();
  });

  it("a user whose policy denies cs:CreateCluster sees the refusal explained; nothing is created", async () => {
    const p = await signedIn("dana", "Dana-pass-1");
    await p.getByRole("button", { name: "Create Cluster" }).click();
    const dialog = p.getByRole("dialog", { name: "Create Cluster" });
    await dialog.getByLabel("Cluster name").fill("not-allowed");
    await dialog.getByRole("button", { name: "Create" }).click();
    const alert = dialog.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.innerText(), /Forbidden|NoPermission|not authorized|denied/i);
    await screenshot(p, SUITE, "05-deny-policy-refused");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await p.getByRole("button", { name: "Refresh" }).click();
    await p.getByRole("table", { name: "Clusters" }).waitFor();
    assert.equal(await p.getByRole("row").filter({ hasText: "not-allowed" }).count(), 0);
    await p.context().close();
  });

  it("Delete Cluster asks for the name, then removes the cluster", async () => {
    assert.notEqual(createdId, "");
    const p = await signedIn("alice", "Alice-pass-1");
    await p.getByRole("button", { name: "Delete web-prod" }).click();
    const dialog = p.getByRole("dialog", { name: "Delete Cluster" });
    const confirm = dialog.getByRole("button", { name: "Delete cluster" });
    assert.equal(await confirm.isDisabled(), true);
    await dialog.getByLabel("Type the cluster name to confirm").fill("web-prod");
    await screenshot(p, SUITE, "06-delete-confirm");
    await confirm.click();
    await dialog.waitFor({ state: "detached" });
    await p.getByRole("table", { name: "Clusters" }).getByText(up.clusterId).waitFor();
    assert.equal(await p.getByRole("row").filter({ hasText: "web-prod" }).count(), 0);
    await screenshot(p, SUITE, "07-deleted");
    assert.equal(existsSync(clusterDir(createdId)), false, "its data is removed");
    await p.context().close();
  });
});
