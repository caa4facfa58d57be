/**
 * The browser tests' common set-up against the real CLI: `atrest up -o json` (its control plane serving
 * the console at `consoleUrl`), up's admin on the identity endpoint (RAM, ActionTrail), Debian's
 * Chromium (playwright-core; nothing downloads a browser), pages signed in either way, `atrest scan`.
 */
import type { ChildProcess } from "node:child_process";
import { readFileSync } from "node:fs";
import { chromium, type Browser, type Page } from "playwright-core";
import { KmsClient, loadKmsProfile, type KmsProfile } from "../../src/kms/client/index.js";
import { runAtrest } from "./cli.js";
import { CHROMIUM } from "./console-stack.js";
import { startUpWithControlPlane, type Creds, type UpReady } from "./control-plane.js";

const STOP_TIMEOUT_MS = 30_000;

export interface ConsoleUp {
  readonly up: UpReady & { readonly consoleUrl: string };
  readonly profile: KmsProfile;
  /** up's admin key pair. */
  readonly admin: Creds;
  /** up's admin on the identity endpoint (STS, RAM, ActionTrail). */
  readonly identity: KmsClient;
  readonly browser: Browser;
  readonly child: ChildProcess;
  stderr(): string;
  /** A RAM 2015-05-01 call as up's admin. */
  ram(action: string, params?: Record<string, string>): Promise<Record<string, unknown>>;
  /** A fresh browser context's page on the console (not signed in). */
  page(options?: { locale?: string; height?: number }): Promise<Page>;
  /** Stops the browser and `atrest up` (SIGINT, then SIGKILL after 30 s). */
  close(): Promise<void>;
}

export async function startConsoleUp(dataDir: string, upArgs: readonly string[] = []): Promise<ConsoleUp> {
  const started = await startUpWithControlPlane(dataDir, upArgs);
  const up = started.ready as UpReady & { consoleUrl: string };
  const profile = loadKmsProfile(up.kmsProfile);
  const identity = new KmsClient({
    endpoint: up.identityEndpoint,
    regionId: up.region,
    accessKeyId: profile.accessKeyId,
    accessKeySecret: profile.accessKeySecret,
    caPem: readFileSync(profile.caFile!, "utf8"),
  });
  let browser: Browser;
  try {
    browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  } catch (err) {
    identity.close();
    started.child.kill("SIGKILL");
    throw err;
  }
  const child = started.child;
  return {
    up,
    profile,
    admin: { accessKeyId: profile.accessKeyId, accessKeySecret: profile.accessKeySecret },
    identity,
    browser,
    child,
    stderr: started.stderr,
    ram: (action, params = {}) => identity.call(action, params, { version: "2015-05-01" }),
    async page(options = {}) {
      const ctx = await browser.newContext({
        ignoreHTTPSErrors: true,
        locale: options.locale ?? "en-US",
        viewport: { width: 1360, height: options.height ?? 900 },
      });
      const p = await ctx.newPage();
      await p.goto(up.consoleUrl);
      return p;
    },
    async close() {
      await browser.close();
      identity.close();
      if (child.exitCode !== null) return;
      const exited = new Promise((r) => child.once("exit", r));
      child.kill("SIGINT");
      const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
      await exited;
      clearTimeout(timer);
    },
  };
}

/** Signs in on the AccessKey tab (the sign-in page's default) and waits to leave the sign-in page. */
export async function signInWithAccessKey(p: Page, creds: Creds, locale = "en-US"): Promise<Page> {
  await p.getByLabel("AccessKey ID").fill(creds.accessKeyId);
  await p.getByLabel("AccessKey Secret").fill(creds.accessKeySecret);
  await p.getByRole("button", { name: locale.startsWith("zh") ? "登录" : "Sign in" }).click();
  await p.waitForURL((u) => !u.pathname.startsWith("/console/signin"));
  return p;
}

/** Fills the Password tab and presses Sign in (the caller waits for what it expects). */
export async function fillPasswordSignIn(p: Page, userName: string, password: string): Promise<void> {
  await p.getByRole("tab", { name: "Password" }).click();
  await p.getByLabel("User name", { exact: true }).fill(userName);
  await p.getByLabel("Password", { exact: true }).fill(password);
  await p.getByRole("button", { name: "Sign in" }).click();
}

export interface ScannedSecrets {
  readonly total: number;
  readonly encrypted: number;
  readonly plaintext: number;
  readonly byKmsProvider: Record<string, number>;
}

/** `atrest scan` of a SQLite datastore's Secrets. */
export async function scanSqliteSecrets(sqlitePath: string): Promise<ScannedSecrets> {
  const r = await runAtrest([
    "scan",
    "--datastore-endpoint",
    `sqlite://${sqlitePath}`,
    "--resource",
    "secrets",
    "-o",
    "json",
  ]);
  return (JSON.parse(r.stdout) as { resources: { secrets: ScannedSecrets } }).resources.secrets;
}
