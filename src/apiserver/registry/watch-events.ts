import { AtrestError, isAtrestError } from "../../common/errors.js";
import type { DecodedWatchEvent } from "../../storage/decoded-value.js";
import type { TransformingStore } from "../../storage/transforming-store.js";
import type { ResourceInfo } from "../resources.js";
import { expired } from "../status.js";
import { isSelective, matches, type Filter } from "./filter.js";
import { objectFromKey, objectOf } from "./object-codec.js";
import { unreadable } from "./storage-errors.js";
import { withTypeMeta } from "./strategy.js";
import type { WatchHandle, WatchSink } from "./types.js";

/**
 * Kubernetes watch events from the transforming store's decoded events: a put is ADDED (new key) or
 * MODIFIED; with a selector, an object that starts or stops matching is ADDED or DELETED (kube's
 * watch filter). Events reach the sink in store order; a value that does not decode ends the watch.
 */

export interface ObjectWatch {
  readonly info: ResourceInfo;
  /** The collection's key prefix. */
  readonly prefix: string;
  readonly filter: Filter;
  /** Events after this revision. */
  readonly from: number;
  readonly sink: WatchSink;
}

export async function watchObjects(store: TransformingStore, w: ObjectWatch): Promise<WatchHandle> {
  const { info, prefix, filter: f, from, sink } = w;
  let chain: Promise<void> = Promise.resolve();
  let failed = false;
  const fail = (err: unknown): void => {
    if (failed) return;
    failed = true;
    if (isAtrestError(err, "gone")) sink.error(expired(`too old resource version: ${from} (${err.message})`));
    else
      sink.error(
        err instanceof AtrestError ? err : new AtrestError("internal", "watch failed", { cause: err }),
      );
  };
  const selective = isSelective(f);
  const handle = (ev: DecodedWatchEvent): void => {
    if (ev.type === "undecodable") throw unreadable(ev.error);
    if (ev.type === "put") {
      const obj = withTypeMeta(info, objectOf(ev.value));
      const isNew = ev.value.createRevision === ev.value.modRevision;
      const nowMatches = matches(f, obj);
      if (!selective || isNew) {
        if (nowMatches) sink.event(isNew ? "ADDED" : "MODIFIED", obj);
        return;
      }
      const before = ev.prev !== undefined ? matches(f, withTypeMeta(info, objectOf(ev.prev))) : true;
      if (nowMatches) sink.event(before ? "MODIFIED" : "ADDED", obj);
      else if (before && ev.prev !== undefined) sink.event("DELETED", obj);
      return;
    }
    const obj =
      ev.prev !== undefined
        ? withTypeMeta(info, objectOf(ev.prev, ev.modRevision))
        : objectFromKey(info, prefix, ev.key, ev.modRevision);
    if (matches(f, obj)) sink.event("DELETED", obj);
  };
  try {
    let progress = from;
    const watch = await store.watch(
      prefix,
      from,
      {
        onEvent: (ev) => {
          const revision = ev.type === "put" ? ev.value.modRevision : ev.modRevision;
          chain = chain
            .then(() => {
              if (failed) return;
              handle(ev);
              progress = Math.max(progress, revision);
            })
            .catch(fail);
        },
        onError: (err) => {
          chain = chain.then(() => fail(err));
        },
      },
      // The previous value tells whether an object left the selection; without a selector only a
      // delete needs it (kube's watcher decodes it the same way).
      { decodePrevOnPut: selective },
    );
    return { cancel: () => watch.cancel(), progressRevision: () => progress };
  } catch (err) {
    if (isAtrestError(err, "gone")) throw expired(`too old resource version: ${from} (${err.message})`);
    throw err;
  }
}
