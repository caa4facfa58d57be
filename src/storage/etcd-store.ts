import type { CallOptions } from "@grpc/grpc-js";
import { circuitBreaker, ConsecutiveBreaker, handleWhen, isBrokenCircuitError, noop } from "cockatiel";
import { Etcd3, isRecoverableError, type IKeyValue, type IOptions, type IRangeRequest } from "etcd3";
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
 * create_revision / mod_revision, as in kube-apiserver's etcd3 store.
 *
 * Fail-over. Several endpoints are given to one client. etcd3 1.1.2 runs each call through a global
 * cockatiel policy (by default: retry 3 times on any "recoverable" gRPC error, each attempt with a
 * fresh deadline, blind to whether the call was a read or a write) and then through a per-member
 * policy (by default a circuit breaker that opens after 3 consecutive failures for 5 s); a member whose
 * circuit is open is skipped, the others are tried in a shuffled order. Here instead:
 * - each member's circuit opens after ONE recoverable failure and half-opens after 1 s, so a stopped
 *   member costs one fast failure (a refused connection) and is then skipped by every call, and a
 *   restarted one is back within a second;
 * - the global policy is a no-op and `call()` retries itself, on another member, within ONE deadline
 *   for the whole call (`callTimeoutMs`), because only this class knows what is safe to retry:
 *   - reads (range) and compaction are idempotent: retried as they are;
 *   - every write is a compare-and-swap transaction (create: create_revision = 0; update and delete:
 *     mod_revision = expected; a delete without an expected revision first reads the key and then
 *     deletes at the revision it read), so a retry can never apply a second, different change. What a
 *     retry must handle is "already applied": the attempt that failed may have committed before its
 *     answer was lost, and the retry then fails its compare. So after a retried attempt a failed
 *     compare is checked: create and update count as applied when the key now holds exactly the bytes
 *     written (values carry a uid, and encrypted ones a random nonce, so equal bytes are this write),
 *     and a delete counts as applied when the key is gone and the version it was to delete is in the
 *     history (the state the caller asked for holds). Otherwise the compare failure is reported.
 * A member that hangs rather than refuses costs the attempt sent to it the whole remaining budget (its
 * circuit is open afterwards, so later calls skip it).
 */
export interface EtcdStoreOptions {
  /** Client URLs, e.g. ["http://127.0.0.1:2379", …] (kube's `--etcd-servers`, split on commas). */
  readonly endpoints: readonly string[];
  /**
   * Deadline of each unary call, fail-over to other members included (default 10 s; 0 = none, and then
   * at most 30 attempts); watches are streams and have none.
   */
  readonly callTimeoutMs?: number;
  /** Told when a call failed on a member and is tried again (for logs, metrics and tests). */
  readonly onRetry?: (event: EtcdRetryEvent) => void;
  /** How long to wait for a watch to be created (default 10 s). */
  readonly watchCreateTimeoutMs?: number;
  /**
   * TLS for https:// endpoints (kube's `--etcd-cafile`, `--etcd-certfile`, `--etcd-keyfile`): the CA that
   * signed the members' certificates, and the client certificate and key when etcd asks for one.
   * Without it, https:// endpoints are checked against the system's CAs.
   */
  readonly tls?: EtcdTlsOptions;
}

export interface EtcdRetryEvent {
  /** e.g. `create "/registry/secrets/default/db"`. */
  readonly what: string;
  /** The attempt that failed (1 = the first). */
  readonly attempt: number;
  /** The failure's message (never a value). */
  readonly error: string;
}

export interface EtcdTlsOptions {
  readonly caCertPem: string | Buffer;
  readonly clientCertPem?: string | Buffer;
  /** Key material: never logged. */
  readonly clientKeyPem?: string | Buffer;
}

const DEFAULT_CALL_TIMEOUT_MS = 10_000;
/** A member's circuit half-opens (lets one call try it again) this long after it failed. */
const MEMBER_HALF_OPEN_MS = 1_000;
/** When every member's circuit is open, wait this long before trying again. */
const ALL_OPEN_PAUSE_MS = 100;
const MAX_ATTEMPTS_WITHOUT_DEADLINE = 30;
/** How often a blind delete re-reads the key when it changed between its read and its delete. */
const BLIND_DELETE_ATTEMPTS = 8;
const COMPACTED = "required revision has been compacted";
const FUTURE = "required revision is a future revision";
/** A key no one writes, read to learn the store's current revision from the response header. */
const REVISION_PROBE_KEY = Buffer.from([0]);

