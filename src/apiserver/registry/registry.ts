import type { Clock } from "../../common/clock.js";
import { AtrestError, isAtrestError } from "../../common/errors.js";
import type { Random } from "../../common/random.js";
import type { TransformingStore } from "../../storage/transforming-store.js";
import { collectionPrefix, resourceByName, RESOURCES, storageKey, type ResourceInfo } from "../resources.js";
import { alreadyExists, badRequest, conflict, invalid, notFound } from "../status.js";
import { metaOf, type KubeObject } from "../../kube-object/types.js";
import { FieldManagers } from "./field-managers.js";
import { filterOf } from "./filter.js";
import { listPage } from "./list.js";
import { NamespaceCache } from "./namespace-cache.js";
import { encodeObject, objectOf } from "./object-codec.js";
import { objectError } from "./storage-errors.js";
import {
  checkDeletePreconditions,
  checkPinnedRevision,
  normalizeIncoming,
  prepareForCreate,
  prepareForUpdate,
  sameObject,
  withTypeMeta,
} from "./strategy.js";
import type {
  ApplyOptions,
  ApplyResult,
  DeleteOptions,
  ListPage,
  ListQuery,
  WatchHandle,
  WatchSink,
  WriteOptions,
} from "./types.js";
import { watchObjects } from "./watch-events.js";
import { listFromCache, watchFromCache, WatchCaches } from "./watch-cache/index.js";

export interface RegistryOptions {
  /**
   * Serve watches and lists from a watch cache per collection (kube's --watch-cache, default true);
   * false: every watch and list reads the store.
   */
  readonly watchCache?: boolean;
  /** Changes each collection's cache keeps for watches that resume (default 1000). */
  readonly watchCacheCapacity?: number;
}

/**
 * The REST semantics of the served resources, thin over the transforming store (its only way to the
 * stored bytes): create, get, list (pages, selectors), update and patch (the store's guaranteed update:
 * preconditions checked on every attempt, stale values rewritten), delete (with preconditions; a
 * namespace takes its contents with it), deletecollection and watch.
 */
export class Registry {
  private readonly namespaces: NamespaceCache;
  private readonly fieldManagers: FieldManagers;
  /** Undefined with --watch-cache=false. */
  readonly watchCaches: WatchCaches | undefined;

  constructor(
    private readonly store: TransformingStore,
    private readonly prefix: string,
    private readonly clock: Clock,
    private readonly random: Random,
    options: RegistryOptions = {},
  ) {
    this.watchCaches =
      options.watchCache === false
        ? undefined
        : new WatchCaches(store, prefix, {
            clock,
            ...(options.watchCacheCapacity !== undefined ? { capacity: options.watchCacheCapacity } : {}),
          });
    const ns = resourceByName("namespaces");
    if (ns === undefined) throw new AtrestError("internal", "the namespaces resource is not served");
    this.namespaces = new NamespaceCache(store, collectionPrefix(prefix, ns, undefined), clock);
    this.fieldManagers = new FieldManagers(clock);
  }

  /** managedFields after a non-apply write by `opts.fieldManager` (untouched for internal writes). */
  private track(
    info: ResourceInfo,
    live: KubeObject,
    next: KubeObject,
    opts: WriteOptions,
    subresource?: "status",
  ): KubeObject {
    if (opts.fieldManager === undefined) return next;
    return this.fieldManagers.for(info, subresource).update(live, next, opts.fieldManager);
  }

  key(info: ResourceInfo, namespace: string | undefined, name: string): string {
    return storageKey(this.prefix, info, namespace, name);
  }

  async get(info: ResourceInfo, namespace: string | undefined, name: string): Promise<KubeObject> {
    let value;
    try {
      value = await this.store.get(this.key(info, namespace, name));
    } catch (err) {
      throw objectError(err, info, name);
    }
    if (value === undefined) throw notFound(info, name);
    return withTypeMeta(info, objectOf(value));
  }

  /** A page of the collection: from the watch cache when it can answer (kube's rules), else the store. */
  async list(info: ResourceInfo, namespace: string | undefined, q: ListQuery): Promise<ListPage> {
    const prefix = collectionPrefix(this.prefix, info, namespace);
    const filter = filterOf(info, q);
    const cache = this.watchCaches?.forPrefix(collectionPrefix(this.prefix, info, undefined));
    const page =
      (cache === undefined
        ? undefined
        : await listFromCache(cache, prefix, filter, q, () => this.store.currentRevision())) ??
      (await listPage(this.store, prefix, filter, q));
    const convert = info.conversion?.fromStorage;
    return convert === undefined ? page : { ...page, items: page.items.map(convert) };
  }

