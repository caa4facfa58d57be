import { Etcd3, type IKeyValue, type IOptions, type IRangeRequest } from "etcd3";
import { AtrestError, isAtrestError } from "../common/errors.js";
import { prefixEnd } from "./prefix-end.js";
import type { KeyValue, ListOptions, ListResult, Store, Watch, WatchEvent, WatchHandlers } from "./store.js";
import {
  alreadyExistsError,
  checkKey,
  checkLimit,
  checkRevision,
  closedError,
  compactedError,
  conflictError,
  deliverWatchEvent,
  futureRevisionError,
  notFoundError,
} from "./store-errors.js";

/**
 * The Store on etcd v3 (the `etcd3` client), keys exactly as kube-apiserver writes them: the caller
 * passes full keys such as `/registry/secrets/<ns>/<name>`. Compare-and-swap is an etcd transaction on
 * create_revision / mod_revision, as in kube-apiserver's etcd3 store. Several endpoints are given to
 * one client, which retries on another member when one stops.
 */
export interface EtcdStoreOptions {
  /** Client URLs, e.g. ["http://127.0.0.1:2379", …] (kube's `--etcd-servers`, split on commas). */
  readonly endpoints: readonly string[];
  /** Deadline of each unary call (default 10 s; 0 = none); watches are streams and have none. */
  readonly callTimeoutMs?: number;
  /** How long to wait for a watch to be created (default 10 s). */
  readonly watchCreateTimeoutMs?: number;
  /**
   * TLS for https:// endpoints (kube's `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`): the CA that
   * signed the members' certificates, and the client certificate and key when etcd asks for one.
   * Without it, https:// endpoints are checked against the system's CAs.
   */
  readonly tls?: EtcdTlsOptions;
}

export interface EtcdTlsOptions {
  readonly caCertPem: string | Buffer;
  readonly clientCertPem?: string | Buffer;
  /** Key material: never logged. */
  readonly clientKeyPem?: string | Buffer;
}