export class EtcdStore implements Store {
  private readonly client: Etcd3;
  private readonly callTimeoutMs: number;
  private readonly onRetry: ((event: EtcdRetryEvent) => void) | undefined;
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
    if (!Number.isFinite(callTimeoutMs) || callTimeoutMs < 0)
      throw new AtrestError("invalid-argument", "etcd callTimeoutMs must be 0 or more");
    this.callTimeoutMs = callTimeoutMs;
    this.onRetry = options.onRetry;
    this.watchCreateTimeoutMs = options.watchCreateTimeoutMs ?? 10_000;
    const clientOptions: IOptions = {
      hosts: options.endpoints.map((e) => e.replace(/\/$/, "")),
      // Calls made through call() pass their own deadline; this one covers the few made directly.
      defaultCallOptions: (ctx) =>
        ctx.isStream || callTimeoutMs <= 0 ? {} : { deadline: Date.now() + callTimeoutMs },
      // See the class comment: skip a failed member at once, retry in call() where it is known to be safe.
      faultHandling: {
        global: noop,
        host: () =>
          circuitBreaker(handleWhen(isRecoverableError), {
            halfOpenAfter: MEMBER_HALF_OPEN_MS,
            breaker: new ConsecutiveBreaker(1),
          }),
      },
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
    const res = await this.call("read the current revision", (opts) =>
      this.client.kv.range({ key: REVISION_PROBE_KEY, limit: 1, keys_only: true }, opts),
    );
    return Number(res.header.revision);
  }

  async get(key: string): Promise<KeyValue | undefined> {
    checkKey(key);
    const res = await this.call(`get "${key}"`, (opts) =>
      this.client.kv.range({ key: Buffer.from(key, "utf8") }, opts),
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
    const res = await this.call(`list "${prefix}"`, (opts) => this.client.kv.range(req, opts), revision);
    return {
      items: res.kvs.map(toKeyValue),
      revision: revision > 0 ? revision : Number(res.header.revision),
      more: Boolean(res.more),
    };
  }

  async create(key: string, value: Uint8Array): Promise<KeyValue> {
    checkKey(key);
    const k = Buffer.from(key, "utf8");
    const v = Buffer.from(value);
    let retried = false;
    const res = await this.call(`create "${key}"`, (opts, attempt) => {
      retried = attempt > 1;
      return this.client.kv.txn(
        {
          compare: [{ key: k, target: "Create", result: "Equal", create_revision: 0 }],
          success: [{ request_put: { key: k, value: v } }],
          failure: [{ request_range: { key: k } }],
        },
        opts,
      );
    });
    if (!res.succeeded) {
      const current = res.responses[0]?.response_range?.kvs[0];
      // A retry that finds exactly these bytes: the failed attempt committed (see the class comment).
      if (retried && current !== undefined && Buffer.from(current.value ?? []).equals(v))
        return toKeyValue(current);
      throw alreadyExistsError(key);
    }
    const revision = Number(res.header.revision);
    return { key, value: v, modRevision: revision, createRevision: revision };
  }

  async update(key: string, value: Uint8Array, expectedModRevision: number): Promise<KeyValue> {
    checkKey(key);
    checkRevision(expectedModRevision, "expectedModRevision");
    const k = Buffer.from(key, "utf8");
    const v = Buffer.from(value);
    let retried = false;
    const res = await this.call(`update "${key}"`, (opts, attempt) => {
      retried = attempt > 1;
      return this.client.kv.txn(
        {
          compare: [{ key: k, target: "Mod", result: "Equal", mod_revision: expectedModRevision }],
          success: [{ request_put: { key: k, value: v, prev_kv: true } }],
          failure: [{ request_range: { key: k } }],
        },
        opts,
      );
    });
    if (!res.succeeded) {
      const current = res.responses[0]?.response_range?.kvs[0];
      if (
        retried &&
        current !== undefined &&
        Number(current.mod_revision) > expectedModRevision &&
        Buffer.from(current.value ?? []).equals(v)
      )
        return toKeyValue(current); // the failed attempt committed (see the class comment)
      throw this.casFailure(key, current, expectedModRevision);
    }
    const prev = res.responses[0]?.response_put?.prev_kv;
    const revision = Number(res.header.revision);
    // prev_kv can only be missing if the previous revision was compacted away in between; the key's
    // create revision is then unknown here, and its own revision is the best we can say.
    const createRevision = prev === undefined || prev === null ? revision : Number(prev.create_revision);
    return { key, value: v, modRevision: revision, createRevision };
  }

  async delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    checkKey(key);
    if (expectedModRevision !== undefined) {
      checkRevision(expectedModRevision, "expectedModRevision");
      return this.deleteAt(key, expectedModRevision);
    }
    // Without an expected revision: read, then delete at the revision read, so that retrying the delete
    // on another member can never remove a newer version (see the class comment).
    for (let attempt = 1; ; attempt++) {
      const current = await this.get(key);
      if (current === undefined) throw notFoundError(key);
      try {
        return await this.deleteAt(key, current.modRevision);
      } catch (err) {
        if (
          attempt >= BLIND_DELETE_ATTEMPTS ||
          !(isAtrestError(err, "conflict") || isAtrestError(err, "not-found"))
        )
          throw err;
      }
    }
  }