  async create(
    info: ResourceInfo,
    namespace: string | undefined,
    body: KubeObject,
    opts: WriteOptions,
  ): Promise<KubeObject> {
    const tracked = this.track(info, {}, normalizeIncoming(info, body, namespace), opts);
    return this.createPrepared(info, namespace, tracked, opts);
  }

  /** A create of an object whose managedFields are already what they should be. */
  private async createPrepared(
    info: ResourceInfo,
    namespace: string | undefined,
    body: KubeObject,
    opts: WriteOptions,
  ): Promise<KubeObject> {
    const obj = prepareForCreate(info, body, namespace, this.clock, this.random);
    opts.admit?.(obj, undefined);
    const name = metaOf(obj).name ?? "";
    if (info.namespaced) await this.namespaces.require(namespace ?? "");
    const key = this.key(info, namespace, name);
    try {
      if (opts.dryRun) {
        if (await this.store.has(key)) throw alreadyExists(info, name);
        return obj;
      }
      const written = await this.store.create(key, encodeObject(toStorage(info, obj)));
      metaOf(obj).resourceVersion = String(written.modRevision);
      return obj;
    } catch (err) {
      throw objectError(err, info, name);
    }
  }

  /** How many objects of the resource are stored with a resourceVersion at or below `maxRevision`. */
  async countStored(info: ResourceInfo, maxRevision: number): Promise<number> {
    const prefix = collectionPrefix(this.prefix, info, undefined);
    let count = 0;
    let startAfter: string | undefined;
    for (;;) {
      const page = await this.store.listKeys(prefix, {
        limit: COUNT_PAGE,
        ...(startAfter === undefined ? {} : { startAfter }),
      });
      for (const item of page.items) if (item.modRevision <= maxRevision) count++;
      const last = page.items[page.items.length - 1];
      if (!page.more || last === undefined) return count;
      startAfter = last.key;
    }
  }

  /** Starts the namespace cache (after the default namespaces exist). */
  startNamespaceCache(): Promise<void> {
    return this.namespaces.start();
  }

  /** Lists and watches every collection for the watch cache (a collection that fails retries alone). */
  async startWatchCache(): Promise<void> {
    await this.watchCaches?.start();
  }

  async close(): Promise<void> {
    await this.watchCaches?.close();
    await this.namespaces.close();
  }

  /** PUT: compare-and-swap on the body's resourceVersion (unconditional when it has none). */
  update(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    body: KubeObject,
    opts: WriteOptions,
  ): Promise<KubeObject> {
    const incoming = normalizeIncoming(info, body, namespace);
    const bodyName = metaOf(incoming).name;
    if (bodyName !== undefined && bodyName !== "" && bodyName !== name) {
      throw badRequest(`the name of the object (${bodyName}) does not match the name on the URL (${name})`);
    }
    metaOf(incoming).name = name;
    const wantedRv = metaOf(incoming).resourceVersion;
    const pinnedRv = wantedRv === undefined || wantedRv === "" ? undefined : wantedRv;
    return this.guaranteedUpdate(info, namespace, name, opts, () => structuredClone(incoming), {
      ...(pinnedRv === undefined ? {} : { pinnedRv }),
      trackUpdate: true,
    });
  }

  /** PATCH: `mutate` builds the new object from the current one, again on every attempt. */
  patch(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    opts: WriteOptions,
    mutate: (current: KubeObject) => KubeObject,
  ): Promise<KubeObject> {
    return this.guaranteedUpdate(info, namespace, name, opts, mutate, { trackUpdate: true });
  }

  /**
   * A status write (what kube's `/status` subresource does for a resource with statusSubresource):
   * `mutate` makes the new status from the current object; nothing else of the object changes.
   */
  updateStatus(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    opts: WriteOptions,
    mutate: (current: KubeObject) => unknown,
  ): Promise<KubeObject> {
    return this.guaranteedUpdate(
      info,
      namespace,
      name,
      opts,
      (current) => ({ ...current, status: mutate(current) }),
      { trackUpdate: true, statusWrite: true },
    );
  }

