/**
 * `npm run bench -- console`: the web console's first load in Debian's Chromium — from navigation to
 * interactive (the page's main control usable) for the cluster page (the KMS key page when the
 * console runs without a control plane), in a fresh browser context each round (cold cache, new
 * TLS connection) — beside a baseline in the same run: a static HTML page with no script from an
 * HTTPS server on the same machine (what the browser, TLS and loopback cost alone). And the
 * JavaScript the page loads, gzipped, beside the sign-in page's (React and the shared code alone).
 * Goals (issue 13): interactive ≤ 1 s, JavaScript ≤ 200 KB gzipped.
 */
import { gzipSync } from "node:zlib";
import fastify from "fastify";
import type { BrowserContext, Page } from "playwright-core";
import { generateTlsMaterial } from "../src/common/tls.js";
import { SESSION_COOKIE } from "../src/control-plane/console/index.js";
import { startConsoleStack, type ConsoleStack } from "../test/support/console-stack.js";

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

async function sessionCookie(stack: ConsoleStack): Promise<string> {
  const r = await stack.app.inject({
    method: "POST",
    url: "/console/api/signin",
    headers: { origin: stack.origin, host: new URL(stack.origin).host, "content-type": "application/json" },
    payload: JSON.stringify({
      accessKeyId: stack.profile.accessKeyId,
      accessKeySecret: stack.profile.accessKeySecret,
    }),
  });
  const c = r.cookies.find((x) => x.name === SESSION_COOKIE);
  if (c === undefined) throw new Error(`sign-in failed: ${r.body}`);
  return c.value;
}

/** Loads `url` in a fresh context; resolves with the in-page time when `ready` holds, and the scripts' bytes. */
async function firstLoad(
  stack: ConsoleStack,
  url: string,
  cookie: string | undefined,
  ready: (page: Page) => Promise<unknown>,
): Promise<{ ms: number; scripts: Map<string, Buffer> }> {
  const ctx: BrowserContext = await stack.browser.newContext({ ignoreHTTPSErrors: true });
  if (cookie !== undefined)
    await ctx.addCookies([
      {
        name: SESSION_COOKIE,
        value: cookie,
        url: stack.origin,
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
  const stack = await startConsoleStack("bench");
  const tls = await generateTlsMaterial({ commonName: "baseline", hosts: ["127.0.0.1"] });
  const baseline = fastify({ https: { key: tls.keyPem, cert: tls.certPem } });
  baseline.get("/", async (_req, reply) =>
    reply.type("text/html").send("<!doctype html><title>b</title><h1>baseline</h1>"),
  );
  await baseline.listen({ host: "127.0.0.1", port: 0 });
  const baseAddr = baseline.server.address();
  const baseUrl = `https://127.0.0.1:${typeof baseAddr === "object" && baseAddr !== null ? baseAddr.port : 0}/`;
  try {
    const cookie = await sessionCookie(stack);
    const session = await stack.app.inject({
      method: "GET",
      url: "/console/api/session",
      cookies: { [SESSION_COOKIE]: cookie },
    });
    const hasClusters = session.json<{ clusters: boolean }>().clusters;
    const clusterId = (stack.up.summary as { clusterId?: string }).clusterId;
    const target =
      hasClusters && clusterId !== undefined
        ? {
            page: "cluster (Basic Information, Secret Encryption switch)",
            url: `${stack.origin}/console/clusters/${encodeURIComponent(clusterId)}`,
            ready: (p: Page) =>
              p.getByRole("switch", { name: "Secret Encryption" }).and(p.locator(":enabled")).waitFor(),
          }
        : {
            page: "KMS key (no control plane: its key page)",
            url: `${stack.origin}/console/kms/keys/${encodeURIComponent(stack.up.summary.keyId)}`,
            ready: (p: Page) => p.getByRole("button", { name: "Rotate now" }).waitFor(),
          };
    const consoleMs: number[] = [];
    const baselineMs: number[] = [];
    let scripts = new Map<string, Buffer>();
    // One warm-up of each (the browser's own start-up), then alternating rounds.
    await firstLoad(stack, target.url, cookie, target.ready);
    await firstLoad(stack, baseUrl, undefined, (p) => p.getByRole("heading", { name: "baseline" }).waitFor());
    for (let i = 0; i < ROUNDS; i++) {
      const c = await firstLoad(stack, target.url, cookie, target.ready);
      consoleMs.push(c.ms);
      scripts = c.scripts;
      baselineMs.push(
        (
          await firstLoad(stack, baseUrl, undefined, (p) =>
            p.getByRole("heading", { name: "baseline" }).waitFor(),
          )
        ).ms,
      );
    }
    const signin = await firstLoad(stack, `${stack.origin}/console/signin`, undefined, (p) =>
      p.getByRole("button", { name: "Sign in" }).waitFor(),
    );
    const c = summary(consoleMs);
    const jsGzipBytes = gz(scripts);
    return {
      page: target.page,
      firstLoadInteractive: c,
      baselineStaticPage: summary(baselineMs),
      overBaselineP50Ms: +(c.p50Ms - summary(baselineMs).p50Ms).toFixed(1),
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
    await stack.close();
  }
}
