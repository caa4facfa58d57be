import { AtrestError, isAtrestError } from "../common/errors.js";
import type { Clock } from "../common/clock.js";
import type { Random } from "../common/random.js";
import type { KeyValue, Watch, WatchEvent } from "../storage/store.js";
import { listReadOf, type ListReadQuery } from "./list-read.js";
import type { ObjectStore, StoredObject } from "./object-store.js";
import { collectionPrefix, resourceByName, RESOURCES, storageKey, type ResourceInfo } from "./resources.js";
import {
  fieldsMatch,
  labelSelector,
  parseFieldSelector,
  type FieldRequirement,
  type Selector,
} from "./selectors.js";
import {
  alreadyExists,
  badRequest,
  conflict,
  expired,
  invalid,
  notFound,
  tooLargeResourceVersion,
  type FieldError,
} from "./status.js";
import { isPlainObject, metaOf, rfc3339, type KubeObject } from "./types.js";
import {
  validateConfigMap,
  validateImmutableUpdate,
  validateObjectMeta,
  validateSecret,
  validateServiceAccount,
} from "./validation.js";

/**
 * The REST semantics of the served resources over the object store: create, get, list (pages,
 * selectors), update (resourceVersion compare-and-swap), guarded read-modify-write for patches,
 * delete (with preconditions; a namespace takes its contents with it), deletecollection and watch.
 */

export interface ListQuery extends ListReadQuery {
  readonly limit?: number;
  readonly continueToken?: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
}

export interface ListPage {
  readonly items: KubeObject[];
  readonly resourceVersion: string;
  readonly continueToken?: string;
}

export interface WriteOptions {
  readonly dryRun: boolean;
}

export interface DeleteOptions extends WriteOptions {
  readonly preconditions?: { uid?: string; resourceVersion?: string };
}

export type WatchEventType = "ADDED" | "MODIFIED" | "DELETED";

export interface WatchHandle extends Watch {
  /** Every store event up to this revision has been handled (what a BOOKMARK may promise). */
  progressRevision(): number;
}

export interface WatchSink {
  event(type: WatchEventType, object: KubeObject): void;
  error(err: AtrestError): void;
}

const FIELD_SELECTORS: Readonly<Record<string, readonly string[]>> = {
  Secret: ["metadata.name", "metadata.namespace", "type"],
  ConfigMap: ["metadata.name", "metadata.namespace"],
  ServiceAccount: ["metadata.name", "metadata.namespace"],
  Namespace: ["metadata.name", "status.phase"],
};

/** kube-apiserver labels every namespace with its own name (immutable, for selectors). */
const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";
const GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";
const MAX_CAS_RETRIES = 8;
/** kube-apiserver's messages for a list from a compacted revision (storage/etcd3/store.go). */
const EXPIRED_LIST = "The resourceVersion for the provided list is too old.";
const INCONSISTENT_CONTINUE =
  "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.";

interface Filter {
  readonly labels: Selector | undefined;
  readonly fields: readonly FieldRequirement[];
}

export class Registry {
  readonly objects: ObjectStore;
  private namespaceCache: Set<string> | undefined;
  private namespaceWatch: Watch | undefined;
  private closed = false;

  constructor(
    objects: ObjectStore,
    private readonly prefix: string,
    private readonly clock: Clock,
    private readonly random: Random,
  ) {
    this.objects = objects;
  }

  key(info: ResourceInfo, namespace: string | undefined, name: string): string {
    return storageKey(this.prefix, info, namespace, name);
  }

  private filter(info: ResourceInfo, q: { labelSelector?: string; fieldSelector?: string }): Filter {
    return {
      labels: labelSelector(q.labelSelector),
      fields: parseFieldSelector(q.fieldSelector, FIELD_SELECTORS[info.kind] ?? []),
    };
  }

