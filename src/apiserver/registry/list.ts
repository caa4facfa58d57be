import { isAtrestError } from "../../common/errors.js";
import type { TransformingStore } from "../../storage/transforming-store.js";
import { isUnreadableValueError } from "../../storage/transformation-record.js";
import { expired, tooLargeResourceVersion } from "../status.js";
import type { KubeObject } from "../../kube-object/types.js";
import { decodeContinue, encodeContinue } from "./continue-token.js";
import { isSelective, matches, type Filter } from "./filter.js";
import { listReadOf } from "./list-read.js";
import { objectOf } from "./object-codec.js";
import { unreadable } from "./storage-errors.js";
import type { ListPage, ListQuery } from "./types.js";

/**
 * One page of a list: the revision it reads at (resourceVersion / match / continue token), the store's
 * pages filtered by the selectors until the limit is filled, and the continue token for the rest.
 */

/** kube-apiserver's messages for a list from a compacted revision (storage/etcd3/store.go). */
const EXPIRED_LIST = "The resourceVersion for the provided list is too old.";
const INCONSISTENT_CONTINUE =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";
/** With a selector, the store is read in pages of at least this many, however few the limit asks for. */
const MIN_FILTERED_PAGE = 100;

export async function listPage(
  store: TransformingStore,
  prefix: string,
  f: Filter,
  q: ListQuery,
): Promise<ListPage> {
  const limit = q.limit !== undefined && q.limit > 0 ? q.limit : 0;
  let startAfter: string | undefined;
  const read = listReadOf(q);
  if (read.kind !== "latest") {
    const current = await store.currentRevision();
    if (read.revision > current) throw tooLargeResourceVersion(read.revision, current);
  }
  let revision = read.kind === "exact" ? read.revision : 0;
  let continueStart: string | undefined;
  if (q.continueToken !== undefined && q.continueToken !== "") {
    const token = decodeContinue(q.continueToken);
    continueStart = token.start;
    startAfter = prefix + token.start;
    // rv -1 (what a 410 for a compacted token hands out): continue at the latest revision.
    revision = token.rv > 0 ? token.rv : 0;
  }
  const items: KubeObject[] = [];
  let lastKey: string | undefined;
  let more = false;
  for (;;) {
    const pageLimit =
      limit === 0 ? 0 : Math.max(limit - items.length, isSelective(f) ? MIN_FILTERED_PAGE : 0);
    let result;
    try {
      result = await store.list(prefix, {
        ...(pageLimit > 0 ? { limit: pageLimit } : {}),
        ...(startAfter !== undefined ? { startAfter } : {}),
        ...(revision > 0 ? { revision } : {}),
      });
    } catch (err) {
      if (isUnreadableValueError(err)) throw unreadable(err);
      // kube's etcd3 store (interpretListError): a compacted continue token is 410 Expired with a new
      // token that continues from the same key at the latest revision.
      if (isAtrestError(err, "gone") && continueStart !== undefined) {
        throw expired(INCONSISTENT_CONTINUE, encodeContinue(-1, continueStart));
      }
      if (isAtrestError(err, "gone")) throw expired(EXPIRED_LIST);
      throw err;
    }
    if (revision === 0) revision = result.revision;
    more = result.more;
    let stoppedEarly = false;
    for (const value of result.items) {
      lastKey = value.key;
      const object = objectOf(value);
      if (!matches(f, object)) continue;
      items.push(object);
      if (limit > 0 && items.length >= limit) {
        stoppedEarly = value !== result.items[result.items.length - 1];
        break;
      }
    }
    if (stoppedEarly) more = true;
    if (!result.more || (limit > 0 && items.length >= limit) || result.items.length === 0) break;
    startAfter = lastKey;
  }
  const page: ListPage = { items, resourceVersion: String(revision) };
  if (limit > 0 && more && lastKey !== undefined) {
    return { ...page, continueToken: encodeContinue(revision, lastKey.slice(prefix.length)) };
  }
  return page;
}
