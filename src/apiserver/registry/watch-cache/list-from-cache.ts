import type { KubeObject } from "../../../kube-object/types.js";
import { encodeContinue } from "../continue-token.js";
import { matches, type Filter } from "../filter.js";
import { listReadOf } from "../list-read.js";
import type { ListPage, ListQuery } from "../types.js";
import type { ResourceWatchCache } from "./resource-cache.js";

/**
 * How long a consistent list waits for the cache to reach the store's revision before it reads the
 * store instead (kube's consistent read from cache waits too; a list should not wait long).
 */
export const CONSISTENT_LIST_WAIT_MS = 250;

/**
 * A list answered from the watch cache, as kube-apiserver does by default: resourceVersion="0" (any
 * state, the cache's) and a consistent list (no resourceVersion) once the cache has caught up with the
 * store's current revision. A limit is honoured; the continue token carries the cache's revision, so the
 * following pages read the store at exactly that revision. Undefined when the cache cannot answer (not
 * serving, behind the store, an exact or "not older than" read, a continue token, or a value in range
 * that does not decode — the store answers those, with its error).
 */
export async function listFromCache(
  cache: ResourceWatchCache,
  prefix: string,
  f: Filter,
  q: ListQuery,
  currentRevision: () => Promise<number>,
): Promise<ListPage | undefined> {
  if (!cache.isReady) return undefined;
  const read = listReadOf(q); // validates first: bad input is the same 400 either way
  if (read.kind !== "latest" || (q.continueToken !== undefined && q.continueToken !== "")) return undefined;
  if (q.resourceVersion !== "0") {
    const storeRevision = await currentRevision();
    if (!(await cache.waitFresh(storeRevision, CONSISTENT_LIST_WAIT_MS))) return undefined;
  }
  if (!cache.isReady) return undefined;
  // Synchronous from here: the snapshot and its revision belong together.
  const revision = cache.currentRevision;
  const limit = q.limit !== undefined && q.limit > 0 ? q.limit : 0;
  const items: KubeObject[] = [];
  let lastKey: string | undefined;
  let more = false;
  for (const entry of cache.snapshot(prefix)) {
    if (entry.object === undefined) return undefined;
    if (!matches(f, entry.object)) continue;
    if (limit > 0 && items.length >= limit) {
      more = true;
      break;
    }
    items.push(entry.object);
    lastKey = entry.key;
  }
  const page: ListPage = { items, resourceVersion: String(revision) };
  if (more && lastKey !== undefined)
    return { ...page, continueToken: encodeContinue(revision, lastKey.slice(prefix.length)) };
  return page;
}
