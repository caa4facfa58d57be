import type { Clock, Timer } from "../../../common/clock.js";
import { AtrestError, isAtrestError } from "../../../common/errors.js";
import type {
  DecodedValue,
  DecodedWatchEvent,
  UndecodableValue,
  Watch,
} from "../../../storage/decoded-value.js";
import type { TransformingStore } from "../../../storage/transforming-store.js";
import { transformError } from "../../../storage/transformation-record.js";
import { expired } from "../../status.js";
import { EventWindow, type CacheEvent, type CachedEntry } from "./event-window.js";
import { frozenObjectOf } from "./objects.js";
import type { CacheWatcher } from "./cache-watcher.js";

/**
 * The watch cache of one stored collection (kube-apiserver's cacher with its reflector and watchCache):
 * a list of the collection, then one watch of the transforming store from the list's revision, so
 * every object is decrypted and parsed once per change, however many watchers and lists read it. It
 * holds the current objects (by key) and a window of the last changes; watches start from it (the
 * current state, or a resourceVersion inside the window) and get the changes as they come, lists at
 * "any" or at the latest revision are answered from it.
 *
 * Everything a watcher is handed happens in one synchronous step (the initial state or the window's
 * replay, then registration), so a watch started while writes go on misses nothing and repeats nothing.
 * When the store's watch ends (compaction overtook it, the connection broke) the cache stops serving,
 * its watchers end with the error (410 Expired when the history is gone, as kube's do, so clients list
 * again), and it lists and watches again after a delay; meanwhile the registry reads the store.
 */

export interface ResourceCacheOptions {
  readonly clock: Clock;
  /** Changes kept for watches that resume from a resourceVersion (default 1000). */
  readonly capacity?: number;
  /** Before a restart (default 1 s, doubling up to 30 s while starts fail). */
  readonly restartDelayMs?: number;
  /** Objects read per page while listing. */
  readonly listPage?: number;
}

/** How long a watch or list waits for the cache to reach the resourceVersion it asks for (kube: 3 s). */
export const FRESH_WAIT_MS = 3_000;
const DEFAULT_CAPACITY = 1000;
const MAX_RESTART_DELAY_MS = 30_000;

export class ResourceWatchCache {
  private entries = new Map<string, CachedEntry>();
  private window: EventWindow;
  private revision = 0;
  private ready = false;
  private closed = false;
  private watch: Watch | undefined;
  /** Bumped on every (re)start: events of an older watch are dropped. */
  private generation = 0;
  private restartTimer: Timer | undefined;
  private restartDelayMs: number;
  private readonly watchers = new Set<CacheWatcher>();
  private waiters: { revision: number; done: () => void }[] = [];
  private probe: { revision: number; result: Promise<boolean> } | undefined;
  private readonly capacity: number;
  private readonly baseRestartDelayMs: number;
  private readonly listPage: number;
  private readonly clock: Clock;
  /** Decodes of stored values this cache made (once per change; for tests and metrics). */
  decodes = 0;

  constructor(
    private readonly store: TransformingStore,
    /** The collection's key prefix over all namespaces, `<prefix>/<resource>/`. */
    readonly prefix: string,
    options: ResourceCacheOptions,
  ) {
    this.clock = options.clock;
    this.capacity = options.capacity ?? DEFAULT_CAPACITY;
    this.baseRestartDelayMs = options.restartDelayMs ?? 1_000;
    this.restartDelayMs = this.baseRestartDelayMs;
    this.listPage = options.listPage ?? 500;
    this.window = new EventWindow(this.capacity, 0);
  }

  /** Serving: listed and watching. */
  get isReady(): boolean {
    return this.ready;
  }

  /** Every change up to this revision is in the cache. */
  get currentRevision(): number {
    return this.revision;
  }

  /** The oldest resourceVersion a watch may resume from. */
  get oldestResumable(): number {
    return this.window.oldestResumable;
  }

  get watcherCount(): number {
    return this.watchers.size;
  }

  get objectCount(): number {
    return this.entries.size;
  }

