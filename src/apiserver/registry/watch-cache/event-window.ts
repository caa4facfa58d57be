import type { KubeObject } from "../../../kube-object/types.js";
import type { AtrestError } from "../../../common/errors.js";

/**
 * What the watch cache keeps of one key and of one change. Objects are decoded once (decrypted by the
 * transforming store, parsed here) and frozen: every watcher and list shares them, none may change them.
 */

/** A key's current state: its object, or the error its value gives (it does not decode). */
export type CachedEntry =
  | {
      readonly key: string;
      readonly object: KubeObject;
      readonly modRevision: number;
      readonly error?: undefined;
    }
  | {
      readonly key: string;
      readonly object?: undefined;
      readonly modRevision: number;
      readonly error: AtrestError;
    };

/** One change, as the store's watch delivered it, with the key's state before it. */
export interface CacheEvent {
  readonly type: "put" | "delete";
  readonly key: string;
  readonly revision: number;
  /** After a put: the new state (an object, or the error of a value that does not decode). */
  readonly entry?: CachedEntry;
  /** The key's state before the change; absent when the key was not there. */
  readonly prev?: CachedEntry;
  /** A put that created the key (createRevision = modRevision). */
  readonly created: boolean;
}

/**
 * The last `capacity` changes, oldest first (kube's watchCache ring): a watch from a resourceVersion
 * inside the window replays from here; below it the events are gone (410 Expired).
 */
export class EventWindow {
  private readonly ring: (CacheEvent | undefined)[];
  private start = 0;
  private count = 0;
  /** Every change after this revision is held (the cache's list revision until the ring wraps). */
  private completeAfter: number;

  constructor(
    private readonly capacity: number,
    listRevision: number,
  ) {
    if (!Number.isInteger(capacity) || capacity < 1) throw new RangeError("capacity must be ≥ 1");
    this.ring = new Array<CacheEvent | undefined>(capacity);
    this.completeAfter = listRevision;
  }

  push(event: CacheEvent): void {
    if (this.count === this.capacity) {
      const oldest = this.ring[this.start];
      if (oldest !== undefined) this.completeAfter = oldest.revision;
      this.ring[this.start] = event;
      this.start = (this.start + 1) % this.capacity;
      return;
    }
    this.ring[(this.start + this.count) % this.capacity] = event;
    this.count++;
  }

  /** The oldest revision a watch may start from: events after it are all here. */
  get oldestResumable(): number {
    return this.completeAfter;
  }

  get size(): number {
    return this.count;
  }

  /** The changes after `revision`, oldest first; undefined when some of them left the window. */
  since(revision: number): CacheEvent[] | undefined {
    if (revision < this.completeAfter) return undefined;
    const out: CacheEvent[] = [];
    for (let i = 0; i < this.count; i++) {
      const e = this.ring[(this.start + i) % this.capacity];
      if (e !== undefined && e.revision > revision) out.push(e);
    }
    return out;
  }
}
