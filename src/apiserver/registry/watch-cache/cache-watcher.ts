import type { AtrestError } from "../../../common/errors.js";
import type { KubeObject } from "../../../kube-object/types.js";
import type { ResourceInfo } from "../../resources.js";
import { isSelective, matches, type Filter } from "../filter.js";
import { unreadable } from "../storage-errors.js";
import { withTypeMeta } from "../strategy.js";
import type { WatchSink } from "../types.js";
import type { CacheEvent, CachedEntry } from "./event-window.js";
import { objectFromKey } from "../object-codec.js";
import { deletedObject } from "./objects.js";

/**
 * One watch served by the cache (kube's cacheWatcher): the changes of its namespace that its selectors
 * pass, as Kubernetes watch events. With a selector, an object that starts or stops matching is ADDED
 * or DELETED (kube's watch filter), judged on the cached objects before and after the change — no
 * value is decoded for it. A value that does not decode ends the watch with an error, as the store's
 * watch does.
 */
export class CacheWatcher {
  private ended = false;
  private readonly selective: boolean;

  constructor(
    private readonly info: ResourceInfo,
    /** The collection's prefix over all namespaces (what the cache holds). */
    private readonly collectionPrefix: string,
    /** What this watch sees: the collection, or one namespace's part of it. */
    readonly prefix: string,
    /** The revision the watch starts after: changes at or before it were already accounted for. */
    readonly after: number,
    private readonly filter: Filter,
    private readonly sink: WatchSink,
    private readonly onEnd: (w: CacheWatcher) => void,
  ) {
    this.selective = isSelective(filter);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  /** The current state as ADDED events (a watch without a resourceVersion, or sendInitialEvents). */
  sendInitial(entries: readonly CachedEntry[]): void {
    for (const entry of entries) {
      if (this.ended) return;
      if (!entry.key.startsWith(this.prefix)) continue;
      if (entry.object === undefined) return this.fail(unreadable(entry.error));
      if (matches(this.filter, entry.object)) this.emit("ADDED", entry.object);
    }
  }

  deliver(ev: CacheEvent): void {
    if (this.ended || ev.revision <= this.after || !ev.key.startsWith(this.prefix)) return;
    const f = this.filter;
    if (ev.type === "put") {
      const entry = ev.entry;
      if (entry === undefined) return;
      if (entry.object === undefined) return this.fail(unreadable(entry.error));
      const obj = entry.object;
      const nowMatches = matches(f, obj);
      if (!this.selective || ev.created) {
        if (nowMatches) this.emit(ev.created ? "ADDED" : "MODIFIED", obj);
        return;
      }
      // Before the change: no object means it was not there (ADDED); one that did not decode, unknown.
      const before =
        ev.prev === undefined ? false : ev.prev.object === undefined ? true : matches(f, ev.prev.object);
      if (nowMatches) this.emit(before ? "MODIFIED" : "ADDED", obj);
      else if (before) this.emit("DELETED", obj);
      return;
    }
    const gone =
      ev.prev?.object !== undefined
        ? deletedObject(ev.prev.object, ev.revision)
        : objectFromKey(this.info, this.collectionPrefix, ev.key, ev.revision);
    if (matches(f, gone)) this.emit("DELETED", gone);
  }

  /** Ends the watch with an error event (the cache restarts, or a value does not decode). */
  fail(err: AtrestError): void {
    if (this.ended) return;
    this.end();
    this.sink.error(err);
  }

  end(): void {
    if (this.ended) return;
    this.ended = true;
    this.onEnd(this);
  }

  private emit(type: "ADDED" | "MODIFIED" | "DELETED", stored: KubeObject): void {
    this.sink.event(type, withTypeMeta(this.info, stored));
  }
}
