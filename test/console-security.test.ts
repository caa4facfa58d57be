/**
 * The console's security, against the real server and in real Chromium: no page or data without a
 * session; the session cookie's flags; a cross-site POST refused (a same-site page of another origin,
 * whose request the browser does send the cookie with, so only the origin and CSRF checks stop it);
 * sign-out ends the session; and no secret — the access key secret, a Secret's value — ever appears in
 * a page, a cookie or a log line.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fastify, { type FastifyInstance } from "fastify";
import { generateTlsMaterial } from "../src/common/tls.js";
import { SESSION_COOKIE } from "../src/control-plane/console/index.js";
import { Kubectl } from "./support/kubectl.js";
import {
  newContext,
  screenshot,
  signIn,
  startConsoleStack,
  type ConsoleStack,
} from "./support/console-stack.js";

const SUITE = "security";
let stack: ConsoleStack;
let evil: FastifyInstance | undefined;

before(async () => {
  stack = await startConsoleStack("security");
});
after(async () => {
  await evil?.close();
  await stack?.close();
});

const admin = () => ({
  accessKeyId: stack.profile.accessKeyId,
  accessKeySecret: stack.profile.accessKeySecret,
});

/** Signs in through the API as the page would, returning the cookie and the CSRF token. */
async function apiSession(): Promise<{ cookie: string; csrf: string }> {
  const origin = stack.origin;
  const r = await stack.app.inject({
    method: "POST",
    url: "/console/api/signin",
    headers: { origin, host: new URL(origin).host, "content-type": "application/json" },
    payload: JSON.stringify(admin()),
  });
  assert.equal(r.statusCode, 200, r.body);
  const c = r.cookies.find((x) => x.name === SESSION_COOKIE);
  assert.ok(c !== undefined);
  const s = await stack.app.inject({
    method: "GET",
    url: "/console/api/session",
    cookies: { [SESSION_COOKIE]: c.value },
  });
  return { cookie: c.value, csrf: s.json<{ csrfToken: string }>().csrfToken };
}

