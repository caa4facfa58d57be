/**
 * The web console in real Chromium against `atrest up`: sign in with an access key pair, the KMS page
 * (up's key, its versions, the cluster using it), the key page refusing to disable the key in use
 * (Rejected.KeyInUse, shown plainly, nothing changed), Event Query finding the service role's Decrypt
 * events, RAM attaching the seed documents' deny policy; the Chinese locale renders the same pages.
 * Screenshots of each step go to test-screenshots/kms-events/.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { Page } from "playwright-core";
import {
  newContext,
  screenshot,
  signIn,
  startConsoleStack,
  type ConsoleStack,
} from "./support/console-stack.js";

const SUITE = "kms-events";
let stack: ConsoleStack;

before(async () => {
  stack = await startConsoleStack("kms");
  // The contract the encryption operations keep with the KMS (src/kms/keys/cluster-tags.ts): the
  // cluster's current key carries atrest:cluster:<name>=write.
  await stack.admin.call("TagResource", {
    KeyId: stack.up.summary.keyId,
    Tags: JSON.stringify([{ TagKey: "atrest:cluster:atrest-up", TagValue: "write" }]),
  });
});
after(async () => {
  await stack?.close();
});

const admin = () => ({
  accessKeyId: stack.profile.accessKeyId,
  accessKeySecret: stack.profile.accessKeySecret,
});

async function page(locale?: string): Promise<Page> {
  const ctx = await newContext(stack, locale);
  return ctx.newPage();
}

describe("console: KMS and Event Query", () => {
  it("signs in with an access key pair and lists the keys with the cluster using up's key", async () => {
    const p = await page();
    await p.goto(`${stack.origin}/console/`);
    assert.match(new URL(p.url()).pathname, /^\/console\/signin/);
    await screenshot(p, SUITE, "01-sign-in");
    await signIn(p, stack, admin());
    const row = p.getByRole("row").filter({ hasText: stack.up.summary.keyId });
    await row.waitFor();
    assert.match(await row.innerText(), /Enabled/);
    assert.match(await row.innerText(), /atrest-up \(write\)/);
    assert.match(await row.innerText(), /alias\/atrest-up/);
    await screenshot(p, SUITE, "02-keys");
    await p.context().close();
  });

  it("a wrong secret is refused on the sign-in page and no session is made", async () => {
    const p = await page();
    await p.goto(`${stack.origin}/console/signin`);
    const before = stack.console.sessions.size;
    await p.getByLabel("AccessKey ID").fill(stack.profile.accessKeyId);
    await p.getByLabel("AccessKey Secret").fill("not-the-secret-0000");
    await p.getByRole("button", { name: "Sign in" }).click();
    const alert = p.getByRole("alert");
    await alert.waitFor();
    assert.match(await alert.innerText(), /AccessKey ID or AccessKey Secret is not valid/);
    assert.equal(stack.console.sessions.size, before);
    assert.equal((await p.context().cookies()).length, 0);
    await screenshot(p, SUITE, "03-sign-in-refused");
    await p.context().close();
  });

  it("the key page refuses to disable the key in use, plainly, and the key stays Enabled", async () => {
    const p = await page();
    await signIn(p, stack, admin());
    await p.getByRole("link", { name: stack.up.summary.keyId }).click();
    await p.getByRole("heading", { name: stack.up.summary.keyId }).waitFor();
    await p.getByRole("heading", { name: "Key versions" }).waitFor();
    assert.equal(await p.getByRole("row").filter({ hasText: "primary" }).count(), 1);
    await p.getByRole("button", { name: "Disable" }).click();
    const alert = p.getByRole("alert");
    await alert.waitFor();
    const text = await alert.innerText();
    assert.match(text, /Rejected\.KeyInUse/);
    assert.match(text, /atrest-up/);
    await screenshot(p, SUITE, "04-disable-refused");
    const d = await stack.admin.call("DescribeKey", { KeyId: stack.up.summary.keyId });
    assert.equal((d["KeyMetadata"] as { KeyState: string }).KeyState, "Enabled");
    await p.context().close();
  });

  it("rotate now adds a version that becomes primary", async () => {
    const p = await page();
    await signIn(p, stack, admin());
    await p.goto(`${stack.origin}/console/kms/keys/${encodeURIComponent(stack.up.summary.keyId)}`);
    await p.getByRole("heading", { name: "Key versions" }).waitFor();
    const rowsBefore = await p.getByRole("row").count();
    await p.getByRole("button", { name: "Rotate now" }).click();
    await p.getByRole("status").waitFor();
    await p.getByRole("row").nth(rowsBefore).waitFor();
    const v = await stack.admin.call("ListKeyVersions", { KeyId: stack.up.summary.keyId });
    assert.equal(Number(v["TotalCount"]), 2);
    await screenshot(p, SUITE, "05-rotated");
    await p.context().close();
  });

  it("Event Query finds the service role's Decrypt events and shows a full record", async () => {
    const p = await page();
    await signIn(p, stack, admin());
    await p.getByRole("link", { name: "Event Query" }).click();
    await p.getByRole("heading", { name: "Event Query" }).waitFor();
    await p.getByLabel("Event name").fill("Decrypt");
    await p.getByLabel("User or role name").fill("aliyuncsmanagedsecurityrole");
    await p.getByRole("button", { name: "Search" }).click();
    const table = p.getByRole("table", { name: "Event Query" });
    await table.waitFor();
    const rows = table.getByRole("row").filter({ hasText: "Decrypt" });
    assert.ok((await rows.count()) >= 1);
    assert.match(await rows.first().innerText(), /AliyunCSManagedSecurityRole:atrest-up/);
    await screenshot(p, SUITE, "06-event-query");
    await rows.first().getByRole("button", { name: "Details" }).click();
    const dialog = p.getByRole("dialog", { name: "Event record" });
    await dialog.waitFor();
    const record = await dialog.innerText();
    assert.match(record, /"type": "assumed-role"/);
    assert.match(record, /"serviceName": "Kms"/);
    await screenshot(p, SUITE, "07-event-record");
    await p.context().close();
  });

  it("RAM: creates the seed documents' deny policy and attaches it to a user", async () => {
    await stack.adminIdentity.call("CreateUser", { UserName: "dev-alice" }, { version: "2015-05-01" });
    const p = await page();
    await signIn(p, stack, admin());
    await p.getByRole("link", { name: "RAM" }).click();
    await p.getByRole("link", { name: "dev-alice" }).waitFor();
    await screenshot(p, SUITE, "08-ram");
    await p.getByRole("button", { name: /deny policy/ }).click();
    await p.getByRole("cell", { name: "DenyUpdateKMSEncryption", exact: true }).waitFor();
    await p.getByRole("link", { name: "dev-alice" }).click();
    await p.getByLabel("Policy to attach").selectOption("Custom/DenyUpdateKMSEncryption");
    await p.getByRole("button", { name: "Attach" }).click();
    await p.getByRole("table", { name: "Attached policies" }).getByText("DenyUpdateKMSEncryption").waitFor();
    await screenshot(p, SUITE, "09-deny-attached");
    await p.context().close();
  });

  it("renders the same pages in Chinese for a zh-CN browser", async () => {
    const p = await page("zh-CN");
    await signIn(p, stack, admin(), { id: "AccessKey ID", secret: "AccessKey Secret", submit: "登录" });
    await p.getByRole("heading", { name: "密钥" }).waitFor();
    await p.getByRole("link", { name: "历史事件查询" }).click();
    await p.getByRole("heading", { name: "历史事件查询" }).waitFor();
    assert.equal(await p.evaluate("document.documentElement.lang"), "zh-CN");
    await screenshot(p, SUITE, "10-zh-event-query");
    await p.context().close();
  });
});
