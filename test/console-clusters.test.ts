/**
 * The seed documents' flow in the web console, in real Chromium against `atrest up` (the real CLI, its
 * control plane serving the console at `consoleUrl`): Clusters → the cluster → Basic Information →
 * Security and Auditing → the Secret Encryption switch. Turning it off asks for confirmation naming
 * plaintext storage, then Updating → Running and `atrest scan` finds no Secret under the KMS; turning
 * it on opens the "Secret Encryption" dialog, a key chosen in "KMS Key", OK, Updating → Running and
 * every Secret is under the KMS. A user with the seed documents' deny policy (and the O&M role) sees
 * the switch refused and nothing changes. The Chinese locale renders the same flow. Screenshots of
 * each step go to test-screenshots/clusters/.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import { screenshot } from "./support/console-stack.js";
import {
  scanSqliteSecrets,
  signInWithAccessKey,
  startConsoleUp,
  type ConsoleUp,
} from "./support/console-up.js";
import type { Creds } from "./support/control-plane.js";
import { Kubectl } from "./support/kubectl.js";

const SUITE = "clusters";
const OPERATION_TIMEOUT_MS = 180_000;
const COOLDOWN_S = 1;

const root = mkdtempSync(join(tmpdir(), "atrest-console-clusters-"));
let stack: ConsoleUp;
let up: ConsoleUp["up"];

const scanSecrets = () => scanSqliteSecrets(up.storeLocation.sqlite!);
const ram = (action: string, params: Record<string, string> = {}) => stack.ram(action, params);

before(async () => {
  stack = await startConsoleUp(join(root, "up"), ["--update-cooldown", `${COOLDOWN_S}s`]);
  up = stack.up;
  const kubectl = new Kubectl(up.kubeconfig);
  for (let i = 0; i < 5; i++)
    await kubectl.ok(["create", "secret", "generic", `console-s${i}`, `--from-literal=k=v${i}`]);
});

after(async () => {
  await stack?.close();
  rmSync(root, { recursive: true, force: true });
});

async function signedIn(creds: Creds, locale = "en-US"): Promise<Page> {
  return signInWithAccessKey(await stack.page({ locale }), creds, locale);
}

const admin = () => stack.admin;
const clusterUrl = () =>
  `${new URL(up.consoleUrl).origin}/console/clusters/${encodeURIComponent(up.clusterId)}`;

/** The cool-down after a change: the console says when; wait for it as a user would. */
async function waitCoolDown(p: Page): Promise<void> {
  // A function, not a string: the console's Content-Security-Policy forbids eval.
  await p.waitForFunction(
    async (url: string) => {
      const d = (await (await fetch(url)).json()) as { cluster: { state: string; coolDownUntil: number } };
      return d.cluster.state !== "updating" && d.cluster.coolDownUntil <= Date.now();
    },
    `/console/api/clusters/${up.clusterId}`,
    { timeout: 60_000, polling: 500 },
  );
  await p.reload();
}