const DEFAULT_CALL_TIMEOUT_MS = 10_000;
const COMPACTED = "required revision has been compacted";
const FUTURE = "required revision is a future revision";
/** A key no one writes, read to learn the store's current revision from the response header. */
const REVISION_PROBE_KEY = Buffer.from([0]);

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly watchCreateTimeoutMs: number;
  private readonly watches = new Set<() => Promise<void>>();
  private closed = false;

  constructor(options: EtcdStoreOptions) {
    if (options.endpoints.length === 0)
      throw new AtrestError("invalid-argument", "etcd store needs at least one endpoint");
    for (const e of options.endpoints) {
      if (!/^https?:\/\/[^/]+\/?$/.test(e)) {
        throw new AtrestError(
          "invalid-argument",
          `etcd endpoint "${e}" must look like http://host:port or https://host:port`,
          {
            details: { endpoint: e },
          },
        );
      }
    }
    const secure = options.endpoints.filter((e) => e.startsWith("https://")).length;
    if (secure !== 0 && secure !== options.endpoints.length) {
      throw new AtrestError("invalid-argument", "etcd endpoints must be all http:// or all https://");
    }
    if (options.tls !== undefined && secure === 0) {
      throw new AtrestError("invalid-argument", "etcd TLS options need https:// endpoints");
    }
    const tls = options.tls;
    if (tls !== undefined && (tls.clientCertPem === undefined) !== (tls.clientKeyPem === undefined)) {
      throw new AtrestError(
        "invalid-argument",
        "an etcd client certificate needs its key, and a key its certificate",
      );
    }
    const callTimeoutMs = options.callTimeoutMs ?? DEFAULT_CALL_TIMEOUT_MS;
    this.watchCreateTimeoutMs = options.watchCreateTimeoutMs ?? 10_000;
    const clientOptions: IOptions = {
      hosts: options.endpoints.map((e) => e.replace(/\/$/, "")),
      dialTimeout: Math.min(callTimeoutMs, 5_000),
      defaultCallOptions: (ctx) =>
        ctx.isStream || callTimeoutMs <= 0 ? {} : { deadline: Date.now() + callTimeoutMs },
    };
    if (tls !== undefined) {
      clientOptions.credentials = {
        rootCertificate: Buffer.from(tls.caCertPem),
        ...(tls.clientCertPem === undefined ? {} : { certChain: Buffer.from(tls.clientCertPem) }),
        ...(tls.clientKeyPem === undefined ? {} : { privateKey: Buffer.from(tls.clientKeyPem) }),
      };
    }
    this.client = new Etcd3(clientOptions);
  }

  async currentRevision(): Promise<number> {
    const res = await this.call("read the current revision", () =>
      this.client.kv.range({ key: REVISION_PROBE_KEY, limit: 1, keys_only: true }),
    );
    return Number(res.header.revision);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey(key);
    const res = await this.call(`get "${key}"`, () =>
      this.client.kv.range({ key: Buffer.from(key, "utf8") }),
    );
    const kv = res.kvs[0];
    return kv === undefined ? undefined : toKeyValue(kv);
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    const limit = options.limit ?? 0;
    const revision = options.revision ?? 0;
    checkLimit(limit);
    checkRevision(revision, "revision");
    const prefixBytes = Buffer.from(prefix, "utf8");
    let start = prefixBytes;
    if (options.startAfter !== undefined) {
      // The smallest key after startAfter is startAfter + "\0".
      const after = Buffer.concat([Buffer.from(options.startAfter, "utf8"), Buffer.from([0])]);
      if (Buffer.compare(after, start) > 0) start = after;
    }
    const req: IRangeRequest = { key: start, range_end: prefixEnd(prefixBytes) };
    if (limit > 0) req.limit = limit;
    if (revision > 0) req.revision = revision;
    const res = await this.call(`list "${prefix}"`, () => this.client.kv.range(req), revision);
    return {
      items: res.kvs.map(toKeyValue),
      revision: revision > 0 ? revision : Number(res.header.revision),
      more: Boolean(res.more),
    };
  }

  async create(key: string, value: Uint8Array): Promise<KeyValue> {
    checkKey(key);
    const k = Buffer.from(key, "utf8");
    const res = await this.call(`create "${key}"`, () =>
      this.client.kv.txn({
        compare: [{ key: k, target: "Create", result: "Equal", create_revision: 0 }],
        success: [{ request_put: { key: k, value: Buffer.from(value) } }],
        failure: [],
      }),
    );
    if (!res.succeeded) throw alreadyExistsError(key);
    const revision = Number(res.header.revision);
    return { key, value: Buffer.from(value), modRevision: revision, createRevision: revision };
  }

  async update(key: string, value: Uint8Array, expectedModRevision: number): Promise<KeyValue> {
    checkKey(key);
    checkRevision(expectedModRevision, "expectedModRevision");
    const k = Buffer.from(key, "utf8");
    const res = await this.call(`update "${key}"`, () =>
      this.client.kv.txn({
        compare: [{ key: k, target: "Mod", result: "Equal", mod_revision: expectedModRevision }],
        success: [{ request_put: { key: k, value: Buffer.from(value), prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      }),
    );
    if (!res.succeeded)
      throw this.casFailure(key, res.responses[0]?.response_range?.kvs[0], expectedModRevision);
    const prev = res.responses[0]?.response_put?.prev_kv;
    const revision = Number(res.header.revision);
    // prev_kv can only be missing if the previous revision was compacted away in between; the key's
    // create revision is then unknown here, and its own revision is the best we can say.
    const createRevision = prev === undefined || prev === null ? revision : Number(prev.create_revision);
    return { key, value: Buffer.from(value), modRevision: revision, createRevision };
  }

  async delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    checkKey(key);
    if (expectedModRevision !== undefined) checkRevision(expectedModRevision, "expectedModRevision");
    const k = Buffer.from(key, "utf8");
    const res = await this.call(`delete "${key}"`, () =>
      this.client.kv.txn({
        compare:
          expectedModRevision === undefined
            ? []
            : [{ key: k, target: "Mod", result: "Equal", mod_revision: expectedModRevision }],
        success: [{ request_delete_range: { key: k, prev_kv: true } }],
        failure: [{ request_range: { key: k } }],
      }),
    );
    if (!res.succeeded)
      throw this.casFailure(key, res.responses[0]?.response_range?.kvs[0], expectedModRevision ?? 0);
    const prev = res.responses[0]?.response_delete_range?.prev_kvs[0];
    if (prev === undefined) throw notFoundError(key);
    return toKeyValue(prev);
  }

  async watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    checkRevision(fromRevision, "fromRevision");
    if (this.closed) throw closedError();
    let builder = this.client.watch().prefix(prefix).withPreviousKV();
    // etcd's start revision is inclusive; ours is "events after fromRevision".
    if (fromRevision > 0) builder = builder.startRevision(String(fromRevision + 1));
    const watcher = builder.watcher();
    let nextRevision = fromRevision + 1;
    let ended = false;
    let connected = false;
    let rejectCreate: ((err: Error) => void) | undefined;

    const cancel = async (): Promise<void> => {
      if (ended) return;
      ended = true;
      this.watches.delete(cancel);
      watcher.removeAllListeners("put");
      watcher.removeAllListeners("delete");
      try {
        await watcher.cancel();
      } catch {
        // The stream is already gone; nothing is left to stop.
      }
    };

    watcher.on("put", (kv: IKeyValue, prev?: IKeyValue) => {
      if (ended) return;
      const event: WatchEvent = prev
        ? { type: "put", kv: toKeyValue(kv), prevKv: toKeyValue(prev) }
        : { type: "put", kv: toKeyValue(kv) };
      nextRevision = event.kv.modRevision + 1;
      if (!deliverWatchEvent(handlers, event)) void cancel();
    });
    watcher.on("delete", (kv: IKeyValue, prev?: IKeyValue) => {
      if (ended) return;
      const key = kv.key.toString("utf8");
      const modRevision = Number(kv.mod_revision);
      nextRevision = modRevision + 1;
      const event: WatchEvent = prev
        ? { type: "delete", key, modRevision, prevKv: toKeyValue(prev) }
        : { type: "delete", key, modRevision };
      if (!deliverWatchEvent(handlers, event)) void cancel();
    });
    // Without an error listener an EventEmitter throws, and a compaction would crash the process.
    watcher.on("error", (err: Error) => {
      if (ended) return;
      void this.classifyWatchError(err, fromRevision > 0 || connected ? nextRevision : 0).then((mapped) => {
        if (ended) return;
        if (!connected && rejectCreate !== undefined) {
          rejectCreate(mapped);
          return;
        }
        void cancel();
        try {
          handlers.onError(mapped);
        } catch {
          // The watch is over either way.
        }
      });
    });

    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        rejectCreate = undefined;
        void cancel();
        reject(
          new AtrestError(
            "unavailable",
            `etcd watch on "${prefix}" was not created within ${this.watchCreateTimeoutMs} ms`,
          ),
        );
      }, this.watchCreateTimeoutMs);
      rejectCreate = (err) => {
        clearTimeout(timer);
        rejectCreate = undefined;
        void cancel();
        reject(err);
      };
      watcher.once("connected", (res: { header?: { revision?: string } }) => {
        clearTimeout(timer);
        if (fromRevision === 0 && res.header?.revision !== undefined)
          nextRevision = Number(res.header.revision) + 1;
        rejectCreate = undefined;
        connected = true;
        resolve();
      });
    });
    this.watches.add(cancel);
    return { cancel };
  }

  async compact(revision: number): Promise<void> {
    checkRevision(revision, "revision");
    try {
      await this.call(
        `compact at ${revision}`,
        () => this.client.kv.compact({ revision, physical: true }),
        revision,
      );
    } catch (err) {
      // Compacting at or below the current compact revision changes nothing.
      if (isAtrestError(err, "gone")) return;
      if (isAtrestError(err, "invalid-argument") && err.message.includes("future")) {
        throw futureRevisionError(
          "compaction",
          revision,
          (err.details.currentRevision as number | undefined) ?? 0,
        );
      }
      throw err;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all([...this.watches].map((c) => c()));
    this.client.close();
  }

  private casFailure(key: string, current: IKeyValue | undefined, expectedModRevision: number): AtrestError {
    if (current === undefined) return notFoundError(key);
    return conflictError(key, Number(current.mod_revision), expectedModRevision);
  }

  /**
   * etcd cancels a watch whose start revision was compacted with an empty reason, so the client's error
   * does not say why; a range read at the revision the watch needed does.
   */
  private async classifyWatchError(err: Error, neededRevision: number): Promise<AtrestError> {
    if (err.message.includes(COMPACTED)) return compactedError(neededRevision - 1, 0, err);
    if (neededRevision > 0) {
      try {
        await this.client.kv.range({ key: REVISION_PROBE_KEY, revision: neededRevision });
      } catch (probeErr) {
        const msg = probeErr instanceof Error ? probeErr.message : String(probeErr);
        if (msg.includes(COMPACTED)) return compactedError(neededRevision - 1, 0, err);
      }
    }
    return new AtrestError("unavailable", `etcd watch failed: ${err.message}`, { cause: err });
  }

  /** Runs one etcd call and maps its error to an AtrestError (one table for this transport). */
  private async call<T>(what: string, fn: () => Promise<T>, revision = 0): Promise<T> {
    if (this.closed) throw closedError();
    try {
      return await fn();
    } catch (err) {
      throw mapEtcdError(err, what, revision);
    }
  }
}

