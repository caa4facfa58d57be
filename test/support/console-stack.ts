/**
 * The web console for browser tests: `atrest up` in this process (kms, identity endpoint, plugin as
 * the service role, apiserver), the console mounted on a fastify HTTPS server signing its calls to
 * up's KMS and identity endpoint, and Debian's Chromium driven by playwright-core (no browser is ever
 * downloaded). Everything the servers log is kept, to prove no secret is ever written there.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Writable } from "node:stream";
import fastify, { type FastifyInstance } from "fastify";
import { pino } from "pino";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { generateTlsMaterial } from "../../src/common/tls.js";
import { registerConsole, type RegisteredConsole } from "../../src/control-plane/console/index.js";
import { KmsClient, loadKmsProfile, type KmsProfile } from "../../src/kms/client/index.js";
import { startUp, type RunningUp } from "../../src/up/index.js";
import { repoRoot } from "./cli.js";

export const CHROMIUM = process.env.ATREST_CHROMIUM ?? "/usr/bin/chromium";
/** Where the browser tests write a screenshot of each step (README: Web console). */
export const SCREENSHOT_DIR = join(repoRoot, "test-screenshots");

export interface ConsoleStack {
  readonly up: RunningUp;
  readonly profile: KmsProfile;
  /** up's admin on the KMS, and on the identity endpoint (STS, RAM, ActionTrail). */
  readonly admin: KmsClient;
  readonly adminIdentity: KmsClient;
  readonly app: FastifyInstance;
  readonly console: RegisteredConsole;
  /** https://127.0.0.1:<port> */
  readonly origin: string;
  readonly browser: Browser;
  /** Everything the console server and `atrest up` logged. */
  logs(): string;
  close(): Promise<void>;
}

export async function startConsoleStack(name: string): Promise<ConsoleStack> {
  const dir = mkdtempSync(join(tmpdir(), `atrest-console-${name}-`));
  const logChunks: string[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      logChunks.push(chunk.toString("utf8"));
      done();
    },
  });
  const logger = pino({ level: "debug" }, sink);
  const up = await startUp({ dataDir: join(dir, "up"), securePort: 0, logger });
  const profile = loadKmsProfile(up.summary.kmsProfile);
  const caPem = readFileSync(profile.caFile!, "utf8");
  const admin = new KmsClient({
    endpoint: profile.endpoint,
    regionId: up.summary.region,
    accessKeyId: profile.accessKeyId,
    accessKeySecret: profile.accessKeySecret,
    caPem,
  });
  const adminIdentity = new KmsClient({
    endpoint: up.summary.identityEndpoint,
    regionId: up.summary.region,
    accessKeyId: profile.accessKeyId,
    accessKeySecret: profile.accessKeySecret,
    caPem,
  });
  const tls = await generateTlsMaterial({ commonName: "atrest-console", hosts: ["127.0.0.1"] });
  const app = fastify({
    https: { key: tls.keyPem, cert: tls.certPem },
    logger: { level: "debug", stream: sink },
  });
  const registered = await registerConsole(app, {
    kmsEndpoint: up.summary.kmsEndpoint,
    identityEndpoint: up.summary.identityEndpoint,
    regionId: up.summary.region,
    caPem,
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  return {
    up,
    profile,
    admin,
    adminIdentity,
    app,
    console: registered,
    origin: `https://127.0.0.1:${port}`,
    browser,
    logs: () => logChunks.join(""),
    async close() {
      await browser.close();
      await app.close();
      admin.close();
      adminIdentity.close();
      await up.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A browser context for the console (its own cookies), trusting the test server's certificate. */
export function newContext(stack: ConsoleStack, locale = "en-US"): Promise<BrowserContext> {
  return stack.browser.newContext({
    ignoreHTTPSErrors: true,
    locale,
    viewport: { width: 1360, height: 900 },
  });
}

/** Signs in through the sign-in page's form, as a person would. */
export async function signIn(
  page: Page,
  stack: ConsoleStack,
  credentials: { accessKeyId: string; accessKeySecret: string },
  labels = { id: "AccessKey ID", secret: "AccessKey Secret", submit: "Sign in" },
): Promise<void> {
  await page.goto(`${stack.origin}/console/`);
  await page.getByLabel(labels.id).fill(credentials.accessKeyId);
  await page.getByLabel(labels.secret).fill(credentials.accessKeySecret);
  await page.getByRole("button", { name: labels.submit }).click();
  await page.waitForURL((u) => !u.pathname.startsWith("/console/signin"));
}

/** A full-page screenshot of this step, named `<suite>/<nn>-<step>.png`. */
export async function screenshot(page: Page, suite: string, step: string): Promise<string> {
  const folder = join(SCREENSHOT_DIR, suite);
  mkdirSync(folder, { recursive: true });
  const file = join(folder, `${step}.png`);
  await page.screenshot({ path: file, fullPage: true });
  return file;
}
