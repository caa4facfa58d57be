import { after, before, beforeEach, test } from "node:test";
import assert from "node:assert/strict";
import type { ServerResponse } from "node:http";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import type { Clock } from "../common/clock.js";
import { generateTlsMaterial } from "../common/tls.js";
import { KubeClient } from "./kube-client.js";
import { emptyProgress, type Cursor, type Progress } from "./operation-record.js";
import { continueTokenAfter, rewriteAll, type ResourcePaths } from "./rewrite.js";

/**
 * A fake apiserver serving /api/v1/secrets with kube's semantics where the rewrite depends on them:
 * paged lists whose continue token is kube's (base64 JSON with the start key), a PUT with a stale
 * resourceVersion answered 409 Conflict, a PUT of an object that is current answered with the same
 * resourceVersion (nothing written), a deleted object 404. Knobs inject a user's write or delete between
 * the list and the PUT, and throttling.
 */
interface Stored {
  namespace: string;
  name: string;
  rv: number;
  value: string;
  /** Stored by an old provider: a PUT rewrites it (new resourceVersion). */
  stale: boolean;
}
const objects = new Map<string, Stored>();
let rv = 100;
const knobs = {
  /** Before the PUT of this key is handled, a user updates the object (the PUT then conflicts). */
  userWritesBeforePut: new Set<string>(),
  /** Before the PUT of this key is handled, a user deletes it. */
  userDeletesBeforePut: new Set<string>(),
  /** The first PUT of this key: a user writes it, and deletes it before the re-read. */
  userWritesThenDeletes: new Set<string>(),
  /** Answer the next N PUTs with 429 and Retry-After: 1. */
  throttleNextPuts: 0,
};
const seen = {
  lists: [] as Array<{ limit: string | null; continue: string | null }>,
  puts: [] as Array<{
    key: string;
    rv: string | undefined;
    apiVersion: unknown;
    kind: unknown;
    value: unknown;
  }>,
  gets: [] as string[],
};

function obj(s: Stored) {
  return {
    metadata: { namespace: s.namespace, name: s.name, resourceVersion: String(s.rv) },
    data: { v: s.value },
  };
}

function status(res: ServerResponse, code: number, reason: string, headers = {}): void {
  res.writeHead(code, { "content-type": "application/json", ...headers });
  res.end(JSON.stringify({ kind: "Status", apiVersion: "v1", status: "Failure", reason, code }));
}

let server: Server;
let url = "";
let caPem = "";

