/**
 * Helpers shared by the benchmarks that drive an atrest apiserver over HTTPS (apiserver.ts,
 * encryption.ts): a worker pool, the 1 KiB Secret they create, and create/get/list-all calls with
 * keep-alive agents. run.ts skips support-* files.
 */
import { request, type Agent } from "node:https";

/** Where an apiserver listens and how to talk to it. */
export interface ApiTarget {
  readonly url: string;
  readonly token: string;
  readonly ca: string;
}

/** One side of a comparison: the operations a benchmark times. */
export interface Side {
  create(i: number): Promise<unknown>;
  get(i: number): Promise<unknown>;
  /** Reads every Secret of the namespace page by page; resolves to how many there were. */
  listAll(): Promise<number>;
}

/** Runs fn(from..to-1) with `concurrency` workers; returns the elapsed seconds. */
export async function pool(
  from: number,
  to: number,
  concurrency: number,
  fn: (i: number) => Promise<unknown>,
): Promise<number> {
  let next = from;
  const started = process.hrtime.bigint();
  await Promise.all(
    Array.from({ length: Math.min(concurrency, to - from) }, async () => {
      for (;;) {
        const i = next++;
        if (i >= to) return;
        await fn(i);
      }
    }),
  );
  return Number(process.hrtime.bigint() - started) / 1e9;
}

/** Secret `s<i>` in namespace default with 1 KiB of data. */
export function secretJson(i: number): string {
  const data = Buffer.alloc(1024, i % 251).toString("base64");
  return JSON.stringify({
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: `s${i}`, namespace: "default" },
    data: { payload: data },
    type: "Opaque",
  });
}

/** One request; resolves to the response body, rejects on a transport error or a status ≥ 300. */
export function apiCall(
  api: ApiTarget,
  agent: Agent,
  method: string,
  path: string,
  body?: string,
  contentType = "application/json",
): Promise<string> {
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
          ...(body !== undefined ? { "Content-Type": contentType } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          res.statusCode !== undefined && res.statusCode < 300
            ? resolve(Buffer.concat(chunks).toString())
            : reject(
                new Error(
                  `${method} ${path}: ${String(res.statusCode)} ${Buffer.concat(chunks).toString().slice(0, 300)}`,
                ),
              ),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

const SECRETS = "/api/v1/namespaces/default/secrets";

/** Lists every Secret of namespace default in pages of 500; resolves to the number of items. */
export async function apiListAll(api: ApiTarget, agent: Agent): Promise<number> {
  let cont: string | undefined;
  let items = 0;
  for (let page = 0; page < 1000; page++) {
    const query = `?limit=500${cont !== undefined ? `&continue=${encodeURIComponent(cont)}` : ""}`;
    const list = JSON.parse(await apiCall(api, agent, "GET", SECRETS + query)) as {
      metadata: { continue?: string };
      items: unknown[];
    };
    items += list.items.length;
    cont = list.metadata.continue;
    if (cont === undefined || cont === "") break;
  }
  return items;
}

/** create = POST s<i>, get = GET s<i>, listAll = every page of namespace default. */
export function apiSide(api: ApiTarget, agent: Agent): Side {
  return {
    create: (i) => apiCall(api, agent, "POST", SECRETS, secretJson(i)),
    get: (i) => apiCall(api, agent, "GET", `${SECRETS}/s${i}`),
    listAll: () => apiListAll(api, agent),
  };
}

export function median(values: readonly number[]): number {
  if (values.length === 0) return 0;
  const s = [...values].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