  /** Deletes the key only at this mod revision (0: only when absent, which deletes nothing). */
  private async deleteAt(key: string, expectedModRevision: number): Promise<KeyValue> {
    const k = Buffer.from(key, "utf8");
    let retried = false;
    const res = await this.call(`delete "${key}"`, (opts, attempt) => {
      retried = attempt > 1;
      return this.client.kv.txn(
        {
          compare: [{ key: k, target: "Mod", result: "Equal", mod_revision: expectedModRevision }],
          success: [{ request_delete_range: { key: k, prev_kv: true } }],
          failure: [{ request_range: { key: k } }],
        },
        opts,
      );
    });
    if (!res.succeeded) {
      const current = res.responses[0]?.response_range?.kvs[0];
      if (retried && current === undefined && expectedModRevision > 0) {
        // Gone after a retry: if the version to delete is in the history, it was deleted (by the
        // attempt that failed, or by someone with the same intent): what the caller asked for holds.
        const deleted = await this.versionAt(key, expectedModRevision);
        if (deleted !== undefined) return deleted;
      }
      throw this.casFailure(key, current, expectedModRevision);
    }
    const prev = res.responses[0]?.response_delete_range?.prev_kvs[0];
    if (prev === undefined) throw notFoundError(key);
    return toKeyValue(prev);
  }

  /** The key as of a revision, when that revision wrote it and is not compacted yet. */
  private async versionAt(key: string, modRevision: number): Promise<KeyValue | undefined> {
    try {
      const res = await this.call(
        `get "${key}" at ${modRevision}`,
        (opts) => this.client.kv.range({ key: Buffer.from(key, "utf8"), revision: modRevision }, opts),
        modRevision,
      );
      const kv = res.kvs[0];
      return kv !== undefined && Number(kv.mod_revision) === modRevision ? toKeyValue(kv) : undefined;
    } catch (err) {
      if (isAtrestError(err, "gone")) return undefined;
      throw err;
    }
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
        (opts) => this.client.kv.compact({ revision, physical: true }, opts),
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

  /**
   * Runs one etcd call, trying it again on another member while its error says a member failed (or
   * every member's circuit is open) and the deadline allows, and maps the final error to an AtrestError
   * (one table for this transport). `fn` gets the call options (the one deadline) and the attempt
   * number; it must be safe to run again (see the class comment).
   */
  private async call<T>(
    what: string,
    fn: (options: CallOptions, attempt: number) => Promise<T>,
    revision = 0,
  ): Promise<T> {
    if (this.closed) throw closedError();
    const deadline = this.callTimeoutMs > 0 ? Date.now() + this.callTimeoutMs : undefined;
    const options: CallOptions = deadline === undefined ? {} : { deadline };
    let lastMemberError: unknown;
    for (let attempt = 1; ; attempt++) {
      try {
        return await fn(options, attempt);
      } catch (err) {
        const allOpen = isBrokenCircuitError(err);
        if (!allOpen) lastMemberError = err;
        const worthRetrying = allOpen || (err instanceof Error && isRecoverableError(err));
        const timeLeft =
          deadline === undefined
            ? attempt < MAX_ATTEMPTS_WITHOUT_DEADLINE
            : Date.now() + (allOpen ? ALL_OPEN_PAUSE_MS : 0) < deadline;
        if (this.closed || !worthRetrying || !timeLeft)
          throw mapEtcdError(
            allOpen && lastMemberError !== undefined ? lastMemberError : err,
            what,
            revision,
          );
        if (allOpen) {
          await new Promise((resolve) => setTimeout(resolve, ALL_OPEN_PAUSE_MS));
        } else {
          // The member that failed has an open circuit now, so the next attempt goes to another one.
          this.onRetry?.({ what, attempt, error: err instanceof Error ? err.message : String(err) });
        }
      }
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