function mapEtcdError(err: unknown, what: string, revision: number): AtrestError {
  if (err instanceof AtrestError) return err;
  const message = err instanceof Error ? err.message : String(err);
  if (message.includes(COMPACTED)) return compactedError(revision, 0, err);
  if (message.includes(FUTURE)) {
    return new AtrestError("invalid-argument", `etcd ${what}: revision ${revision} is in the future`, {
      cause: err,
      details: { revision },
    });
  }
  const name = err instanceof Error ? err.constructor.name : "";
  if (name === "GRPCDeadlineExceededError")
    return new AtrestError("deadline-exceeded", `etcd ${what}: ${message}`, { cause: err });
  if (name === "GRPCInvalidArgumentError" || name === "GRPCOutOfRangeError") {
    return new AtrestError("invalid-argument", `etcd ${what}: ${message}`, { cause: err });
  }
  if (name === "EtcdPermissionDeniedError")
    return new AtrestError("permission-denied", `etcd ${what}: ${message}`, { cause: err });
  if (name === "ClientClosedError") return closedError();
  // Unavailable members, broken circuits, timeouts: the caller may retry.
  return new AtrestError("unavailable", `etcd ${what}: ${message}`, { cause: err });
}

function toKeyValue(kv: IKeyValue): KeyValue {
  return {
    key: kv.key.toString("utf8"),
    value: Buffer.from(kv.value ?? Buffer.alloc(0)),
    modRevision: Number(kv.mod_revision),
    createRevision: Number(kv.create_revision),
  };
}
