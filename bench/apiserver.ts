/**
 * The API path against the raw store, same store, same run: create, get and list of Secrets with
 * 1 KiB of data, over HTTPS with concurrent keep-alive clients. The apiserver runs as its own process
 * (`atrest apiserver`), as in production; the raw baseline drives the same kind of store from here.
 * Goal: API throughput ≥ 0.5× raw store throughput for create and get.
 */
import { Agent, request } from "node:https";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ChildProcess } from "node:child_process";
import type { Store } from "../src/storage/store.js";
import { EtcdStore } from "../src/storage/etcd-store.js";
import { openStore } from "../src/storage/open-store.js";
import { spawnAtrest } from "../test/support/cli.js";
import { startEtcd } from "../test/support/etcd.js";

const COUNT = Number(process.env.BENCH_APISERVER_COUNT ?? 2000);
const CONCURRENCY = Number(process.env.BENCH_APISERVER_CONCURRENCY ?? 16);
const LIST_ROUNDS = 10;

async function pool(
  count: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = 0;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, count) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= count) return;
        await fn(i);
      }
    }),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  return Math.round(count / seconds);
}

function secretJson(i: number): string {
  const data = Buffer.alloc(1024, i % 251).toString("base64");
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: `s${i}`, namespace: "default" },
    data: { payload: data },
    type: "Opaque",
  });
}

/** What the apiserver stores for such a Secret (JSON with uid and timestamp), for the raw baseline. */
function storedBytes(i: number): Buffer {
  const obj = JSON.parse(secretJson(i)) as { metadata: Record<string, unknown> };
  obj.metadata.uid = "00000000-0000-0000-0000-000000000000";
  obj.metadata.creationTimestamp = "2026-01-01T00:00:00Z";
  return Buffer.from(JSON.stringify(obj));
}

async function rawStore(store: Store, prefix: string): Promise<Record<string, number>> {
  const create = await pool(COUNT, CONCURRENCY, (i) =>
    store.create(`${prefix}/secrets/default/s${i}`, storedBytes(i)),
  );
  const get = await pool(COUNT, CONCURRENCY, (i) => store.get(`${prefix}/secrets/default/s${i}`));
  const list = await pool(LIST_ROUNDS, 2, async () => {
    let startAfter: string | undefined;
    for (;;) {
      const page = await store.list(`${prefix}/secrets/default/`, {
        limit: 500,
        ...(startAfter !== undefined ? { startAfter } : {}),
      });
      if (!page.more) break;
      startAfter = page.items[page.items.length - 1]?.key;
    }
  });
  return { createPerSec: create, getPerSec: get, listPerSec: list };
}

interface Api {
  url: string;
  token: string;
  ca: string;
  child: ChildProcess;
}

async function startApi(dir: string, storeArgs: string[]): Promise<Api> {
  const child = spawnAtrest(["apiserver", "--secure-port", "0", "--data-dir", dir, ...storeArgs], {
    env: { ATREST_LOG_LEVEL: "warn" },
  });
  let out = "";
  let err = "";
  child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`apiserver did not start: ${err}`)), 60_000);
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.includes("apiserver ready"));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve((JSON.parse(line) as { url: string }).url);
      }
    });
    child.on("exit", (code) => reject(new Error(`apiserver exited ${String(code)}: ${err}`)));
  });
  const token = readFileSync(join(dir, "tokens.csv"), "utf8").split(",")[0] ?? "";
  return { url, token, ca: readFileSync(join(dir, "pki", "ca.crt"), "utf8"), child };
}

function call(api: Api, agent: Agent, method: string, path: string, body?: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(
      new URL(path, api.url),
      {
        method,
        agent,
        ca: api.ca,
        headers: {
          Authorization: `Bearer ${api.token}`,
          Accept: "application/json",
          ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        },
      },
      (res) => {
        res.on("data", () => undefined);
        res.on("end", () =>
          res.statusCode !== undefined && res.statusCode < 300
            ? resolve(res.statusCode)
            : reject(new Error(`${method} ${path}: ${String(res.statusCode)}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

async function apiPath(api: Api): Promise<Record<string, number>> {
  const agent = new Agent({ keepAlive: true, maxSockets: CONCURRENCY, ca: api.ca });
  const S = "/api/v1/namespaces/default/secrets";
  try {
    const create = await pool(COUNT, CONCURRENCY, (i) => call(api, agent, "POST", S, secretJson(i)));
    const get = await pool(COUNT, CONCURRENCY, (i) => call(api, agent, "GET", `${S}/s${i}`));
    const list = await pool(LIST_ROUNDS, 2, async () => {
      let cont: string | undefined;
      for (let page = 0; page < 100; page++) {
        const body = await new Promise<string>((resolve, reject) => {
          request(
            new URL(
              `${S}?limit=500${cont !== undefined ? `&continue=${encodeURIComponent(cont)}` : ""}`,
              api.url,
            ),
            { agent, ca: api.ca, headers: { Authorization: `Bearer ${api.token}` } },
            (res) => {
              let b = "";
              res.on("data", (c: Buffer) => (b += c.toString()));
              res.on("end", () => resolve(b));
            },
          )
            .on("error", reject)
            .end();
        });
        cont = (JSON.parse(body) as { metadata: { continue?: string } }).metadata.continue;
        if (cont === undefined) break;
      }
    });
    return { createPerSec: create, getPerSec: get, listPerSec: list };
  } finally {
    agent.destroy();
  }
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((r) => child.once("exit", r));
  child.kill("SIGTERM");
  const t = setTimeout(() => child.kill("SIGKILL"), 5_000);
  await exited;
  clearTimeout(t);
}

function ratios(raw: Record<string, number>, api: Record<string, number>): Record<string, number> {
  const r = (k: string): number => Math.round(((api[k] ?? 0) / Math.max(1, raw[k] ?? 1)) * 100) / 100;
  return { create: r("createPerSec"), get: r("getPerSec"), list: r("listPerSec") };
}

async function benchEtcd(): Promise<Record<string, unknown>> {
  const etcd = await startEtcd();
  const dir = mkdtempSync(join(tmpdir(), "atrest-bench-apiserver-"));
  let api: Api | undefined;
  const store = new EtcdStore({ endpoints: etcd.endpoints });
  try {
    const raw = await rawStore(store, "/bench-raw");
    api = await startApi(dir, ["--etcd-servers", etcd.endpoints.join(",")]);
    const viaApi = await apiPath(api);
    return { raw, api: viaApi, apiOverRaw: ratios(raw, viaApi) };
  } finally {
    if (api !== undefined) await stopChild(api.child);
    await store.close();
    await etcd.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function benchSqlite(): Promise<Record<string, unknown>> {
  const dir = mkdtempSync(join(tmpdir(), "atrest-bench-apiserver-"));
  let api: Api | undefined;
  const store = openStore({ sqlitePath: join(dir, "raw.db") });
  try {
    const raw = await rawStore(store, "/registry");
    api = await startApi(dir, ["--datastore-endpoint", `sqlite://${join(dir, "api.db")}`]);
    const viaApi = await apiPath(api);
    return { raw, api: viaApi, apiOverRaw: ratios(raw, viaApi) };
  } finally {
    if (api !== undefined) await stopChild(api.child);
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(): Promise<Record<string, unknown>> {
  return {
    secrets: COUNT,
    dataBytes: 1024,
    concurrency: CONCURRENCY,
    listRoundsOfAllPages: LIST_ROUNDS,
    goal: "api/raw >= 0.5 for create and get",
    sqlite: await benchSqlite(),
    etcd: await benchEtcd(),
  };
}