  /**
   * Server-side apply (PATCH application/apply-patch+yaml): merges `config` into the object, or
   * creates it from `config` when there is none, as kube's patcher does with forceAllowCreate.
   */
  async apply(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    config: KubeObject,
    opts: ApplyOptions,
  ): Promise<ApplyResult> {
    const fm = this.fieldManagers.for(info);
    const checkName = (obj: KubeObject): KubeObject => {
      const meta = metaOf(obj);
      if ((meta.name ?? "") !== name)
        throw badRequest(
          `the name of the object (${meta.name ?? ""}) does not match the name on the URL (${name})`,
        );
      if (
        info.namespaced &&
        namespace !== undefined &&
        typeof meta.namespace === "string" &&
        meta.namespace !== "" &&
        meta.namespace !== namespace
      )
        throw badRequest(
          `the namespace of the object (${meta.namespace}) does not match the namespace on the request (${namespace})`,
        );
      return obj;
    };
    const checkUid = (current: KubeObject, applied: KubeObject): KubeObject => {
      const uid = metaOf(applied).uid;
      if (uid !== metaOf(current).uid)
        throw invalid(
          info.kind,
          name,
          [{ field: "metadata.uid", type: "FieldValueInvalid", value: uid, detail: "field is immutable" }],
          info.group,
        );
      return applied;
    };
    for (let attempt = 1; ; attempt++) {
      try {
        const object = await this.guaranteedUpdate(
          info,
          namespace,
          name,
          opts,
          (current) => checkUid(current, checkName(fm.apply(current, config, opts.fieldManager, opts.force))),
          { trackUpdate: false },
        );
        return { object, created: false };
      } catch (err) {
        if (!isAtrestError(err, "not-found") || attempt > 2) throw err;
      }
      const applied = fm.apply({}, config, opts.fieldManager, opts.force);
      const meta = metaOf(applied);
      // Before the name check, as kube's patcher: a uid names an object that is gone.
      if (typeof meta.uid === "string" && meta.uid !== "")
        throw conflict(
          info,
          name,
          `uid mismatch: the provided object specified uid ${meta.uid}, and no existing object was found`,
        );
      checkName(applied);
      // A resourceVersion in the configuration has nothing to match on a create (kube drops it too).
      delete meta.resourceVersion;
      try {
        return { object: await this.createPrepared(info, namespace, applied, opts), created: true };
      } catch (err) {
        if (!isAtrestError(err, "already-exists")) throw err;
        // Someone created it meanwhile: apply onto theirs.
      }
    }
  }

  /**
   * Read-modify-write through the store's guaranteed update. A lost race is retried there; a pinned
   * resourceVersion is checked on each attempt, so a lost race with one is a 409 Conflict. An unchanged
   * object is not written, unless it is stale (the store rewrites it with the current provider).
   */
  private async guaranteedUpdate(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    opts: WriteOptions,
    mutate: (current: KubeObject) => KubeObject,
    how: {
      /** A resourceVersion the write must find (PUT with one); a lost race is then a 409. */
      readonly pinnedRv?: string;
      /** Record the write as an Update in managedFields (an apply records itself). */
      readonly trackUpdate: boolean;
      /** Change only the status (statusSubresource resources). */
      readonly statusWrite?: boolean;
    },
  ): Promise<KubeObject> {
    const { pinnedRv, trackUpdate, statusWrite = false } = how;
    // The last attempt's objects: what the result is made of.
    let last: { current: KubeObject; changed: KubeObject | undefined; revision: number } | undefined;
    let stored;
    try {
      stored = await this.store.guaranteedUpdate(
        this.key(info, namespace, name),
        (value) => {
          const current = withTypeMeta(info, objectOf(value));
          checkPinnedRevision(info, name, pinnedRv, value.modRevision);
          let proposed = mutate(structuredClone(current));
          if (trackUpdate)
            proposed = this.track(
              info,
              current,
              normalizeIncoming(info, proposed, namespace),
              opts,
              statusWrite ? "status" : undefined,
            );
          const next = prepareForUpdate(
            info,
            proposed,
            current,
            value.modRevision,
            namespace,
            name,
            pinnedRv,
            statusWrite,
          );
          const changed = sameObject(next, current) ? undefined : next;
          if (changed !== undefined) opts.admit?.(changed, current);
          last = { current, changed, revision: value.modRevision };
          return changed === undefined ? undefined : encodeObject(toStorage(info, changed));
        },
        { dryRun: opts.dryRun },
      );
    } catch (err) {
      throw objectError(err, info, name);
    }
    if (last === undefined) throw new AtrestError("internal", "the update function did not run");
    const { current, changed, revision } = last;
    const result = changed ?? current;
    if (stored.modRevision !== revision) metaOf(result).resourceVersion = String(stored.modRevision);
    return result;
  }