  /** Lists and starts watching; a failure is retried after the restart delay (never thrown). */
  async start(): Promise<void> {
    if (this.closed) return;
    const generation = ++this.generation;
    try {
      const entries = new Map<string, CachedEntry>();
      let revision = 0;
      let startAfter: string | undefined;
      for (;;) {
        const page = await this.store.listWithErrors(this.prefix, {
          limit: this.listPage,
          ...(startAfter !== undefined ? { startAfter } : {}),
          ...(revision > 0 ? { revision } : {}),
        });
        if (revision === 0) revision = page.revision;
        for (const value of page.items) entries.set(value.key, this.entryOf(value));
        const last = page.items[page.items.length - 1];
        if (!page.more || last === undefined) break;
        startAfter = last.key;
      }
      if (generation !== this.generation || this.closed) return;
      const watch = await this.store.watch(
        this.prefix,
        revision,
        {
          onEvent: (ev) => {
            if (generation === this.generation) this.apply(ev);
          },
          onError: (err) => {
            if (generation === this.generation) this.broken(err);
          },
        },
        // The cache knows every key's previous state: no previous value is decoded.
        { decodePrevOnPut: false, decodePrevOnDelete: false },
      );
      if (generation !== this.generation || this.closed) {
        await watch.cancel();
        return;
      }
      this.watch = watch;
      this.entries = entries;
      this.window = new EventWindow(this.capacity, revision);
      this.revision = revision;
      this.ready = true;
      this.restartDelayMs = this.baseRestartDelayMs;
      this.wake();
    } catch (err) {
      if (generation === this.generation) this.broken(err);
    }
  }

