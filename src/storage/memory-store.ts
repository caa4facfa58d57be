import type { KeyValue, ListOptions, ListResult, Store, Watch, WatchEvent, WatchHandlers } from "./store.js";
import {
  alreadyExistsError,
  checkKey,
  checkLimit,
  checkRevision,
  closedError,
  compactedError,
  conflictError,
  futureRevisionError,
  deliverWatchEvent,
  notFoundError,
  settle,
} from "./store-errors.js";

/**
 * A complete in-memory Store for unit tests: the same revision, compare-and-swap, list, watch and
 * compaction semantics as etcd (the conformance suite holds all three stores to them). Revisions
 * start at 1 for an empty store, like etcd, so a list never reports revision 0 ("any").
 */

/** One version of a key: a put (value) or a delete (tombstone). */
interface Version {
  readonly revision: number;
  readonly createRevision: number;
  readonly value: Buffer | undefined;
}

interface Subscriber {
  readonly prefix: string;
  readonly handlers: WatchHandlers;
  /** Only events after this revision (a watch may start in the future). */
  readonly after: number;
  readonly queue: WatchEvent[];
  scheduled: boolean;
  cancelled: boolean;
}

export class MemoryStore implements Store {
  private revision = 1;
  private compactRevision = 0;
  /** Per key, its versions in revision order (compaction drops superseded ones). */
  private readonly versions = new Map<string, Version[]>();
  /** The keys of `versions`, in key order. */
  private readonly sortedKeys: string[] = [];
  /** Every event after the compact revision, in order (the watch history). */
  private events: WatchEvent[] = [];
  private readonly subscribers = new Set<Subscriber>();
  private closed = false;

  currentRevision(): Promise<number> {
    return settle(() => {
      this.checkOpen();
      return this.revision;
    });
  }

  get(key: string): Promise<KeyValue | undefined> {
    return settle(() => {
      this.checkOpen();
      checkKey(key);
      return this.latest(key);
    });
  }

