import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { generateTlsMaterial } from "../common/tls.js";
import type { Clock } from "../common/clock.js";
import { KubeClient } from "./kube-client.js";

let server: Server;
let url = "";
let caPem = "";
const answers: Array<{ status: number; headers?: Record<string, string>; body: string }> = [];
const seen: Array<{ method: string; path: string; auth: string | undefined; body: string }> = [];

before(async () => {
  const tls = await generateTlsMaterial({ commonName: "kube-client-test", hosts: ["127.0.0.1"] });
  caPem = tls.caCertPem;
  server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      seen.push({ method: req.method ?? "", path: req.url ?? "", auth: req.headers.authorization, body });
      const a = answers.shift() ?? { status: 200, body: "{}" };
      res.writeHead(a.status, { "content-type": "application/json", ...(a.headers ?? {}) });
      res.end(a.body);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

/** A clock whose sleeps return at once but are recorded. */
function recordingClock(): Clock & { slept: number[] } {
  const slept: number[] = [];
  return {
    slept,
    now: () => Date.now() + slept.reduce((a, b) => a + b, 0),
    setTimeout: (fn, ms) => {
      slept.push(ms);
      return setTimeout(fn, 0);
    },
    clearTimeout: (t) => clearTimeout(t as ReturnType<typeof setTimeout>),
  };
}

test("429 and 503 with Retry-After are waited out as the server asks; the bearer token is sent", async () => {
  const clock = recordingClock();
  const kube = new KubeClient(
    { server: url, caPem, insecureSkipTlsVerify: false, token: "t0ken" },
    { clock },
  );
  answers.push(
    { status: 429, headers: { "retry-after": "2" }, body: '{"kind":"Status","reason":"TooManyRequests"}' },
    { status: 503, headers: { "retry-after": "1" }, body: "{}" },
    { status: 200, body: '{"metadata":{"resourceVersion":"7"}}' },
  );
  const r = await kube.putJson<{ metadata: { resourceVersion: string } }>(
    "/api/v1/x",
    { a: 1 },
    { retryForMs: 60_000 },
  );
  assert.equal(r.metadata.resourceVersion, "7");
  assert.deepEqual(clock.slept, [2000, 1000]);
  assert.equal(kube.stats.throttled, 1);
  assert.equal(kube.stats.retries, 2);
  assert.equal(seen.at(-1)?.auth, "Bearer t0ken");
  assert.equal(seen.at(-1)?.body, '{"a":1}');
  kube.close();
});

test("a Status error keeps its reason and code; nothing is retried without a retry budget or for a 409", async () => {
  const kube = new KubeClient(
    { server: url, caPem, insecureSkipTlsVerify: false },
    { clock: recordingClock() },
  );
  answers.push({
    status: 409,
    body: '{"kind":"Status","reason":"Conflict","message":"the object has been modified"}',
  });
  await assert.rejects(
    kube.getJson("/api/v1/y", { retryForMs: 60_000 }),
    (err: Error & { code?: string; details?: Record<string, unknown> }) => {
      assert.equal(err.code, "conflict");
      assert.equal(err.details?.["reason"], "Conflict");
      assert.match(err.message, /HTTP 409 Conflict: the object has been modified/);
      return true;
    },
  );
  answers.push({ status: 500, body: "{}" });
  await assert.rejects(kube.getJson("/api/v1/z"), /HTTP 500/);
  kube.close();
});
