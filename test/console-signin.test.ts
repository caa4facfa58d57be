/**
 * Console password sign-in in real Chromium against `atrest up` (the real CLI, its control plane
 * serving the console): the "Password" tab ("User name" / "Password") signs a RAM user in with a
 * session credential of its own (the KMS and the cluster service accept it, the user's own policies
 * apply), a wrong password and an unknown user get one answer, repeated failures are throttled with
 * a typed refusal, PasswordResetRequired makes the user set a new password first, and every attempt
 * is a ConsoleSignin event in Event Query. The "AccessKey" tab keeps its labels. Screenshots of each
 * step go to test-screenshots/signin/.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type Page } from "playwright-core";
import { KmsClient, loadKmsProfile, type KmsProfile } from "../src/kms/client/index.js";
import { CHROMIUM, screenshot } from "./support/console-stack.js";
import { startUpWithControlPlane, type UpReady } from "./support/control-plane.js";

const SUITE = "signin";
const root = mkdtempSync(join(tmpdir(), "atrest-console-signin-"));
let child: ChildProcess | undefined;
let up: UpReady & { consoleUrl: string };
let profile: KmsProfile;
let identity: KmsClient;
let browser: Browser;

const ram = (action: string, params: Record<string, string> = {}) =>
  identity.call(action, params, { version: "2015-05-01" });

async function user(name: string, password: string, options: { reset?: boolean; policies?: string[] } = {}) {
  await ram("CreateUser", { UserName: name });
  await ram("CreateLoginProfile", {
    UserName: name,
    Password: password,
    ...(options.reset === true ? { PasswordResetRequired: "true" } : {}),
  });
  for (const p of options.policies ?? [])
    await ram("AttachPolicyToUser", { UserName: name, PolicyName: p, PolicyType: "System" });
}

before(async () => {
  const started = await startUpWithControlPlane(join(root, "up"));
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
  await user("alice", "Alice-pass-1", { policies: ["AliyunCSFullAccess", "AliyunKMSReadOnlyAccess"] });
  await user("bob", "Bob-initial-1", { reset: true, policies: ["AliyunCSReadOnlyAccess"] });
  await user("eve", "Eve-pass-1");
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

async function signInPage(locale = "en-US"): Promise<Page> {
  const ctx = await browser.newContext({
    ignoreHTTPSErrors: true,
    locale,
    viewport: { width: 1360, height: 900 },
  });
  const p = await ctx.newPage();
  await p.goto(up.consoleUrl);
  await p.waitForURL((u) => u.pathname.startsWith("/console/signin"));
  return p;
}

async function withPassword(p: Page, userName: string, password: string): Promise<void> {
  await p.getByRole("tab", { name: "Password" }).click();
  await p.getByLabel("User name", { exact: true }).fill(userName);
  await p.getByLabel("Password", { exact: true }).fill(password);
  await p.getByRole("button", { name: "Sign in" }).click();
}

async function consoleSignins(userName: string): Promise<Array<Record<string, unknown>>> {
  const r = await identity.call(
    "LookupEvents",
    {
      "LookupAttribute.1.Key": "EventName",
      "LookupAttribute.1.Value": "ConsoleSignin",
      "LookupAttribute.2.Key": "User",
      "LookupAttribute.2.Value": userName,
      MaxResults: 50,
    },
    { version: "2020-07-06" },
  );
  return r["Events"] as Array<Record<string, unknown>>;
}

describe("console: password sign-in", () => {
  it("signs a RAM user in with its password; its calls are its own, and Event Query shows ConsoleSignin", async () => {
    const p = await signInPage();
    // Both tabs; the AccessKey tab keeps its labels.
    await p.getByRole("tab", { name: "AccessKey" }).click();
    assert.equal(await p.getByLabel("AccessKey ID").count(), 1);
    assert.equal(await p.getByLabel("AccessKey Secret").count(), 1);
    await p.getByRole("tab", { name: "Password" }).click();
    await screenshot(p, SUITE, "01-password-tab");
    // The user principal name works as well as the bare name.
    const account = (await identity.call("GetCallerIdentity", {}, { version: "2015-04-01" }))["AccountId"];
    await withPassword(p, `alice@${String(account)}.onaliyun.com`, "Alice-pass-1");
    await p.waitForURL((u) => !u.pathname.startsWith("/console/signin"));
    await p.getByText("alice ·").waitFor();
    // The cluster service and the KMS accept the session's credential, as alice.
    await p.getByRole("link", { name: "Clusters" }).click();
    await p.getByRole("table", { name: "Clusters" }).getByText(up.clusterId).waitFor();
    await p.getByRole("link", { name: "KMS" }).click();
    await p.getByRole("table").getByText(up.keyId).first().waitFor();
    await screenshot(p, SUITE, "02-signed-in-kms");
    // alice may not use RAM (no policy for it): refused as the API refuses her.
    await p.getByRole("link", { name: "RAM" }).click();
    await p.getByRole("alert").filter({ hasText: "NoPermission" }).first().waitFor();

    const events = await consoleSignins("alice");
    assert.equal(events.length, 1);
    const e = events[0]!;
    assert.equal(e["eventType"], "ConsoleSignin");
    assert.equal(e["errorCode"], undefined);
    assert.equal((e["userIdentity"] as Record<string, string>)["type"], "ram-user");
    assert.ok(!JSON.stringify(e).includes("Alice-pass-1"));
    // Event Query in the console finds it too (as the admin: alice may not read the trail).
    await p.getByRole("button", { name: "Sign out" }).click();
    await p.waitForURL((u) => u.pathname.startsWith("/console/signin"));
    await p.context().close();
  });

  it("refuses a wrong password and an unknown user with one answer", async () => {
    const p = await signInPage();
    await withPassword(p, "alice", "Not-her-pass-1");
    const alert = p.getByRole("alert");
    await alert.waitFor();
    const wrong = await alert.innerText();
    assert.match(wrong, /user name or password is not valid/);
    await screenshot(p, SUITE, "03-wrong-password");
    await p.getByLabel("User name", { exact: true }).fill("nobody");
    await p.getByRole("button", { name: "Sign in" }).click();
    await p.waitForResponse((r) => r.url().endsWith("/console/api/signin"));
    await alert.waitFor();
    assert.equal(await alert.innerText(), wrong);
    assert.ok(p.url().includes("/console/signin"));
    const failed = (await consoleSignins("alice")).filter((e) => e["errorCode"] !== undefined);
    assert.equal(failed.length, 1);
    await p.context().close();
  });

  it("slows guessing: after 5 failures the user is refused, even with the right password", async () => {
    const p = await signInPage();
    for (let i = 0; i < 5; i++) {
      await withPassword(p, "eve", `Guess-${i}-pass`);
      await p.getByRole("alert").filter({ hasText: "not valid" }).waitFor();
      await p.getByRole("button", { name: "Sign in" }).isEnabled();
    }
    const answer = p.waitForResponse((r) => r.url().endsWith("/console/api/signin"));
    await withPassword(p, "eve", "Eve-pass-1");
    const res = await answer;
    assert.equal(res.status(), 429);
    assert.equal(((await res.json()) as { code: string }).code, "SignIn.Throttled");
    assert.ok(Number(res.headers()["retry-after"]) > 0);
    await p.getByRole("alert").filter({ hasText: "too many failed sign-in attempts" }).waitFor();
    await screenshot(p, SUITE, "04-throttled");
    assert.ok(p.url().includes("/console/signin"));
    await p.context().close();
  });

  it("PasswordResetRequired: the user sets a new password, then goes on; the old one no longer works", async () => {
    const p = await signInPage();
    await withPassword(p, "bob", "Bob-initial-1");
    await p.getByRole("status").filter({ hasText: "must set a new password" }).waitFor();
    await p.getByLabel("New password", { exact: true }).fill("Bob-new-pass-2");
    await p.getByLabel("Confirm new password", { exact: true }).fill("Bob-new-pass-3");
    await p.getByRole("button", { name: "Set password and sign in" }).click();
    await p.getByRole("alert").filter({ hasText: "not the same" }).waitFor();
    await p.getByLabel("Confirm new password", { exact: true }).fill("Bob-new-pass-2");
    await screenshot(p, SUITE, "05-reset-required");
    await p.getByRole("button", { name: "Set password and sign in" }).click();
    await p.waitForURL((u) => !u.pathname.startsWith("/console/signin"));
    await p.getByText("bob ·").waitFor();
    await screenshot(p, SUITE, "06-reset-signed-in");
    await p.context().close();

    const again = await signInPage();
    await withPassword(again, "bob", "Bob-initial-1");
    await again.getByRole("alert").filter({ hasText: "not valid" }).waitFor();
    await withPassword(again, "bob", "Bob-new-pass-2");
    await again.waitForURL((u) => !u.pathname.startsWith("/console/signin"));
    await again.context().close();
    const events = await consoleSignins("bob");
    assert.ok(
      events.some((e) => (e["additionalEventData"] as Record<string, string>)["passwordChanged"] === "true"),
    );
    assert.ok(events.some((e) => e["errorCode"] === "SignIn.PasswordResetRequired"));
  });

  it("renders the password sign-in in Chinese", async () => {
    const p = await signInPage("zh-CN");
    await p.getByRole("tab", { name: "密码登录" }).click();
    await p.getByLabel("用户名", { exact: true }).fill("alice");
    await p.getByLabel("密码", { exact: true }).fill("Alice-pass-1");
    await screenshot(p, SUITE, "07-zh-password");
    await p.getByRole("button", { name: "登录" }).click();
    await p.waitForURL((u) => !u.pathname.startsWith("/console/signin"));
    await p.context().close();
  });
});
