/**
 * `npm run bench -- console`: the web console's first load in Debian's Chromium — from navigation to
 * interactive (the Secret Encryption switch usable) for the cluster page of `atrest up`'s cluster (the
 * real CLI, its control plane serving the console), in a fresh browser context each round (cold cache, new
 * TLS connection) — beside a baseline in the same run: a static HTML page with no script from an
 * HTTPS server on the same machine (what the browser, TLS and loopback cost alone). And the
 * JavaScript the page loads, gzipped, beside the sign-in page's (React and the shared code alone).
 * Goals (issue 13): interactive ≤ 1 s, JavaScript ≤ 200 KB gzipped.
 */
import { gzipSync } from "node:zlib";
import fastify from "fastify";
import { generateTlsMaterial } from "../src/common/tls.js";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { request } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { SESSION_COOKIE } from "../src/control-plane/console/index.js";
import { loadKmsProfile } from "../src/kms/client/index.js";
import { CHROMIUM } from "../test/support/console-stack.js";
import { startUpWithControlPlane } from "../test/support/control-plane.js";

const ROUNDS = 12;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)] ?? NaN;
}

function summary(ms: number[]) {
  const s = [...ms].sort((a, b) => a - b);
  return {
    rounds: s.length,
    p50Ms: +percentile(s, 50).toFixed(1),
    p90Ms: +percentile(s, 90).toFixed(1),
    maxMs: +s[s.length - 1]!.toFixed(1),
  };
}

/** Signs in as the page does (POST /console/api/signin from the console's origin); the session cookie. */
function sessionCookie(
  origin: string,
  caPem: string,
  creds: { accessKeyId: string; accessKeySecret: string },
): Promise<string> {
  const body = JSON.stringify(creds);
  return new Promise((resolve, reject) => {
    const req = request(
      new URL("/console/api/signin", origin),
      {
        method: "POST",
        ca: caPem,
        headers: { origin, "content-type": "application/json", "content-length": Buffer.byteLength(body) },
      },
      (res) => {
        res.resume();
        const set = res.headers["set-cookie"] ?? [];
        const c = set.map((h) => h.split(";")[0]!).find((kv) => kv.startsWith(`${SESSION_COOKIE}=`));
        if (res.statusCode !== 200 || c === undefined)
          reject(new Error(`sign-in failed: HTTP ${res.statusCode}`));
        else resolve(c.slice(SESSION_COOKIE.length + 1));
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Loads `url` in a fresh context; resolves with the in-page time when `ready` holds, and the scripts' bytes. */
async function firstLoad(
  browser: Browser,
  url: string,
  cookie: string | undefined,
  ready: (page: Page) => Promise<unknown>,
): Promise<{ ms: number; scripts: Map<string, Buffer> }> {
  const ctx: BrowserContext = await browser.newContext({ ignoreHTTPSErrors: true });
  if (cookie !== undefined)
    await ctx.addCookies([
      {
        name: SESSION_COOKIE,
        value: cookie,
        url: new URL(url).origin,
        httpOnly: true,
        secure: true,
        sameSite: "Strict",
      },
    ]);
  const page = await ctx.newPage();
  const scripts = new Map<string, Buffer>();
  page.on("response", (r) => {
    if (r.request().resourceType() === "script")
      void r.body().then(
        (b) => scripts.set(r.url(), b),
        () => undefined,
      );
  });
  await page.goto(url, { waitUntil: "commit" });
  await ready(page);
  // Navigation start is the page's time origin: this is the time from the click to usable.
  const ms = await page.evaluate<number>("performance.now()");
  await page.waitForLoadState("networkidle");
  await ctx.close();
  return { ms, scripts };
}

const gz = (scripts: Map<string, Buffer>) =>
  [...scripts.values()].reduce((n, b) => n + gzipSync(b, { level: 9 }).length, 0);
const raw = (scripts: Map<string, Buffer>) => [...scripts.values()].reduce((n, b) => n + b.length, 0);

export async function run(): Promise<Record<string, unknown>> {
  const root = mkdtempSync(join(tmpdir(), "atrest-bench-console-"));
  const started = await startUpWithControlPlane(join(root, "up"));
  const up = started.ready as typeof started.ready & { consoleUrl: string };
  const profile = loadKmsProfile(up.kmsProfile);
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
  const tls = await generateTlsMaterial({ commonName: "baseline", hosts: ["127.0.0.1"] });
  const baseline = fastify({ https: { key: tls.keyPem, cert: tls.certPem } });
  baseline.get("/", async (_req, reply) =>
    reply.type("text/html").send("<!doctype html><title>b</title><h1>baseline</h1>"),
  );
  await baseline.listen({ host: "127.0.0.1", port: 0 });
  const baseAddr = baseline.server.address();
  const baseUrl = `https://127.0.0.1:${typeof baseAddr === "object" && baseAddr !== null ? baseAddr.port : 0}/`;
  const baseReady = (p: Page) => p.getByRole("heading", { name: "baseline" }).waitFor();
  try {
    const origin = new URL(up.consoleUrl).origin;
    const cookie = await sessionCookie(origin, readFileSync(profile.caFile!, "utf8"), {
      accessKeyId: profile.accessKeyId,
      accessKeySecret: profile.accessKeySecret,
    });
    const url = `${origin}/console/clusters/${encodeURIComponent(up.clusterId)}`;
    // Interactive: the Secret Encryption switch is there and usable (the cluster's data arrived).
    const ready = (p: Page) => p.locator('[role="switch"]:enabled').waitFor();
    const consoleMs: number[] = [];
    const baselineMs: number[] = [];
    let scripts = new Map<string, Buffer>();
    // One warm-up of each (the browser's own start-up), then alternating rounds.
    await firstLoad(browser, url, cookie, ready);
    await firstLoad(browser, baseUrl, undefined, baseReady);
    for (let i = 0; i < ROUNDS; i++) {
      const c = await firstLoad(browser, url, cookie, ready);
      consoleMs.push(c.ms);
      scripts = c.scripts;
      baselineMs.push((await firstLoad(browser, baseUrl, undefined, baseReady)).ms);
    }
    const signin = await firstLoad(browser, `${origin}/console/signin`, undefined, (p) =>
      p.getByRole("button", { name: "Sign in" }).waitFor(),
    );
    const c = summary(consoleMs);
    const b = summary(baselineMs);
    const jsGzipBytes = gz(scripts);
    return {
      page: "cluster: Basic Information with the Secret Encryption switch usable (atrest up's cluster)",
      firstLoadInteractive: c,
      baselineStaticPage: b,
      overBaselineP50Ms: +(c.p50Ms - b.p50Ms).toFixed(1),
      goalInteractiveMs: 1000,
      meetsInteractiveGoal: c.p50Ms <= 1000,
      js: {
        files: scripts.size,
        rawBytes: raw(scripts),
        gzipBytes: jsGzipBytes,
        gzipKB: +(jsGzipBytes / 1024).toFixed(1),
        baselineSignInPageGzipKB: +(gz(signin.scripts) / 1024).toFixed(1),
        goalGzipKB: 200,
        meetsSizeGoal: jsGzipBytes <= 200 * 1024,
      },
    };
  } finally {
    await baseline.close();
    await browser.close();
    started.child.kill("SIGINT");
    await new Promise((r) => started.child.once("exit", r));
    rmSync(root, { recursive: true, force: true });
  }
}