  private matches(f: Filter, obj: KubeObject): boolean {
    const meta = metaOf(obj);
    if (f.labels !== undefined && !f.labels(isPlainObject(meta.labels) ? meta.labels : {})) return false;
    if (f.fields.length === 0) return true;
    const fields: Record<string, string> = {
      "metadata.name": meta.name ?? "",
      "metadata.namespace": meta.namespace ?? "",
    };
    if (typeof obj.type === "string" || obj.kind === "Secret")
      fields.type = typeof obj.type === "string" ? obj.type : "Opaque";
    if (isPlainObject(obj.status) && typeof obj.status.phase === "string")
      fields["status.phase"] = obj.status.phase;
    return fieldsMatch(f.fields, fields);
  }

  async get(info: ResourceInfo, namespace: string | undefined, name: string): Promise<KubeObject> {
    const found = await this.objects.get(this.key(info, namespace, name));
    if (found === undefined) throw notFound(info.resource, name);
    return withTypeMeta(info, found.object);
  }

  async list(info: ResourceInfo, namespace: string | undefined, q: ListQuery): Promise<ListPage> {
    const prefix = collectionPrefix(this.prefix, info, namespace);
    const f = this.filter(info, q);
    const limit = q.limit !== undefined && q.limit > 0 ? q.limit : 0;
    let startAfter: string | undefined;
    const read = listReadOf(q);
    if (read.kind !== "latest") {
      const current = await this.objects.store.currentRevision();
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
        limit === 0
          ? 0
          : Math.max(limit - items.length, f.labels === undefined && f.fields.length === 0 ? 0 : 100);
      let result;
      try {
        result = await this.objects.store.list(prefix, {
          ...(pageLimit > 0 ? { limit: pageLimit } : {}),
          ...(startAfter !== undefined ? { startAfter } : {}),
          ...(revision > 0 ? { revision } : {}),
        });
      } catch (err) {
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
      for (const kv of result.items) {
        lastKey = kv.key;
        const { object } = await this.objects.decode(kv);
        if (!this.matches(f, object)) continue;
        items.push(object);
        if (limit > 0 && items.length >= limit) {
          stoppedEarly = kv !== result.items[result.items.length - 1];
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

  async create(
    info: ResourceInfo,
    namespace: string | undefined,
    body: KubeObject,
    opts: WriteOptions,
  ): Promise<KubeObject> {
    const obj = normalizeIncoming(info, body, namespace);
    const meta = metaOf(obj);
    if (meta.resourceVersion !== undefined && meta.resourceVersion !== "")
      throw badRequest("resourceVersion should not be set on objects to be created");
    if (
      (meta.name === undefined || meta.name === "") &&
      typeof meta.generateName === "string" &&
      meta.generateName !== ""
    ) {
      let suffix = "";
      for (const b of this.random.bytes(5)) suffix += GENERATE_ALPHABET[b % GENERATE_ALPHABET.length];
      meta.name = meta.generateName + suffix;
    }
    meta.uid = this.random.uuid();
    meta.creationTimestamp = rfc3339(this.clock.now());
    delete meta.deletionTimestamp;
    delete meta.deletionGracePeriodSeconds;
    delete meta.generation;
    delete meta.selfLink;
    if (info.kind === "Namespace") {
      obj.spec = { finalizers: ["kubernetes"], ...(isPlainObject(obj.spec) ? obj.spec : {}) };
      obj.status = { phase: "Active" };
      if (typeof meta.name === "string")
        meta.labels = {
          ...(isPlainObject(meta.labels) ? meta.labels : {}),
          [NAMESPACE_NAME_LABEL]: meta.name,
        };
    }
    this.validate(info, obj);
    const name = meta.name ?? "";
    if (info.namespaced) await this.requireNamespace(namespace ?? "");
    const key = this.key(info, namespace, name);
    if (opts.dryRun) {
      if ((await this.objects.store.get(key)) !== undefined) throw alreadyExists(info.resource, name);
      return obj;
    }
    try {
      const modRevision = await this.objects.create(key, obj);
      meta.resourceVersion = String(modRevision);
      return obj;
    } catch (err) {
      if (isAtrestError(err, "already-exists")) throw alreadyExists(info.resource, name);
      throw err;
    }
  }

  async requireNamespace(namespace: string): Promise<void> {
    if (this.namespaceCache?.has(namespace) === true) return;
    const ns = resourceByName("namespaces");
    if (ns === undefined || (await this.objects.store.get(this.key(ns, undefined, namespace))) === undefined)
      throw notFound("namespaces", namespace);
  }

  /**
   * Keeps the set of existing namespaces from a store watch (kube-apiserver checks namespaces against
   * an informer cache too), so a create into a known namespace costs one store call. A miss or a
   * broken watch falls back to reading the store.
   */
  async startNamespaceCache(): Promise<void> {
    if (this.closed) return;
    const info = resourceByName("namespaces");
    if (info === undefined) return;
    const prefix = collectionPrefix(this.prefix, info, undefined);
    try {
      const names = new Set<string>();
      let startAfter: string | undefined;
      let revision = 0;
      for (;;) {
        const page = await this.objects.store.list(prefix, {
          limit: 500,
          ...(startAfter !== undefined ? { startAfter } : {}),
          ...(revision > 0 ? { revision } : {}),
        });
        if (revision === 0) revision = page.revision;
        for (const kv of page.items) names.add(kv.key.slice(prefix.length));
        if (!page.more || page.items.length === 0) break;
        startAfter = page.items[page.items.length - 1]?.key;
      }
      this.namespaceWatch = await this.objects.store.watch(prefix, revision, {
        onEvent: (ev) => {
          if (ev.type === "put") names.add(ev.kv.key.slice(prefix.length));
          else names.delete(ev.key.slice(prefix.length));
        },
        onError: () => this.restartNamespaceCache(),
      });
      this.namespaceCache = names;
    } catch {
      this.restartNamespaceCache();
    }
  }

  private restartNamespaceCache(): void {
    this.namespaceCache = undefined;
    const w = this.namespaceWatch;
    this.namespaceWatch = undefined;
    void w?.cancel().catch(() => undefined);
    if (this.closed) return;
    const timer = this.clock.setTimeout(() => void this.startNamespaceCache(), 1_000);
    timer.unref?.();
  }

  async close(): Promise<void> {
    this.closed = true;
    this.namespaceCache = undefined;
    await this.namespaceWatch?.cancel().catch(() => undefined);
  }

  /** PUT: compare-and-swap on the body's resourceVersion (unconditional when it has none). */
  async update(
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
    return this.guardedUpdate(
      info,
      namespace,
      name,
      opts,
      wantedRv === undefined || wantedRv === "" ? undefined : wantedRv,
      () => structuredClone(incoming),
    );
  }

  /**
   * Read-modify-write with compare-and-swap: `mutate` builds the new object from the current one. A
   * lost race is retried unless the caller pinned a resourceVersion (then it is a 409 Conflict).
   */
  async guardedUpdate(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    opts: WriteOptions,
    pinnedRv: string | undefined,
    mutate: (current: KubeObject) => KubeObject,
  ): Promise<KubeObject> {
    const key = this.key(info, namespace, name);
    for (let attempt = 0; ; attempt++) {
      const current = await this.objects.get(key);
      if (current === undefined) throw notFound(info.resource, name);
      const currentObj = withTypeMeta(info, current.object);
      if (pinnedRv !== undefined && pinnedRv !== String(current.modRevision)) {
        if (!/^\d+$/.test(pinnedRv)) throw badRequest(`invalid resourceVersion "${pinnedRv}"`);
        throw conflict(info.resource, name);
      }
      const next = normalizeIncoming(info, mutate(structuredClone(currentObj)), namespace);
      const meta = metaOf(next);
      const oldMeta = metaOf(currentObj);
      if (meta.name !== name)
        throw badRequest(
          `the name of the object (${meta.name ?? ""}) does not match the name on the URL (${name})`,
        );
      const rvAfter = meta.resourceVersion;
      if (
        rvAfter !== undefined &&
        rvAfter !== "" &&
        rvAfter !== String(current.modRevision) &&
        pinnedRv === undefined
      ) {
        // A patch that sets metadata.resourceVersion makes it a precondition.
        throw conflict(info.resource, name);
      }
      if (oldMeta.uid !== undefined) meta.uid = oldMeta.uid;
      else delete meta.uid;
      if (oldMeta.creationTimestamp !== undefined) meta.creationTimestamp = oldMeta.creationTimestamp;
      else delete meta.creationTimestamp;
      delete meta.generation;
      delete meta.selfLink;
      meta.resourceVersion = String(current.modRevision);
      if (info.kind === "Namespace") {
        next.status = isPlainObject(currentObj.status) ? currentObj.status : { phase: "Active" };
        meta.labels = { ...(isPlainObject(meta.labels) ? meta.labels : {}), [NAMESPACE_NAME_LABEL]: name };
      }
      this.validate(info, next, currentObj);
      if (!current.stale && canonical(next) === canonical(currentObj)) return currentObj; // nothing changed: no write
      if (opts.dryRun) return next;
      try {
        const modRevision = await this.objects.update(key, next, current.modRevision);
        meta.resourceVersion = String(modRevision);
        return next;
      } catch (err) {
        if (isAtrestError(err, "not-found")) throw notFound(info.resource, name);
        if (isAtrestError(err, "conflict")) {
          if (pinnedRv !== undefined || attempt >= MAX_CAS_RETRIES) throw conflict(info.resource, name);
          continue;
        }
        throw err;
      }
    }
  }

  async delete(
    info: ResourceInfo,
    namespace: string | undefined,
    name: string,
    opts: DeleteOptions,
  ): Promise<KubeObject> {
    const key = this.key(info, namespace, name);
    for (let attempt = 0; ; attempt++) {
      const current = await this.objects.get(key);
      if (current === undefined) throw notFound(info.resource, name);
      const obj = withTypeMeta(info, current.object);
      const meta = metaOf(obj);
      const pre = opts.preconditions;
      if (pre?.uid !== undefined && pre.uid !== "" && pre.uid !== meta.uid) {
        throw conflict(
          info.resource,
          name,
          `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${meta.uid ?? ""}`,
        );
      }
      if (
        pre?.resourceVersion !== undefined &&
        pre.resourceVersion !== "" &&
        pre.resourceVersion !== meta.resourceVersion
      ) {
        throw conflict(
          info.resource,
          name,
          `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${meta.resourceVersion ?? ""}`,
        );
      }
      if (opts.dryRun) return obj;
      if (info.kind === "Namespace") {
        this.namespaceCache?.delete(name); // no new objects into it from here on
        await this.deleteNamespaceContents(name);
      }
      try {
        await this.objects.store.delete(key, current.modRevision);
        return obj;
      } catch (err) {
        if (isAtrestError(err, "not-found")) throw notFound(info.resource, name);
        if (isAtrestError(err, "conflict") && attempt < MAX_CAS_RETRIES) continue;
        throw err;
      }
    }
  }

  private async deleteNamespaceContents(namespace: string): Promise<void> {
    for (const info of RESOURCES) {
      if (!info.namespaced) continue;
      const prefix = collectionPrefix(this.prefix, info, namespace);
      for (;;) {
        const page = await this.objects.store.list(prefix, { limit: 500 });
        for (const kv of page.items) {
          try {
            await this.objects.store.delete(kv.key);
          } catch (err) {
            if (!isAtrestError(err, "not-found")) throw err;
          }
        }
        if (!page.more || page.items.length === 0) break;
      }
    }
  }

  /** Deletes every matching object; returns what was deleted (kube answers with the list). */
  async deleteCollection(
    info: ResourceInfo,
    namespace: string | undefined,
    q: ListQuery,
    opts: DeleteOptions,
  ): Promise<ListPage> {
    const page = await this.list(info, namespace, {
      ...(q.labelSelector !== undefined ? { labelSelector: q.labelSelector } : {}),
      ...(q.fieldSelector !== undefined ? { fieldSelector: q.fieldSelector } : {}),
    });
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
   * objects as ADDED, like kube-apiserver. Events are delivered in store order.
   */
  async watch(
    info: ResourceInfo,
    namespace: string | undefined,
    q: ListQuery & { resourceVersion?: string },
    sink: WatchSink,
  ): Promise<WatchHandle> {
    const prefix = collectionPrefix(this.prefix, info, namespace);
    const f = this.filter(info, q);
    let from: number;
    const rv = q.resourceVersion;
    if (rv === undefined || rv === "" || rv === "0") {
      const page = await this.list(info, namespace, {
        ...(q.labelSelector !== undefined ? { labelSelector: q.labelSelector } : {}),
        ...(q.fieldSelector !== undefined ? { fieldSelector: q.fieldSelector } : {}),
      });
      for (const item of page.items) sink.event("ADDED", item);
      from = Number(page.resourceVersion);
    } else {
      if (!/^\d+$/.test(rv)) throw badRequest(`invalid resourceVersion "${rv}"`);
      from = Number(rv);
    }
    let chain: Promise<void> = Promise.resolve();
    let failed = false;
    const fail = (err: unknown): void => {
      if (failed) return;
      failed = true;
      if (isAtrestError(err, "gone"))
        sink.error(expired(`too old resource version: ${from} (${err.message})`));
      else
        sink.error(
          err instanceof AtrestError ? err : new AtrestError("internal", "watch failed", { cause: err }),
        );
    };
    const decodeKv = async (kv: KeyValue, rvOverride?: number): Promise<KubeObject> => {
      const d: StoredObject = await this.objects.decode(kv);
      const obj = withTypeMeta(info, d.object);
      if (rvOverride !== undefined) metaOf(obj).resourceVersion = String(rvOverride);
      return obj;
    };
    const selective = f.labels !== undefined || f.fields.length > 0;
    const handle = async (ev: WatchEvent): Promise<void> => {
      if (ev.type === "put") {
        const obj = await decodeKv(ev.kv);
        const isNew = ev.kv.createRevision === ev.kv.modRevision;
        const nowMatches = this.matches(f, obj);
        if (!selective || isNew) {
          if (nowMatches) sink.event(isNew ? "ADDED" : "MODIFIED", obj);
          return;
        }
        const before = ev.prevKv !== undefined ? this.matches(f, await decodeKv(ev.prevKv)) : true;
        if (nowMatches) sink.event(before ? "MODIFIED" : "ADDED", obj);
        else if (before && ev.prevKv !== undefined) sink.event("DELETED", obj);
      } else {
        const obj =
          ev.prevKv !== undefined
            ? await decodeKv(ev.prevKv, ev.modRevision)
            : objectFromKey(info, prefix, ev.key, ev.modRevision);
        if (this.matches(f, obj)) sink.event("DELETED", obj);
      }
    };
    try {
      let progress = from;
      const watch = await this.objects.store.watch(prefix, from, {
        onEvent: (ev) => {
          const revision = ev.type === "put" ? ev.kv.modRevision : ev.modRevision;
          chain = chain
            .then(async () => {
              if (failed) return;
              await handle(ev);
              progress = Math.max(progress, revision);
            })
            .catch(fail);
        },
        onError: (err) => {
          chain = chain.then(() => fail(err));
        },
      });
      return { cancel: () => watch.cancel(), progressRevision: () => progress };
    } catch (err) {
      if (isAtrestError(err, "gone")) throw expired(`too old resource version: ${from} (${err.message})`);
      throw err;
    }
  }

  private validate(info: ResourceInfo, obj: KubeObject, old?: KubeObject): void {
    const meta = metaOf(obj);
    const errs: FieldError[] = validateObjectMeta(meta, {
      nameRule: info.kind === "Namespace" ? "label" : "subdomain",
      namespaced: info.namespaced,
    });
    if (info.kind === "Secret") errs.push(...validateSecret(obj));
    else if (info.kind === "ConfigMap") errs.push(...validateConfigMap(obj));
    else if (info.kind === "ServiceAccount") errs.push(...validateServiceAccount(obj));
    if (old !== undefined) errs.push(...validateImmutableUpdate(info.kind, old, obj));
    if (errs.length > 0) throw invalid(info.kind, meta.name ?? meta.generateName ?? "", errs);
  }
}

/** Kind/apiVersion checks, the URL namespace, Secret stringData folded into data, defaults. */
function normalizeIncoming(info: ResourceInfo, body: KubeObject, namespace: string | undefined): KubeObject {
  const obj: KubeObject = { ...body };
  if (obj.apiVersion !== undefined && obj.apiVersion !== "v1") {
    throw badRequest(
      `the API version in the data (${JSON.stringify(obj.apiVersion)}) does not match the expected API version (v1)`,
    );
  }
  if (obj.kind !== undefined && obj.kind !== info.kind) {
    throw badRequest(
      `the kind in the data (${JSON.stringify(obj.kind)}) does not match the expected kind (${info.kind})`,
    );
  }
  obj.apiVersion = "v1";
  obj.kind = info.kind;
  const meta = { ...metaOf(obj) };
  obj.metadata = meta;
  if (info.namespaced) {
    if (meta.namespace !== undefined && meta.namespace !== "" && meta.namespace !== namespace) {
      throw badRequest(
        "the namespace of the provided object does not match the namespace sent on the request",
      );
    }
    if (namespace !== undefined) meta.namespace = namespace;
  } else {
    delete meta.namespace; // cluster-scoped: kube clears it
  }
  for (const k of Object.keys(meta)) if (meta[k] === null) delete meta[k];
  if (info.kind === "Secret") {
    if (isPlainObject(obj.stringData)) {
      const data: Record<string, unknown> = isPlainObject(obj.data) ? { ...obj.data } : {};
      for (const [k, v] of Object.entries(obj.stringData))
        data[k] = Buffer.from(String(v), "utf8").toString("base64");
      obj.data = data;
    }
    delete obj.stringData;
    if (obj.type === undefined || obj.type === null || obj.type === "") obj.type = "Opaque";
  }
  for (const k of ["data", "binaryData", "immutable"]) if (obj[k] === null) delete obj[k];
  return obj;
}

function withTypeMeta(info: ResourceInfo, obj: KubeObject): KubeObject {
  if (obj.apiVersion === "v1" && obj.kind === info.kind) return obj;
  return { ...obj, apiVersion: "v1", kind: info.kind };
}

function objectFromKey(info: ResourceInfo, prefix: string, key: string, rv: number): KubeObject {
  const rest = key.slice(prefix.length).split("/");
  const metadata: Record<string, unknown> = { resourceVersion: String(rv) };
  if (rest.length >= 2) {
    metadata.namespace = rest[0];
    metadata.name = rest[1];
  } else metadata.name = rest[0];
  return { apiVersion: "v1", kind: info.kind, metadata };
}

/** A stable serialization for "did anything change" (key order does not matter). */
function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    isPlainObject(val)
      ? Object.fromEntries(Object.entries(val).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
      : val,
  );
}

/** kube's continue token: base64 of {"v":"meta.k8s.io/v1","rv":N,"start":"<key after prefix>"}. */
export function encodeContinue(rv: number, lastKeyAfterPrefix: string): string {
  return Buffer.from(
    JSON.stringify({ v: "meta.k8s.io/v1", rv, start: `${lastKeyAfterPrefix}\u0000` }),
  ).toString("base64url");
}

export function decodeContinue(token: string): { rv: number; start: string } {
  try {
    const doc = JSON.parse(Buffer.from(token, "base64url").toString("utf8")) as {
      v?: unknown;
      rv?: unknown;
      start?: unknown;
    };
    // kube: rv 0 is invalid, -1 means "the latest revision" (handed out by a 410 for a compacted token).
    if (
      doc.v !== "meta.k8s.io/v1" ||
      typeof doc.rv !== "number" ||
      !Number.isSafeInteger(doc.rv) ||
      (doc.rv <= 0 && doc.rv !== -1) ||
      typeof doc.start !== "string"
    )
      throw new Error("bad token");
    const start = doc.start.endsWith("\u0000") ? doc.start.slice(0, -1) : doc.start;
    if (start.includes("..") || start.startsWith("/")) throw new Error("bad token");
    return { rv: doc.rv, start };
  } catch {
    throw badRequest("continue key is not valid: invalid continue token");
  }
}
