/**
 * The running change in the web console, in real Chromium against `atrest up` (the real CLI, its
 * control plane serving the console), on a cluster of a few thousand Secrets:
 * - progress: while Secret encryption turns off, the state badge says Updating, the stage stepper
 *   shows the stages and the progress bar (role progressbar, "N / M", rate, ETA) advances at least
 *   twice before Running — the control plane persists the rewrite's progress about once a second;
 * - quick authorization (AliyunCSManagedSecurityRole without its policy): enabling is refused with the reason; a
 *   user RAM does not let create roles is told whom to ask, the administrator is offered "Quick
 *   authorization", which creates the role, and enabling then works (Updating → Running, scan agrees);
 * - failure and Resume: the network between the control plane and the cluster's apiserver is cut
 *   mid-rewrite (a TCP relay the cluster file points at): the change fails, the console shows why and
 *   "Resume"; once the network is back, Resume goes on from where it stopped and ends Running.
 * The cluster file is tuned as an operator would for a busy cluster (concurrency 2, pages of 100, a
 * 3 s retry budget) so the rewrite takes long enough to watch. Screenshots: test-screenshots/operations/.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Page } from "playwright-core";
import YAML from "yaml";
import { KubeClient } from "../src/operations/kube-client.js";
import { loadKubeconfig } from "../src/operations/kubeconfig.js";
import { runAtrest } from "./support/cli.js";
import { screenshot } from "./support/console-stack.js";
import {
  scanSqliteSecrets,
  signInWithAccessKey,
  startConsoleUp,
  type ConsoleUp,
} from "./support/console-up.js";
import type { Creds } from "./support/control-plane.js";
import { startTcpProxy, type TcpProxy } from "./support/tcp-proxy.js";

const SUITE = "operations";
const SECRETS = 2_500;
const OPERATION_TIMEOUT_MS = 240_000;

const root = mkdtempSync(join(tmpdir(), "atrest-console-ops-"));
let stack: ConsoleUp;
let up: ConsoleUp["up"];
let proxy: TcpProxy;

const scanSecrets = () => scanSqliteSecrets(up.storeLocation.sqlite!);
const ram = (action: string, params: Record<string, string> = {}) => stack.ram(action, params);

/** Creates `count` Secrets through the API, 16 at a time (kubectl would take minutes for thousands). */
async function createSecrets(count: number): Promise<void> {
  const kube = new KubeClient(loadKubeconfig(up.kubeconfig));
  try {
    await kube.postJson("/api/v1/namespaces", {
      apiVersion: "v1",
      kind: "Namespace",
      metadata: { name: "bulk" },
    });
    let next = 0;
    const worker = async (): Promise<void> => {
      while (next < count) {
        const i = next++;
        await kube.postJson("/api/v1/namespaces/bulk/secrets", {
          apiVersion: "v1",
          kind: "Secret",
          metadata: { name: `s-${i}` },
          stringData: { value: `v-${i}` },
        });
      }
    };
    await Promise.all(Array.from({ length: 16 }, worker));
  } finally {
    kube.close();
  }
}

/**
 * Points the control plane's view of the cluster at a TCP relay in front of the apiserver (a copy of
 * the kubeconfig naming the relay, the cluster file's apiserver URL) and sets the operation's tunables.
 */
function routeClusterThrough(p: TcpProxy): void {
  const kubeconfig = YAML.parse(readFileSync(up.kubeconfig, "utf8")) as {
    clusters: Array<{ cluster: { server: string } }>;
  };
  const relayed = `https://127.0.0.1:${p.port}`;
  for (const c of kubeconfig.clusters) c.cluster.server = relayed;
  const relayedKubeconfig = join(root, "relayed.kubeconfig");
  writeFileSync(relayedKubeconfig, YAML.stringify(kubeconfig), { mode: 0o600 });
  const file = YAML.parse(readFileSync(up.clusterFile, "utf8")) as Record<string, unknown> & {
    apiservers: Array<{ url: string }>;
  };
  file["kubeconfig"] = relayedKubeconfig;
  for (const a of file.apiservers) a.url = relayed;
  file["operation"] = { concurrency: 2, pageSize: 100, retryTimeout: "3s" };
  writeFileSync(up.clusterFile, YAML.stringify(file), { mode: 0o600 });
}

before(async () => {
  stack = await startConsoleUp(join(root, "up"), ["--update-cooldown", "1s"]);
  up = stack.up;
  const apiserver = new URL(up.apiserverUrl);
  proxy = await startTcpProxy({ host: apiserver.hostname, port: Number(apiserver.port) });
  routeClusterThrough(proxy);
  await createSecrets(SECRETS);
});

