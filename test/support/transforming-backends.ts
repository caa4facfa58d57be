import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { AtrestError } from "../../src/common/errors.js";
import type { ReadResult, TransformContext, Transformer } from "../../src/envelope/transformer.js";
import type { DecodedWatchEvent } from "../../src/storage/decoded-value.js";
import { EtcdStore } from "../../src/storage/etcd-store.js";
import { MemoryStore } from "../../src/storage/memory-store.js";
import { SqliteStore } from "../../src/storage/sqlite-store.js";
import type { Store } from "../../src/storage/store.js";
import { startEtcd, type EtcdCluster } from "./etcd.js";

/**
 * What the transforming-store suites run on: the three stores that ship (memory, SQLite on a file, a
 * real etcd), each test on an empty one, and a small AES-256-GCM transformer with call counters.
 */

export interface Backend {
  readonly name: string;
  /** Registers the suite's before/after hooks (call inside `describe`). */
  hooks(): void;
  /** An empty store for one test; closed (and its files removed) by `closeAll`. */
  fresh(): Promise<Store>;
  closeAll(): Promise<void>;
}

function tracked(name: string, open: () => Promise<{ store: Store; cleanup?: () => void }>): Backend {
  const opened: Array<{ store: Store; cleanup?: () => void }> = [];
  return {
    name,
    hooks: () => undefined,
    async fresh() {
      const o = await open();
      opened.push(o);
      return o.store;
    },
    async closeAll() {
      for (const o of opened.splice(0)) {
        await o.store.close();
        o.cleanup?.();
      }
    },
  };
}

export function memoryBackend(): Backend {
  return tracked("memory", () => Promise.resolve({ store: new MemoryStore() }));
}

export function sqliteBackend(): Backend {
  return tracked("SQLite", () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-ts-"));
    return Promise.resolve({
      store: new SqliteStore({ path: join(dir, "state.db") }),
      cleanup: () => rmSync(dir, { recursive: true, force: true }),
    });
  });
}

/** One etcd per suite; each test gets a client on it after every key of the previous test is deleted. */
export function etcdBackend(): Backend {
  let etcd: EtcdCluster | undefined;
  const inner = tracked("etcd", async () => {
    if (etcd === undefined) throw new Error("etcd not started");
    const store = new EtcdStore({ endpoints: etcd.endpoints });
    for (;;) {
      const page = await store.list("/", { limit: 500 });
      for (const kv of page.items) await store.delete(kv.key);
      if (!page.more) break;
    }
    return { store };
  });
  return {
    ...inner,
    hooks() {
      before(async () => {
        etcd = await startEtcd();
      });
      after(async () => {
        await inner.closeAll();
        await etcd?.stop();
      });
    },
  };
}

export const BACKENDS: ReadonlyArray<() => Backend> = [memoryBackend, sqliteBackend, etcdBackend];

/**
 * A small AES-256-GCM transformer for these tests, shaped like aesgcm: `k8s:enc:test:v1:<key>:` ‖
 * nonce ‖ ct ‖ tag, AAD = the storage key; the first key writes, a read with any other key is stale.
 */
export class TestTransformer implements Transformer {
  readonly calls = { toStorage: 0, fromStorage: 0 };
  constructor(private readonly keys: ReadonlyArray<{ name: string; key: Buffer }>) {}

  transformToStorage(plaintext: Uint8Array, ctx: TransformContext): Promise<Buffer> {
    return Promise.resolve().then(() => this.seal(plaintext, ctx));
  }

  transformFromStorage(data: Uint8Array, ctx: TransformContext): Promise<ReadResult> {
    return Promise.resolve().then(() => this.open(data, ctx));
  }

  private seal(plaintext: Uint8Array, ctx: TransformContext): Buffer {
    this.calls.toStorage++;
    const k = this.keys[0]!;
    const nonce = randomBytes(12);
    const c = createCipheriv("aes-256-gcm", k.key, nonce);
    c.setAAD(ctx.aad);
    const ct = Buffer.concat([c.update(plaintext), c.final()]);
    return Buffer.concat([Buffer.from(`k8s:enc:test:v1:${k.name}:`), nonce, ct, c.getAuthTag()]);
  }

  private open(data: Uint8Array, ctx: TransformContext): ReadResult {
    this.calls.fromStorage++;
    const buf = Buffer.from(data);
    for (let i = 0; i < this.keys.length; i++) {
      const k = this.keys[i]!;
      const prefix = Buffer.from(`k8s:enc:test:v1:${k.name}:`);
      if (!buf.subarray(0, prefix.length).equals(prefix)) continue;
      const body = buf.subarray(prefix.length);
      try {
        const d = createDecipheriv("aes-256-gcm", k.key, body.subarray(0, 12));
        d.setAAD(ctx.aad);
        d.setAuthTag(body.subarray(body.length - 16));
        const plaintext = Buffer.concat([d.update(body.subarray(12, body.length - 16)), d.final()]);
        return { plaintext, stale: i !== 0, origin: { provider: "aesgcm", keyName: k.name } };
      } catch (err) {
        throw new AtrestError("data-corrupt", "cipher: message authentication failed", { cause: err });
      }
    }
    throw new AtrestError("data-corrupt", "no matching prefix found");
  }
}

/** Resolves when `check` holds, polling every 10 ms for at most `ms`. */
export async function waitFor(check: () => boolean, ms = 5_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!check()) {
    if (Date.now() > deadline) throw new Error("timed out waiting for a condition");
    await new Promise((r) => setTimeout(r, 10));
  }
}

/** A watch event as a short tuple for assertions: the values as text, the error's code. */
export function eventSummary(e: DecodedWatchEvent): Array<string | undefined> {
  if (e.type === "put") return ["put", e.value.data.toString(), e.prev?.data.toString()];
  if (e.type === "delete") return ["delete", e.key, e.prev?.data.toString()];
  return ["undecodable", e.key, e.error.code];
}