describe("console security", () => {
  it("serves no page and no data without a session", async () => {
    for (const url of [
      "/console/",
      "/console/kms",
      "/console/events",
      "/console/ram",
      "/console/kms/keys/x",
    ]) {
      const r = await stack.app.inject({ method: "GET", url });
      assert.equal(r.statusCode, 303, url);
      assert.match(String(r.headers.location), /^\/console\/signin\?next=/);
      assert.doesNotMatch(r.body, /<div id="root">/);
    }
    for (const url of ["/console/api/kms/keys", "/console/api/ram/users", "/console/api/session"]) {
      const r = await stack.app.inject({ method: "GET", url });
      assert.equal(r.statusCode, 401, url);
      assert.equal(r.json<{ code: string }>().code, "SessionExpired");
    }
    const forged = await stack.app.inject({
      method: "GET",
      url: "/console/api/kms/keys",
      cookies: { [SESSION_COOKIE]: randomBytes(32).toString("base64url") },
    });
    assert.equal(forged.statusCode, 401);
  });

  it("the session cookie is __Host-, HttpOnly, Secure, SameSite=Strict, and holds no secret", async () => {
    const ctx = await newContext(stack);
    const p = await ctx.newPage();
    await signIn(p, stack, admin());
    const cookies = await ctx.cookies();
    assert.equal(cookies.length, 1);
    const c = cookies[0]!;
    assert.equal(c.name, SESSION_COOKIE);
    assert.equal(c.httpOnly, true);
    assert.equal(c.secure, true);
    assert.equal(c.sameSite, "Strict");
    assert.equal(c.path, "/");
    assert.ok(!c.value.includes(stack.profile.accessKeySecret));
    assert.ok(!c.value.includes(stack.profile.accessKeyId));
    assert.equal(await p.evaluate("document.cookie"), "", "scripts cannot read the session cookie");
    await ctx.close();
  });

  it("refuses a cross-site POST: a same-site page of another origin cannot rotate a key", async () => {
    const tls = await generateTlsMaterial({ commonName: "evil", hosts: ["127.0.0.1"] });
    evil = fastify({ https: { key: tls.keyPem, cert: tls.certPem } });
    const keyId = stack.up.summary.keyId;
    const target = `${stack.origin}/console/api/kms/keys/${encodeURIComponent(keyId)}/rotate`;
    evil.get("/", async (_req, reply) =>
      reply
        .type("text/html")
        .send(
          `<form id="f" method="POST" action="${target}" enctype="text/plain"><input name='{"a":"' value='"}'></form><script>document.getElementById("f").submit()</script>`,
        ),
    );
    await evil.listen({ host: "127.0.0.1", port: 0 });
    const addr = evil.server.address();
    const evilOrigin = `https://127.0.0.1:${typeof addr === "object" && addr !== null ? addr.port : 0}`;
    const versions = async () =>
      Number((await stack.admin.call("ListKeyVersions", { KeyId: keyId }))["TotalCount"]);
    const before = await versions();

    const ctx = await newContext(stack);
    const p = await ctx.newPage();
    await signIn(p, stack, admin());
    const answer = p.waitForResponse((r) => r.url() === target);
    await p.goto(evilOrigin);
    const res = await answer;
    assert.equal(res.status(), 403);
    assert.equal(((await res.json()) as { code: string }).code, "Forbidden.CrossSite");
    await screenshot(p, SUITE, "01-cross-site-refused");
    assert.equal(await versions(), before, "nothing changed");
    await ctx.close();

    // The same through the server directly: each check refuses on its own, the right request passes.
    const { cookie, csrf } = await apiSession();
    const host = new URL(stack.origin).host;
    const post = (headers: Record<string, string>) =>
      stack.app.inject({
        method: "POST",
        url: `/console/api/kms/keys/${encodeURIComponent(keyId)}/rotate`,
        cookies: { [SESSION_COOKIE]: cookie },
        headers: { host, "content-type": "application/json", ...headers },
        payload: "{}",
      });
    const crossOrigin = await post({ origin: evilOrigin, "x-csrf-token": csrf });
    assert.equal(crossOrigin.statusCode, 403);
    const crossSite = await post({
      origin: stack.origin,
      "sec-fetch-site": "same-site",
      "x-csrf-token": csrf,
    });
    assert.equal(crossSite.statusCode, 403);
    const noOrigin = await post({ "x-csrf-token": csrf });
    assert.equal(noOrigin.statusCode, 403);
    const noToken = await post({ origin: stack.origin });
    assert.equal(noToken.statusCode, 403);
    assert.equal(noToken.json<{ code: string }>().code, "Forbidden.CsrfToken");
    const wrongToken = await post({
      origin: stack.origin,
      "x-csrf-token": randomBytes(32).toString("base64url"),
    });
    assert.equal(wrongToken.statusCode, 403);
    const form = await stack.app.inject({
      method: "POST",
      url: `/console/api/kms/keys/${encodeURIComponent(keyId)}/rotate`,
      cookies: { [SESSION_COOKIE]: cookie },
      headers: { host, origin: stack.origin, "x-csrf-token": csrf, "content-type": "text/plain" },
      payload: "{}",
    });
    assert.equal(form.statusCode, 400);
    assert.equal(await versions(), before, "no refused request changed anything");
    const right = await post({ origin: stack.origin, "x-csrf-token": csrf });
    assert.equal(right.statusCode, 200, right.body);
    assert.equal(await versions(), before + 1, "the same request from the console's own page works");
  });

  it("sign-out ends the session: its cookie opens nothing afterwards", async () => {
    const { cookie, csrf } = await apiSession();
    const host = new URL(stack.origin).host;
    const out = await stack.app.inject({
      method: "POST",
      url: "/console/api/signout",
      cookies: { [SESSION_COOKIE]: cookie },
      headers: { host, origin: stack.origin, "content-type": "application/json", "x-csrf-token": csrf },
      payload: "{}",
    });
    assert.equal(out.statusCode, 200);
    const again = await stack.app.inject({
      method: "GET",
      url: "/console/api/kms/keys",
      cookies: { [SESSION_COOKIE]: cookie },
    });
    assert.equal(again.statusCode, 401);

    const ctx = await newContext(stack);
    const p = await ctx.newPage();
    await signIn(p, stack, admin());
    await p.getByRole("button", { name: "Sign out" }).click();
    await p.waitForURL((u) => u.pathname === "/console/signin");
    await p.goto(`${stack.origin}/console/kms`);
    assert.equal(new URL(p.url()).pathname, "/console/signin");
    await ctx.close();
  });

  it("never renders or logs a secret: the access key secret, a Secret's value", async () => {
    const secretValue = `s3cr3t-${randomBytes(12).toString("hex")}`;
    const kubectl = new Kubectl(stack.up.summary.kubeconfig);
    await kubectl.ok([
      "create",
      "secret",
      "generic",
      "console-probe",
      `--from-literal=password=${secretValue}`,
    ]);
    const ctx = await newContext(stack);
    const p = await ctx.newPage();
    const seen: string[] = [];
    p.on("response", (r) => {
      if (r.request().resourceType() === "fetch" || r.request().resourceType() === "document")
        seen.push(r.url());
    });
    const bodies: string[] = [];
    p.on("response", async (r) => {
      const type = r.headers()["content-type"] ?? "";
      if (/json|html/.test(type)) bodies.push(await r.text().catch(() => ""));
    });
    await signIn(p, stack, admin());
    const texts: string[] = [];
    const visit = async (path: string, ready: string) => {
      await p.goto(`${stack.origin}${path}`);
      await p.getByRole("heading", { name: ready }).first().waitFor();
      await p.waitForLoadState("networkidle");
      texts.push(await p.content());
    };
    await visit("/console/kms", "Keys");
    await visit(`/console/kms/keys/${encodeURIComponent(stack.up.summary.keyId)}`, "Key versions");
    await visit("/console/ram", "RAM");
    await visit(`/console/events`, "Event Query");
    await p.getByRole("button", { name: "Search" }).click();
    await p.getByRole("table", { name: "Event Query" }).waitFor();
    await p.getByRole("button", { name: "Details" }).first().click();
    await p.getByRole("dialog", { name: "Event record" }).waitFor();
    texts.push(await p.content());
    await screenshot(p, SUITE, "02-event-record");
    const secrets = [stack.profile.accessKeySecret, secretValue, Buffer.from(secretValue).toString("base64")];
    for (const s of secrets) {
      for (const t of [...texts, ...bodies]) assert.ok(!t.includes(s), "a secret was rendered");
      assert.ok(!stack.logs().includes(s), "a secret was logged");
    }
    assert.ok(stack.logs().includes("console: signed in"), "the log is captured");
    assert.ok(seen.length > 5);
    await ctx.close();
  });
});