describe("console: the Secret Encryption switch on atrest up's cluster", () => {
  it("lists the cluster Running, with its encryption and key", async () => {
    const p = await signedIn(admin());
    await p.getByRole("link", { name: "Clusters" }).click();
    const row = p.getByRole("table", { name: "Clusters" }).getByRole("row").filter({ hasText: up.clusterId });
    await row.waitFor();
    const text = await row.innerText();
    assert.match(text, /Running/);
    assert.match(text, /On/);
    assert.match(text, new RegExp(up.keyId));
    await screenshot(p, SUITE, "01-clusters");
    await p.context().close();
  });

  it("turns Secret Encryption off: confirmation naming plaintext, Updating, then Running; scan agrees", async () => {
    const p = await signedIn(admin());
    await p.goto(clusterUrl());
    await p.getByRole("tab", { name: "Basic Information" }).waitFor();
    await p.getByRole("heading", { name: "Security and Auditing" }).waitFor();
    const sw = p.getByRole("switch", { name: "Secret Encryption" });
    assert.equal(await sw.getAttribute("aria-checked"), "true");
    await screenshot(p, SUITE, "02-cluster-encrypted");
    await sw.click();
    const dialog = p.getByRole("dialog", { name: "Secret Encryption" });
    await dialog.waitFor();
    assert.match(await dialog.innerText(), /stored in plaintext/);
    await screenshot(p, SUITE, "03-disable-confirm");
    await dialog.getByRole("button", { name: "OK" }).click();
    await p.getByText("Updating").first().waitFor();
    await screenshot(p, SUITE, "04-disable-updating");
    await p.getByText("Running").first().waitFor({ timeout: OPERATION_TIMEOUT_MS });
    await p.locator('[role="switch"][aria-checked="false"]').waitFor();
    await screenshot(p, SUITE, "05-disabled-running");
    const scan = await scanSecrets();
    assert.ok(scan.total >= 5);
    assert.equal(scan.encrypted, 0, "no Secret under the KMS after disable");
    await p.context().close();
  });

  it("turns it on: the Secret Encryption dialog, a key in KMS Key, OK, Updating, Running; scan agrees", async () => {
    const p = await signedIn(admin());
    await p.goto(clusterUrl());
    await waitCoolDown(p);
    await p.getByRole("switch", { name: "Secret Encryption" }).click();
    const dialog = p.getByRole("dialog", { name: "Secret Encryption" });
    await dialog.waitFor();
    const select = dialog.getByLabel("KMS Key");
    await select.locator("option").first().waitFor({ state: "attached" });
    const options = await select.locator("option").allInnerTexts();
    assert.ok(
      options.some((o) => o.includes(up.keyId) && /Software/.test(o)),
      options.join("|"),
    );
    await select.selectOption(up.keyId);
    await screenshot(p, SUITE, "06-enable-dialog");
    await dialog.getByRole("button", { name: "OK" }).click();
    await p.getByText("Updating").first().waitFor();
    await p.getByRole("list").filter({ hasText: "rewrite" }).first().waitFor();
    await screenshot(p, SUITE, "07-enable-updating");
    await p.getByText("Running").first().waitFor({ timeout: OPERATION_TIMEOUT_MS });
    await p.locator('[role="switch"][aria-checked="true"]').waitFor();
    await screenshot(p, SUITE, "08-enabled-running");
    const scan = await scanSecrets();
    assert.equal(scan.plaintext, 0);
    assert.equal(scan.encrypted, scan.total);
    await p.context().close();
  });

  it("a user with the deny policy (and the O&M role) sees the switch refused; nothing changes", async () => {
    await ram("CreateUser", { UserName: "deny-bob" });
    const key = await ram("CreateAccessKey", { UserName: "deny-bob" });
    const bob = key["AccessKey"] as { AccessKeyId: string; AccessKeySecret: string };
    await ram("AttachPolicyToUser", {
      UserName: "deny-bob",
      PolicyName: "AliyunCSFullAccess",
      PolicyType: "System",
    });
    await ram("AttachPolicyToUser", {
      UserName: "deny-bob",
      PolicyName: "AliyunKMSFullAccess",
      PolicyType: "System",
    });

    // The administrator, in the console: the O&M role on the cluster, then the seed documents' deny policy.
    const a = await signedIn(admin());
    await a.goto(clusterUrl());
    await a.getByRole("tab", { name: "Cluster role assignments" }).click();
    await a.getByLabel("RAM user or role").fill("deny-bob");
    await a.getByLabel("Role", { exact: true }).selectOption("ops");
    await a.getByRole("button", { name: "Grant" }).click();
    await a.getByRole("table", { name: "Cluster role assignments" }).getByText("deny-bob").waitFor();
    await a.goto(`${new URL(up.consoleUrl).origin}/console/ram`);
    await a.getByRole("button", { name: /deny policy/ }).click();
    await a.getByRole("cell", { name: "DenyUpdateKMSEncryption", exact: true }).waitFor();
    await a.goto(`${new URL(up.consoleUrl).origin}/console/ram/users/deny-bob`);
    await a.getByLabel("Policy to attach").selectOption("Custom/DenyUpdateKMSEncryption");
    await a.getByRole("button", { name: "Attach" }).click();
    await a.getByRole("table", { name: "Attached policies" }).getByText("DenyUpdateKMSEncryption").waitFor();
    await a.context().close();

    const p = await signedIn({ accessKeyId: bob.AccessKeyId, accessKeySecret: bob.AccessKeySecret });
    await p.goto(clusterUrl());
    await waitCoolDown(p);
    const sw = p.getByRole("switch", { name: "Secret Encryption" });
    assert.equal(await sw.getAttribute("aria-checked"), "true");
    await sw.click();
    const dialog = p.getByRole("dialog", { name: "Secret Encryption" });
    await dialog.getByRole("button", { name: "OK" }).click();
    const alert = dialog.getByRole("alert");
    await alert.waitFor();
    const text = await alert.innerText();
    assert.match(text, /Refused/);
    assert.match(text, /cs:UpdateKMSEncryption|denied|Forbidden/i);
    await screenshot(p, SUITE, "09-deny-refused");
    await dialog.getByRole("button", { name: "Cancel" }).click();
    await p.reload();
    await p.getByText("Running").first().waitFor();
    assert.equal(
      await p.getByRole("switch", { name: "Secret Encryption" }).getAttribute("aria-checked"),
      "true",
    );
    const scan = await scanSecrets();
    assert.equal(scan.encrypted, scan.total, "nothing changed");
    await p.context().close();
  });

  it("renders the flow in Chinese: 基本信息, 安全与审计, Secret落盘加密, 运行中", async () => {
    const p = await signedIn(admin(), "zh-CN");
    await p.goto(clusterUrl());
    await p.getByRole("tab", { name: "基本信息" }).waitFor();
    await p.getByRole("heading", { name: "安全与审计" }).waitFor();
    await p.getByRole("switch", { name: "Secret落盘加密" }).waitFor();
    await p.getByText("运行中").first().waitFor();
    await screenshot(p, SUITE, "10-zh-cluster");
    await p.getByRole("switch", { name: "Secret落盘加密" }).click();
    await p.getByRole("dialog", { name: "Secret落盘加密" }).waitFor();
    await screenshot(p, SUITE, "11-zh-disable-confirm");
    await p.getByRole("button", { name: "取消" }).click();
    await p.context().close();
  });

  it("the cluster page links to Event Query for its key and the service role, which finds Decrypt", async () => {
    const p = await signedIn(admin());
    await p.goto(clusterUrl());
    await p.getByRole("link", { name: /Event Query: the service role/ }).click();
    await p.getByRole("heading", { name: "Event Query" }).waitFor();
    assert.equal(await p.getByLabel("Resource name").inputValue(), up.keyId);
    await p.getByLabel("Event name").fill("Decrypt");
    await p.getByRole("button", { name: "Search" }).click();
    const rows = p
      .getByRole("table", { name: "Event Query" })
      .getByRole("row")
      .filter({ hasText: "Decrypt" });
    await rows.first().waitFor();
    assert.match(await rows.first().innerText(), /AliyunCSManagedSecurityRole/);
    await screenshot(p, SUITE, "12-events-for-key");
    assert.ok(!stack.stderr().includes(stack.profile.accessKeySecret), "the secret is never logged");
    await p.context().close();
  });
});