  async delete(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions,
  ): Promise<KubeObject> {
    let deleted: KubeObject | undefined;
    try {
      await this.store.delete(this.key(info, namespace, name), {
        dryRun: opts.dryRun,
        beforeDelete: async (value) => {
          const obj = withTypeMeta(info, objectOf(value));
          checkDeletePreconditions(info, name, obj, opts.preconditions);
          deleted = obj;
          if (opts.dryRun || info.kind !== "Namespace") return;
          this.namespaces.forget(name);
          await this.deleteNamespaceContents(name);
        },
      });
    } catch (err) {
      throw objectError(err, info, name);
    }
    if (deleted === undefined) throw new AtrestError("internal", "the delete check did not run");
    return deleted;
  }

  /** Everything in a deleted namespace goes with it, whether it decodes or not. */
  private async deleteNamespaceContents(namespace: string): Promise<void> {
    for (const info of RESOURCES) {
      if (!info.namespaced || info.storageSegment === undefined) continue;
      await this.store.deletePrefixWithoutDecodingUnsafe(collectionPrefix(this.prefix, info, namespace));
    }
  }

  /** Deletes every matching object; returns what was deleted (kube answers with the list). */
  async deleteCollection(
    info: ResourceInfo,
    namespace: string | undefined,
    q: ListQuery,
    opts: DeleteOptions,
  ): Promise<ListPage> {
    const page = await this.list(info, namespace, selectorsOf(q));
    const deleted: KubeObject[] = [];
    for (const item of page.items) {
      const meta = metaOf(item);
      try {
        deleted.push(await this.delete(info, meta.namespace ?? namespace, meta.name ?? "", opts));
      } catch (err) {
        if (!isAtrestError(err, "not-found")) throw err;
      }
    }
    return { items: deleted, resourceVersion: page.resourceVersion };
  }

  /**
   * Streams changes from `resourceVersion` (exclusive). Without one (or "0") it first sends the current
   * objects as ADDED, like kube-apiserver. Events are delivered in store order. Served by the watch
   * cache when it is serving (410 Expired below its window); otherwise by a watch of the store.
   */
  async watch(
    info: ResourceInfo,
    namespace: string | undefined,
    q: ListQuery & { resourceVersion?: string },
    sink: WatchSink,
  ): Promise<WatchHandle> {
    const filter = filterOf(info, q);
    let from: number;
    const rv = q.resourceVersion;
    const fromState = rv === undefined || rv === "" || rv === "0";
    if (!fromState && !/^\d+$/.test(rv)) throw badRequest(`invalid resourceVersion "${rv}"`);
    const prefix = collectionPrefix(this.prefix, info, namespace);
    const cache = this.watchCaches?.forPrefix(collectionPrefix(this.prefix, info, undefined));
    if (cache !== undefined) {
      const handle = await watchFromCache(cache, {
        info,
        prefix,
        filter,
        from: fromState ? undefined : Number(rv),
        sink,
      });
      if (handle !== undefined) return handle;
    }
    if (fromState) {
      const page = await this.list(info, namespace, selectorsOf(q));
      for (const item of page.items) sink.event("ADDED", item);
      from = Number(page.resourceVersion);
    } else from = Number(rv);
    return watchObjects(this.store, { info, prefix, filter, from, sink });
  }
}

/** Keys read per page when counting. */
const COUNT_PAGE = 1000;

/** The stored form of an object of this version (the storage version's, for converted resources). */
function toStorage(info: ResourceInfo, obj: KubeObject): KubeObject {
  return info.conversion === undefined ? obj : info.conversion.toStorage(obj);
}

function selectorsOf(q: ListQuery): ListQuery {
  return {
    ...(q.labelSelector !== undefined ? { labelSelector: q.labelSelector } : {}),
    ...(q.fieldSelector !== undefined ? { fieldSelector: q.fieldSelector } : {}),
  };
}