after(async () => {
  await proxy?.close();
  await stack?.close();
  rmSync(root, { recursive: true, force: true });
});

async function signedIn(creds: Creds, locale = "en-US"): Promise<Page> {
  return signInWithAccessKey(await stack.page({ locale }), creds, locale);
}

const admin = () => stack.admin;
const clusterUrl = () =>
  `${new URL(up.consoleUrl).origin}/console/clusters/${encodeURIComponent(up.clusterId)}`;

/** Waits (as a user would) until the cluster may be changed again, then reloads the page. */
async function waitChangeable(p: Page): Promise<void> {
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

interface PageElement {
  getAttribute(name: string): string | null;
  querySelector(selector: string): PageElement | null;
  readonly parentElement: PageElement | null;
  readonly textContent: string | null;
}
interface PageDocument {
  querySelector(selector: string): PageElement | null;
  readonly body: { readonly innerText: string };
}

/**
 * The bar's value once it is above `above` while the badge still says Updating (read in the page, in
 * one go, so "before Running" holds for the value returned).
 */
async function barAbove(p: Page, above: number): Promise<{ now: number; max: number; text: string }> {
  const handle = await p.waitForFunction(
    (prev: number) => {
      // The page's DOM (this runs in the browser; the test's types have no DOM library).
      const doc = (globalThis as unknown as { document: PageDocument }).document;
      const bar = doc.querySelector('[role="progressbar"]');
      if (bar === null || !doc.body.innerText.includes("Updating")) return false;
      const now = Number(bar.getAttribute("aria-valuenow"));
      if (!(now > prev)) return false;
      return {
        now,
        max: Number(bar.getAttribute("aria-valuemax")),
        text: bar.parentElement?.querySelector(".count")?.textContent ?? "",
      };
    },
    above,
    { timeout: OPERATION_TIMEOUT_MS, polling: 100 },
  );
  return (await handle.jsonValue()) as { now: number; max: number; text: string };
}

/** `atrest encryption status -o json` on the cluster (the engine's record, read from the cluster). */
async function encryptionStatus(): Promise<{
  operation: { id: string; type: string; state: string; progress: { rewritten: number } } | null;
}> {
  const r = await runAtrest(["encryption", "status", "--cluster", up.clusterFile, "-o", "json"]);
  return JSON.parse(r.stdout) as never;
}

/** Waits for Updating; a refusal in the dialog instead fails with what it says. */
async function expectUpdating(p: Page): Promise<void> {
  const refusal = p.getByRole("dialog", { name: "Secret Encryption" }).getByRole("alert");
  const first = await Promise.race([
    p
      .getByText("Updating")
      .first()
      .waitFor()
      .then(() => "updating"),
    refusal.waitFor().then(async () => `refused: ${await refusal.innerText()}`),
  ]);
  assert.equal(first, "updating");
}

/** Turns the switch on and picks up's key in the dialog. */
async function enableThroughDialog(p: Page): Promise<void> {
  await p.getByRole("switch", { name: "Secret Encryption" }).click();
  const dialog = p.getByRole("dialog", { name: "Secret Encryption" });
  const select = dialog.getByLabel("KMS Key");
  await select.locator("option").first().waitFor({ state: "attached" });
  await select.selectOption(up.keyId);
  await dialog.getByRole("button", { name: "OK" }).click();
}

describe("console: a running change, its failure and Resume, quick authorization", () => {
  it("shows Updating, the stepper and a progress bar that advances live, then Running", async () => {
    const p = await signedIn(admin());
    await p.goto(clusterUrl());
    await waitChangeable(p);
    await p.getByRole("switch", { name: "Secret Encryption" }).click();
    const dialog = p.getByRole("dialog", { name: "Secret Encryption" });
    await dialog.getByRole("button", { name: "OK" }).click();
    await p.getByText("Updating").first().waitFor();
    const stepper = p.getByRole("list", { name: "Stages" });
    await stepper.waitFor();
    assert.match(await stepper.innerText(), /preflight[\s\S]*rewrite[\s\S]*verify/);

    const first = await barAbove(p, 0);
    assert.ok(first.max >= SECRETS, `the bar's maximum counts every Secret (${first.max})`);
    assert.equal(first.text, `${first.now} / ${first.max}`);
    await screenshot(p, SUITE, "01-progress");
    const second = await barAbove(p, first.now);
    const third = await barAbove(p, second.now);
    assert.ok(third.now < third.max, "seen advancing twice before the end");
    await p
      .getByText(/ETA \d/)
      .first()
      .waitFor();
    await p
      .getByText(/Secrets\/s/)
      .first()
      .waitFor();
    await screenshot(p, SUITE, "02-progress-advanced");

    await p.getByText("Running").first().waitFor({ timeout: OPERATION_TIMEOUT_MS });
    await p.locator('[role="switch"][aria-checked="false"]').waitFor();
    assert.equal(await p.getByRole("progressbar").count(), 0, "no bar once the change is done");
    await screenshot(p, SUITE, "03-running");
    const scan = await scanSecrets();
    assert.ok(scan.total >= SECRETS);
    assert.equal(scan.encrypted, 0, "no Secret under the KMS after disable");
    await p.context().close();
  });

  it("service role not authorized: the reason, whom to ask (no RAM rights) or Quick authorization; then enable works", async () => {
    // The service role loses its authorization (the system policy quick authorization attaches). A
    // custom policy keeps the running plugin's KMS calls allowed meanwhile: deleting the role would end
    // the plugin's STS session for good (a new role has a new id), which is not what this test is about.
    await ram("CreatePolicy", {
      PolicyName: "PluginKmsMeanwhile",
      PolicyDocument: JSON.stringify({
        Version: "1",
        Statement: [
          { Effect: "Allow", Action: ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"], Resource: "*" },
        ],
      }),
    });
    await ram("AttachPolicyToRole", {
      RoleName: "AliyunCSManagedSecurityRole",
      PolicyName: "PluginKmsMeanwhile",
      PolicyType: "Custom",
    });
    await ram("DetachPolicyFromRole", {
      RoleName: "AliyunCSManagedSecurityRole",
      PolicyName: "AliyunCSManagedSecurityRolePolicy",
      PolicyType: "System",
    });
    // carol administers the cluster and may use the KMS, but RAM does not let her create roles.
    await ram("CreateUser", { UserName: "carol" });
    const key = (await ram("CreateAccessKey", { UserName: "carol" }))["AccessKey"] as {
      AccessKeyId: string;
      AccessKeySecret: string;
    };
    for (const policy of ["AliyunCSFullAccess", "AliyunKMSFullAccess"])
      await ram("AttachPolicyToUser", { UserName: "carol", PolicyName: policy, PolicyType: "System" });
    const a = await signedIn(admin());
    await a.goto(clusterUrl());
    await a.getByRole("tab", { name: "Cluster role assignments" }).click();
    await a.getByLabel("RAM user or role").fill("carol");
    await a.getByLabel("Role", { exact: true }).selectOption("admin");
    await a.getByRole("button", { name: "Grant" }).click();
    await a.getByRole("table", { name: "Cluster role assignments" }).getByText("carol").waitFor();
    await a.context().close();

    const c = await signedIn({ accessKeyId: key.AccessKeyId, accessKeySecret: key.AccessKeySecret });
    await c.goto(clusterUrl());
    await waitChangeable(c);
    await enableThroughDialog(c);
    const refused = c.getByRole("alert").filter({ hasText: "ErrorRamRoleNotAuthorized" });
    await refused.waitFor();
    assert.match(
      await refused.innerText(),
      /AliyunCSManagedSecurityRole lacks AliyunCSManagedSecurityRolePolicy/,
    );
    const carolNotice = c.getByRole("region", { name: "Quick authorization" });
    await carolNotice.waitFor();
    const carolText = await carolNotice.innerText();
    assert.match(carolText, /Ask a RAM administrator of account \d+/);
    assert.match(carolText, /ram:CreateRole/);
    assert.equal(await carolNotice.getByRole("button", { name: "Quick authorization" }).count(), 0);
    await screenshot(c, SUITE, "04-no-role-ask-admin");
    await c.context().close();

    const p = await signedIn(admin());
    await p.goto(clusterUrl());
    await enableThroughDialog(p);
    await p.getByRole("alert").filter({ hasText: "ErrorRamRoleNotAuthorized" }).waitFor();
    const notice = p.getByRole("region", { name: "Quick authorization" });
    await notice.getByRole("button", { name: "Quick authorization" }).waitFor();
    await screenshot(p, SUITE, "05-no-role-quick-authorization");
    await notice.getByRole("button", { name: "Quick authorization" }).click();
    await p.getByRole("status").filter({ hasText: "The service role is authorized" }).waitFor();
    const role = (await ram("GetRole", { RoleName: "AliyunCSManagedSecurityRole" }))["Role"] as {
      AssumeRolePolicyDocument: string;
    };
    assert.match(role.AssumeRolePolicyDocument, /cs\.aliyuncs\.com/);
    const attached = JSON.stringify(
      await ram("ListPoliciesForRole", { RoleName: "AliyunCSManagedSecurityRole" }),
    );
    assert.match(attached, /AliyunCSManagedSecurityRolePolicy/);

    await enableThroughDialog(p);
    await expectUpdating(p);
    await p.getByText("Running").first().waitFor({ timeout: OPERATION_TIMEOUT_MS });
    await p.locator('[role="switch"][aria-checked="true"]').waitFor();
    await screenshot(p, SUITE, "06-authorized-enabled");
    const scan = await scanSecrets();
    assert.equal(scan.plaintext, 0);
    assert.equal(scan.encrypted, scan.total);

    // The cluster page's link: Event Query filtered to the KMS, this key and the service role, searched.
    await p.getByRole("link", { name: /Event Query: the service role/ }).click();
    await p.getByRole("heading", { name: "Event Query" }).waitFor();
    assert.equal(await p.getByLabel("Service name").inputValue(), "Kms");
    assert.equal(await p.getByLabel("Resource name").inputValue(), up.keyId);
    const rows = p
      .getByRole("table", { name: "Event Query" })
      .getByRole("row")
      .filter({ hasText: /Encrypt|Decrypt/ });
    await rows.first().waitFor();
    assert.match(await rows.first().innerText(), /AliyunCSManagedSecurityRole/);
    await screenshot(p, SUITE, "06b-event-query-for-key");
    await p.context().close();
  });

  it("a change cut off from the apiserver fails with its reason; Resume goes on from there to Running", async () => {
    const p = await signedIn(admin());
    await p.goto(clusterUrl());
    await waitChangeable(p);
    await p.getByRole("switch", { name: "Secret Encryption" }).click();
    await p.getByRole("dialog", { name: "Secret Encryption" }).getByRole("button", { name: "OK" }).click();
    await p.getByText("Updating").first().waitFor();
    const reached = await barAbove(p, 300);
    await proxy.cut(); // the network between the control plane and the cluster's apiserver is gone

    const alert = p.getByRole("alert").filter({ hasText: "The change failed" });
    await alert.waitFor({ timeout: OPERATION_TIMEOUT_MS });
    await p.getByText("Failed").first().waitFor();
    const text = await alert.innerText();
    assert.match(text, /Stopped at stage rewrite/);
    assert.match(text, /ECONNREFUSED|ECONNRESET|unreachable|socket hang up|connect/i, text);
    const resume = alert.getByRole("button", { name: "Resume" });
    await resume.waitFor();
    await screenshot(p, SUITE, "07-failed");
    // The same in Chinese: 变更失败, the stage, 继续.
    const zh = await signedIn(admin(), "zh-CN");
    await zh.goto(clusterUrl());
    const zhAlert = zh.getByRole("alert").filter({ hasText: "变更失败" });
    await zhAlert.waitFor();
    assert.match(await zhAlert.innerText(), /停止于阶段 rewrite/);
    await zhAlert.getByRole("button", { name: "继续" }).waitFor();
    await screenshot(zh, SUITE, "07b-failed-zh");
    await zh.context().close();

    await proxy.restore(); // the cause fixed
    const stopped = await encryptionStatus();
    assert.equal(stopped.operation?.type, "disable");
    assert.notEqual(stopped.operation?.state, "Succeeded");
    assert.ok(
      stopped.operation.progress.rewritten >= reached.now - 200,
      "the record kept the rewrite's count",
    );
    await resume.click();
    await p.getByText("Updating").first().waitFor();
    await screenshot(p, SUITE, "08-resumed");
    await p.getByText("Running").first().waitFor({ timeout: OPERATION_TIMEOUT_MS });
    await p.locator('[role="switch"][aria-checked="false"]').waitFor();
    await screenshot(p, SUITE, "09-resumed-running");

    const done = await encryptionStatus();
    assert.equal(
      done.operation?.id,
      stopped.operation?.id,
      "the same operation went on (resumed, not restarted)",
    );
    assert.equal(done.operation?.state, "Succeeded");
    const scan = await scanSecrets();
    assert.ok(scan.total >= SECRETS);
    assert.equal(scan.encrypted, 0, "scan agrees: every Secret decrypted");
    await p.getByRole("tab", { name: "Events" }).click();
    await p
      .getByRole("table", { name: "Events" })
      .getByText(/resuming task T-/)
      .first()
      .waitFor();
    await p.context().close();
  });

  it("never logs the administrator's secret", () => {
    assert.ok(!stack.stderr().includes(stack.profile.accessKeySecret));
  });
});