  list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    return settle(() => {
      this.checkOpen();
      const limit = options.limit ?? 0;
      const atRevision = options.revision ?? 0;
      checkRevision(atRevision, "revision");
      checkLimit(limit);
      if (atRevision > this.revision) throw futureRevisionError("list", atRevision, this.revision);
      if (atRevision !== 0 && atRevision < this.compactRevision)
        throw compactedError(atRevision, this.compactRevision);
      const readAt = atRevision === 0 ? this.revision : atRevision;
      const items: KeyValue[] = [];
      let more = false;
      let i = lowerBound(
        this.sortedKeys,
        options.startAfter !== undefined && compareKeys(options.startAfter, prefix) >= 0
          ? options.startAfter
          : prefix,
      );
      if (options.startAfter !== undefined && this.sortedKeys[i] === options.startAfter) i++;
      for (; i < this.sortedKeys.length; i++) {
        const key = this.sortedKeys[i]!;
        if (!key.startsWith(prefix)) break;
        const kv = this.at(key, readAt);
        if (kv === undefined) continue;
        if (limit > 0 && items.length === limit) {
          more = true;
          break;
        }
        items.push(kv);
      }
      return { items, revision: readAt, more };
    });
  }

  create(key: string, value: Uint8Array): Promise<KeyValue> {
    return settle(() => {
      this.checkOpen();
      checkKey(key);
      const existing = this.latest(key);
      if (existing !== undefined) throw alreadyExistsError(key);
      const revision = ++this.revision;
      const version = { revision, createRevision: revision, value: Buffer.from(value) };
      this.append(key, version);
      const kv = putKeyValue(key, version);
      this.publish({ type: "put", kv });
      return kv;
    });
  }

  update(key: string, value: Uint8Array, expectedModRevision: number): Promise<KeyValue> {
    return settle(() => {
      this.checkOpen();
      checkKey(key);
      checkRevision(expectedModRevision, "expectedModRevision");
      const existing = this.latest(key);
      if (existing === undefined) throw notFoundError(key);
      if (existing.modRevision !== expectedModRevision) {
        throw conflictError(key, existing.modRevision, expectedModRevision);
      }
      const revision = ++this.revision;
      const version = { revision, createRevision: existing.createRevision, value: Buffer.from(value) };
      this.append(key, version);
      const kv = putKeyValue(key, version);
      this.publish({ type: "put", kv, prevKv: existing });
      return kv;
    });
  }

  delete(key: string, expectedModRevision?: number): Promise<KeyValue> {
    return settle(() => {
      this.checkOpen();
      checkKey(key);
      if (expectedModRevision !== undefined) checkRevision(expectedModRevision, "expectedModRevision");
      const existing = this.latest(key);
      if (existing === undefined) throw notFoundError(key);
      if (expectedModRevision !== undefined && existing.modRevision !== expectedModRevision) {
        throw conflictError(key, existing.modRevision, expectedModRevision);
      }
      const revision = ++this.revision;
      this.append(key, { revision, createRevision: existing.createRevision, value: undefined });
      this.publish({ type: "delete", key, modRevision: revision, prevKv: existing });
      return existing;
    });
  }

  watch(prefix: string, fromRevision: number, handlers: WatchHandlers): Promise<Watch> {
    return settle(() => {
      this.checkOpen();
      checkRevision(fromRevision, "fromRevision");
      // Like etcd: a watch needs the events from fromRevision + 1, and history before the compact
      // revision is gone.
      if (fromRevision !== 0 && fromRevision + 1 < this.compactRevision)
        throw compactedError(fromRevision, this.compactRevision);
      const sub: Subscriber = {
        prefix,
        handlers,
        after: fromRevision,
        queue: [],
        scheduled: false,
        cancelled: false,
      };
      if (fromRevision !== 0) {
        for (const event of this.events) {
          if (eventRevision(event) > fromRevision && eventKey(event).startsWith(prefix))
            sub.queue.push(event);
        }
        this.schedule(sub);
      }
      this.subscribers.add(sub);
      return {
        cancel: () => {
          sub.cancelled = true;
          this.subscribers.delete(sub);
          return Promise.resolve();
        },
      };
    });
  }

  compact(revision: number): Promise<void> {
    return settle(() => {
      this.checkOpen();
      checkRevision(revision, "revision");
      if (revision > this.revision) {
        throw futureRevisionError("compaction", revision, this.revision);
      }
      if (revision <= this.compactRevision) return;
      this.compactRevision = revision;
      for (const [key, versions] of this.versions) {
        // Keep the newest version at or before the compact revision (the state there) and all later ones;
        // a tombstone at or before it has nothing left to say.
        let keepFrom = 0;
        for (let i = 0; i < versions.length; i++) {
          if (versions[i]!.revision <= revision) keepFrom = i;
        }
        let kept = versions.slice(keepFrom);
        if (kept[0] !== undefined && kept[0].revision <= revision && kept[0].value === undefined)
          kept = kept.slice(1);
        if (kept.length === 0) {
          this.versions.delete(key);
          this.sortedKeys.splice(lowerBound(this.sortedKeys, key), 1);
        } else {
          this.versions.set(key, kept);
        }
      }
      this.events = this.events.filter((e) => eventRevision(e) >= revision);
    });
  }

  close(): Promise<void> {
    return settle(() => {
      this.closed = true;
      for (const sub of this.subscribers) sub.cancelled = true;
      this.subscribers.clear();
    });
  }

  private checkOpen(): void {
    if (this.closed) throw closedError();
  }

  private latest(key: string): KeyValue | undefined {
    const versions = this.versions.get(key);
    const last = versions?.[versions.length - 1];
    return last === undefined ? undefined : toKeyValue(key, last);
  }

  private at(key: string, revision: number): KeyValue | undefined {
    const versions = this.versions.get(key) ?? [];
    let found: Version | undefined;
    for (const v of versions) {
      if (v.revision <= revision) found = v;
      else break;
    }
    return found === undefined ? undefined : toKeyValue(key, found);
  }

  private append(key: string, version: Version): void {
    const versions = this.versions.get(key);
    if (versions === undefined) {
      this.versions.set(key, [version]);
      this.sortedKeys.splice(lowerBound(this.sortedKeys, key), 0, key);
    } else {
      versions.push(version);
    }
  }

  private publish(event: WatchEvent): void {
    this.events.push(event);
    for (const sub of this.subscribers) {
      if (eventKey(event).startsWith(sub.prefix) && eventRevision(event) > sub.after) {
        sub.queue.push(event);
        this.schedule(sub);
      }
    }
  }

  /** Events are delivered asynchronously and in order, never from inside the write call. */
  private schedule(sub: Subscriber): void {
    if (sub.scheduled || sub.queue.length === 0) return;
    sub.scheduled = true;
    queueMicrotask(() => {
      sub.scheduled = false;
      while (!sub.cancelled && sub.queue.length > 0) {
        if (!deliverWatchEvent(sub.handlers, sub.queue.shift()!)) {
          sub.cancelled = true;
          this.subscribers.delete(sub);
        }
      }
    });
  }
}

function toKeyValue(key: string, version: Version): KeyValue | undefined {
  if (version.value === undefined) return undefined;
  return {
    key,
    value: Buffer.from(version.value),
    modRevision: version.revision,
    createRevision: version.createRevision,
  };
}

function putKeyValue(key: string, version: Version & { readonly value: Buffer }): KeyValue {
  return {
    key,
    value: Buffer.from(version.value),
    modRevision: version.revision,
    createRevision: version.createRevision,
  };
}

function eventKey(event: WatchEvent): string {
  return event.type === "put" ? event.kv.key : event.key;
}

function eventRevision(event: WatchEvent): number {
  return event.type === "put" ? event.kv.modRevision : event.modRevision;
}

/** Byte order of the UTF-8 keys, as etcd and SQLite (BLOBs) sort them. */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x === y) continue;
    // Below the surrogates, UTF-16 code unit order is UTF-8 byte order; past them it is not.
    if (x < 0xd800 && y < 0xd800) return x - y;
    return Buffer.compare(Buffer.from(a.slice(i), "utf8"), Buffer.from(b.slice(i), "utf8"));
  }
  return a.length - b.length;
}

/** The first index whose key is not below `key`. */
function lowerBound(keys: readonly string[], key: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (compareKeys(keys[mid]!, key) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