before(async () => {
  const tls = await generateTlsMaterial({ commonName: "rewrite-test", hosts: ["127.0.0.1"] });
  caPem = tls.caCertPem;
  server = createServer({ cert: tls.certPem, key: tls.keyPem }, (req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      const u = new URL(req.url ?? "/", "https://x");
      if (req.method === "GET" && u.pathname === "/api/v1/secrets") {
        const limit = Number(u.searchParams.get("limit") ?? "0");
        const token = u.searchParams.get("continue");
        seen.lists.push({ limit: u.searchParams.get("limit"), continue: token });
        const start =
          token === null
            ? ""
            : (JSON.parse(Buffer.from(token, "base64url").toString()) as { start: string }).start;
        const keys = [...objects.keys()].sort().filter((k) => k >= start);
        const page = keys.slice(0, limit);
        const last = page.at(-1);
        const more = keys.length > page.length && last !== undefined;
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            kind: "SecretList",
            apiVersion: "v1",
            metadata: {
              resourceVersion: String(rv),
              ...(more ? { continue: continueTokenAfter(last) } : {}),
            },
            items: page.map((k) => obj(objects.get(k)!)),
          }),
        );
        return;
      }
      const m = /^\/api\/v1\/namespaces\/([^/]+)\/secrets\/([^/]+)$/.exec(u.pathname);
      if (m === null) return status(res, 404, "NotFound");
      const key = `${m[1]}/${m[2]}`;
      if (req.method === "GET") {
        seen.gets.push(key);
        const s = objects.get(key);
        if (s === undefined) return status(res, 404, "NotFound");
        res.writeHead(200, { "content-type": "application/json" });
        res.end(JSON.stringify(obj(s)));
        return;
      }
      if (req.method !== "PUT") return status(res, 405, "MethodNotAllowed");
      const sent = JSON.parse(body) as {
        apiVersion?: unknown;
        kind?: unknown;
        metadata: { resourceVersion?: string };
        data?: { v?: unknown };
      };
      seen.puts.push({
        key,
        rv: sent.metadata.resourceVersion,
        apiVersion: sent.apiVersion,
        kind: sent.kind,
        value: sent.data?.v,
      });
      if (knobs.throttleNextPuts > 0) {
        knobs.throttleNextPuts--;
        return status(res, 429, "TooManyRequests", { "retry-after": "1" });
      }
      const s = objects.get(key);
      if (knobs.userWritesBeforePut.delete(key) && s !== undefined) {
        s.rv = ++rv;
        s.value = `${s.value}+user`;
        s.stale = false; // the user's write went through the new writer
      }
      if (knobs.userDeletesBeforePut.delete(key)) objects.delete(key);
      if (knobs.userWritesThenDeletes.delete(key)) {
        objects.delete(key);
        return status(res, 409, "Conflict");
      }
      const now = objects.get(key);
      if (now === undefined) return status(res, 404, "NotFound");
      if (sent.metadata.resourceVersion !== String(now.rv)) return status(res, 409, "Conflict");
      // A PUT of the object as read: only a stale value is written again (a new resourceVersion).
      if (sent.data?.v !== now.value) return status(res, 422, "Invalid"); // the rewrite never changes data
      if (now.stale) {
        now.stale = false;
        now.rv = ++rv;
      }
      res.writeHead(200, { "content-type": "application/json" });
      res.end(JSON.stringify(obj(now)));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
after(() => server.close());

beforeEach(() => {
  objects.clear();
  for (const ns of ["a", "b"])
    for (let i = 0; i < 10; i++)
      objects.set(`${ns}/s-${i}`, {
        namespace: ns,
        name: `s-${i}`,
        rv: ++rv,
        value: `${ns}${i}`,
        stale: true,
      });
  knobs.userWritesBeforePut.clear();
  knobs.userDeletesBeforePut.clear();
  knobs.userWritesThenDeletes.clear();
  knobs.throttleNextPuts = 0;
  seen.lists.length = 0;
  seen.puts.length = 0;
  seen.gets.length = 0;
});

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

const SECRETS: ResourcePaths = {
  name: "secrets",
  listPath: "/api/v1/secrets",
  itemPath: (ns, name) => `/api/v1/namespaces/${ns ?? ""}/secrets/${name}`,
  apiVersion: "v1",
  kind: "Secret",
  namespaced: true,
};

async function rewrite(cursor: Cursor, progress: Progress = { ...emptyProgress(), total: objects.size }) {
  const clock = recordingClock();
  const kube = new KubeClient({ server: url, caPem, insecureSkipTlsVerify: false }, { clock });
  const checkpoints: Cursor[] = [];
  try {
    const final = await rewriteAll({
      kube,
      resources: [SECRETS],
      cursor,
      progress,
      pageSize: 6,
      concurrency: 4,
      retryForMs: 30_000,
      clock,
      checkpoint: (c) => {
        checkpoints.push(c);
        return Promise.resolve();
      },
    });
    return { final, checkpoints, progress, slept: clock.slept };
  } finally {
    kube.close();
  }
}

test("pages from a key cursor, PUTs each object as read, counts what the apiserver really rewrote, checkpoints every page", async () => {
  objects.get("a/s-4")!.stale = false; // already under the target: the PUT writes nothing
  const r = await rewrite({ resourceIndex: 0, lastKey: null, done: false });
  assert.equal(r.progress.rewritten, 19);
  assert.equal(r.progress.unchanged, 1);
  assert.equal(r.progress.remaining, 0);
  assert.ok([...objects.values()].every((s) => !s.stale));
  // 20 objects in pages of 6: 4 pages, a checkpoint after each with the last key, then done.
  assert.deepEqual(
    r.checkpoints.map((c) => [c.lastKey, c.done]),
    [
      ["a/s-5", false],
      ["b/s-1", false],
      ["b/s-7", false],
      [null, true], // every resource done
    ],
  );
  assert.deepEqual(r.final, { resourceIndex: 1, lastKey: null, done: true });
  // Each next page asks for the objects after the last key at the latest revision (rv -1), a token
  // the engine makes itself: a compacted revision cannot invalidate it.
  const tokens = seen.lists.map(
    (l) => l.continue && (JSON.parse(Buffer.from(l.continue, "base64url").toString()) as unknown),
  );
  assert.deepEqual(tokens, [
    null,
    { v: "meta.k8s.io/v1", rv: -1, start: "a/s-5\u0000" },
    { v: "meta.k8s.io/v1", rv: -1, start: "b/s-1\u0000" },
    { v: "meta.k8s.io/v1", rv: -1, start: "b/s-7\u0000" },
  ]);
  for (const p of seen.puts) {
    assert.equal(p.apiVersion, "v1");
    assert.equal(p.kind, "Secret");
    assert.ok(p.rv !== undefined, "every PUT carries the resourceVersion it read");
  }
});

test("resumes after the cursor key: objects before it are not listed or written again", async () => {
  const r = await rewrite({ resourceIndex: 0, lastKey: "b/s-2", done: false });
  assert.deepEqual([...new Set(seen.puts.map((p) => p.key))].sort(), [
    "b/s-3",
    "b/s-4",
    "b/s-5",
    "b/s-6",
    "b/s-7",
    "b/s-8",
    "b/s-9",
  ]);
  assert.equal(r.progress.rewritten, 7);
  assert.ok(objects.get("a/s-0")!.stale, "before the cursor: untouched");
});

test("a user's write meanwhile is re-read and kept, never overwritten; deleted objects are skipped", async () => {
  knobs.userWritesBeforePut.add("a/s-1").add("b/s-8");
  knobs.userDeletesBeforePut.add("a/s-7");
  knobs.userWritesThenDeletes.add("b/s-3");
  const r = await rewrite({ resourceIndex: 0, lastKey: null, done: false });
  assert.equal(r.progress.conflictsRetried, 3);
  assert.equal(r.progress.skippedDeleted, 2);
  // The two written by the user: re-read, PUT again as the user left them (already current).
  assert.equal(objects.get("a/s-1")!.value, "a1+user");
  assert.equal(objects.get("b/s-8")!.value, "b8+user");
  assert.deepEqual(
    seen.puts.filter((p) => p.key === "a/s-1").map((p) => p.value),
    ["a1", "a1+user"],
  );
  assert.deepEqual(seen.gets.sort(), ["a/s-1", "b/s-3", "b/s-8"]);
  assert.equal(r.progress.rewritten, 16);
  assert.equal(r.progress.unchanged, 2);
  assert.equal(objects.has("a/s-7") || objects.has("b/s-3"), false, "deleted objects stay deleted");
  assert.ok([...objects.values()].every((s) => !s.stale));
});

test("429 with Retry-After is waited out as the apiserver asks, and the object is still rewritten", async () => {
  knobs.throttleNextPuts = 3;
  const r = await rewrite({ resourceIndex: 0, lastKey: null, done: false });
  assert.equal(r.slept.filter((ms) => ms === 1000).length, 3, `waited: ${JSON.stringify(r.slept)}`);
  assert.equal(r.progress.rewritten, 20);
  assert.ok([...objects.values()].every((s) => !s.stale));
});