  /** Current objects under the prefix (all namespaces, or one namespace's), in key order. */
  snapshot(prefix: string): CachedEntry[] {
    const out: CachedEntry[] = [];
    for (const entry of this.entries.values()) if (entry.key.startsWith(prefix)) out.push(entry);
    return out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  /**
   * Registers a watcher, first handing it what it must see before the changes to come: the current
   * state (`from` undefined) or the window's changes after `from`. Throws 410 Expired when those left
   * the window. The caller made sure the cache reached `from` (waitFresh).
   */
  addWatcher(watcher: CacheWatcher, from: number | undefined, prefix: string): void {
    if (!this.ready) throw new AtrestError("unavailable", "the watch cache is not ready");
    if (from === undefined) watcher.sendInitial(this.snapshot(prefix));
    else {
      const events = this.window.since(from);
      if (events === undefined)
        throw expired(`too old resource version: ${from} (${this.window.oldestResumable})`);
      for (const ev of events) watcher.deliver(ev);
    }
    if (!watcher.isEnded) this.watchers.add(watcher);
  }

  removeWatcher(watcher: CacheWatcher): void {
    this.watchers.delete(watcher);
  }

  /**
   * Resolves true once the cache holds every change up to `revision`, false when it did not get there
   * within `timeoutMs` (or is not serving). A cache whose own collection did not change while others
   * did is behind the store's revision without missing anything: one read of the collection's keys
   * and revisions (no value decoded) proves that and moves it on.
   */
  async waitFresh(revision: number, timeoutMs = FRESH_WAIT_MS): Promise<boolean> {
    if (!this.ready) return false;
    if (this.revision >= revision) return true;
    if (await this.probeUnchanged(revision)) return this.ready && this.revision >= revision;
    if (this.revision >= revision) return this.ready;
    return new Promise<boolean>((resolve) => {
      const waiter = {
        revision,
        done: () => {
          this.clock.clearTimeout(timer);
          resolve(this.ready && this.revision >= revision);
        },
      };
      const timer = this.clock.setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        resolve(false);
      }, timeoutMs);
      timer.unref?.();
      this.waiters.push(waiter);
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.ready = false;
    this.generation++;
    if (this.restartTimer !== undefined) this.clock.clearTimeout(this.restartTimer);
    for (const w of [...this.watchers]) w.end();
    this.wake();
    const watch = this.watch;
    this.watch = undefined;
    await watch?.cancel().catch(() => undefined);
  }

  private entryOf(value: DecodedValue | UndecodableValue): CachedEntry {
    if ("error" in value) return { key: value.key, modRevision: value.modRevision, error: value.error };
    this.decodes++;
    try {
      return { key: value.key, modRevision: value.modRevision, object: frozenObjectOf(value) };
    } catch (err) {
      const error = isAtrestError(err) ? err : transformError(err, value.key, "from_storage");
      return { key: value.key, modRevision: value.modRevision, error };
    }
  }

  private apply(ev: DecodedWatchEvent): void {
    let event: CacheEvent;
    if (ev.type === "delete") {
      const prev = this.entries.get(ev.key);
      this.entries.delete(ev.key);
      event = { type: "delete", key: ev.key, revision: ev.modRevision, created: false, ...opt(prev) };
    } else {
      const value = ev.type === "put" ? ev.value : ev;
      const prev = this.entries.get(value.key);
      const entry = this.entryOf(ev.type === "put" ? ev.value : { ...ev, error: ev.error });
      this.entries.set(value.key, entry);
      const created =
        ev.type === "put" ? ev.value.createRevision === ev.value.modRevision : prev === undefined;
      event = { type: "put", key: value.key, revision: value.modRevision, entry, created, ...opt(prev) };
    }
    this.revision = Math.max(this.revision, event.revision);
    this.window.push(event);
    for (const w of this.watchers) w.deliver(event);
    this.wake();
  }

  /** The store's watch ended: stop serving, end the watchers, list and watch again later. */
  private broken(err: unknown): void {
    this.ready = false;
    this.generation++;
    const watch = this.watch;
    this.watch = undefined;
    void watch?.cancel().catch(() => undefined);
    const reason = err instanceof Error ? err.message : String(err);
    const ended = isAtrestError(err, "gone")
      ? expired(`too old resource version: ${this.revision} (${reason})`)
      : err instanceof AtrestError
        ? err
        : new AtrestError("unavailable", "the watch cache's store watch failed", { cause: err });
    for (const w of [...this.watchers]) w.fail(ended);
    this.watchers.clear();
    this.entries = new Map();
    this.wake();
    if (this.closed) return;
    const delay = this.restartDelayMs;
    this.restartDelayMs = Math.min(MAX_RESTART_DELAY_MS, this.restartDelayMs * 2);
    this.restartTimer = this.clock.setTimeout(() => void this.start(), delay);
    this.restartTimer.unref?.();
  }

  private wake(): void {
    if (this.waiters.length === 0) return;
    const due = this.waiters.filter((w) => !this.ready || w.revision <= this.revision);
    if (due.length === 0) return;
    this.waiters = this.waiters.filter((w) => !due.includes(w));
    for (const w of due) w.done();
  }

  /**
   * Whether the collection at `revision` is exactly what the cache holds: no key modified after the
   * cache's revision and as many keys. One probe at a time; waiters for lower revisions share it.
   */
  private probeUnchanged(revision: number): Promise<boolean> {
    if (this.probe !== undefined && this.probe.revision >= revision) return this.probe.result;
    const generation = this.generation;
    const result = (async () => {
      const cachedAt = this.revision;
      const count = this.entries.size;
      let seen = 0;
      let startAfter: string | undefined;
      try {
        for (;;) {
          const page = await this.store.listKeys(this.prefix, {
            limit: this.listPage,
            revision,
            ...(startAfter !== undefined ? { startAfter } : {}),
          });
          for (const item of page.items) if (item.modRevision > cachedAt) return false;
          seen += page.items.length;
          const last = page.items[page.items.length - 1];
          if (!page.more || last === undefined) break;
          startAfter = last.key;
        }
      } catch {
        return false;
      }
      // The cache moved meanwhile (or restarted): its events decide, not this probe.
      if (generation !== this.generation || this.revision !== cachedAt || seen !== count) return false;
      this.revision = revision;
      this.wake();
      return true;
    })();
    this.probe = { revision, result };
    void result.finally(() => {
      if (this.probe?.result === result) this.probe = undefined;
    });
    return result;
  }
}

function opt(prev: CachedEntry | undefined): { prev?: CachedEntry } {
  return prev === undefined ? {} : { prev };
}
