import { isPlainObject, type KubeObject } from "../../kube-object/types.js";
import { badRequest } from "../status.js";
import { applyConflictError } from "./conflicts.js";
import { FieldSet } from "./field-set.js";
import {
  allowedConflictsFromLastApplied,
  buildLastApplied,
  KUBECTL_MANAGER,
  LAST_APPLIED_ANNOTATION,
  lastAppliedOf,
} from "./last-applied.js";
import {
  decodeManagedFields,
  emptyManaged,
  encodeManagedFields,
  isResetManagedFields,
  managerIdentifier,
  type Managed,
} from "./managed-fields.js";
import type { Path } from "./path-element.js";
import type { TypeRef } from "./type-schema.js";
import { ApplyConflicts, Updater, type ManagedFieldSets } from "./updater.js";
import { validateTyped } from "./validate.js";

/**
 * kube-apiserver's field manager for one kind (internal/fieldmanager.go and the managers it stacks):
 * every write keeps `metadata.managedFields`. Updates (create, PUT, JSON/merge/strategic patches) record
 * what the writer changed under an `Update` entry; applies merge a configuration and record it under an
 * `Apply` entry, with conflicts, forced takeovers and removal of fields no longer applied. Objects that
 * have never been tracked stay untracked by updates until their first apply, which first credits what
 * is there to "before-first-apply" (skipnonapplied.go).
 */

export interface FieldManagerOptions {
  readonly kind: string;
  /** The objects' apiVersion: `v1`, `storagemigration.k8s.io/v1alpha1`, … */
  readonly groupVersion: string;
  readonly type: TypeRef;
  /** Reset fields (owned by no one through this endpoint), e.g. a main resource's status. */
  readonly ignored?: FieldSet;
  /** The subresource this manager serves ("status"): entries say so, requests cannot set managedFields. */
  readonly subresource?: string;
  /** The time an entry records, RFC 3339 (metav1.Time). */
  readonly now: () => string;
}

/** kube keeps at most this many Update entries; older ones merge into "ancient-changes" (capmanagers.go). */
export const MAX_UPDATE_MANAGERS = 10;
const ANCIENT_CHANGES = "ancient-changes";
const BEFORE_FIRST_APPLY = "before-first-apply";
const CURRENT_OPERATION = "current-operation";

/** Fields no manager ever owns (stripmeta.go): type meta and server-set metadata. */
const STRIPPED = FieldSet.of(
  ...(
    [
      ["apiVersion"],
      ["kind"],
      ["metadata"],
      ["metadata", "name"],
      ["metadata", "namespace"],
      ["metadata", "creationTimestamp"],
      ["metadata", "selfLink"],
      ["metadata", "uid"],
      ["metadata", "clusterName"],
      ["metadata", "generation"],
      ["metadata", "managedFields"],
      ["metadata", "resourceVersion"],
    ] as const
  ).map((names): Path => names.map((field) => ({ field }))),
);

/** The object as the typed comparison sees it: without its managedFields. */
function typedView(obj: KubeObject): KubeObject {
  if (!isPlainObject(obj.metadata) || !("managedFields" in obj.metadata)) return obj;
  const { managedFields: _m, ...meta } = obj.metadata;
  return { ...obj, metadata: meta };
}

function withManagedFields(obj: KubeObject, managed: Managed): KubeObject {
  const meta: Record<string, unknown> = isPlainObject(obj.metadata) ? { ...obj.metadata } : {};
  const entries = encodeManagedFields(managed);
  if (entries === undefined) delete meta.managedFields;
  else meta.managedFields = entries;
  return { ...obj, metadata: meta };
}

function hasUid(obj: KubeObject): boolean {
  return isPlainObject(obj.metadata) && typeof obj.metadata.uid === "string" && obj.metadata.uid !== "";
}

function gvkText(apiVersion: unknown, kind: unknown): string {
  const av = typeof apiVersion === "string" ? apiVersion : "";
  const slash = av.indexOf("/");
  const group = slash < 0 ? "" : av.slice(0, slash);
  const version = slash < 0 ? av : av.slice(slash + 1);
  return `${group}/${version}, Kind=${typeof kind === "string" ? kind : ""}`;
}

export class FieldManager {
  private readonly updater: Updater;

  constructor(private readonly options: FieldManagerOptions) {
    this.updater = new Updater(
      options.type,
      options.ignored === undefined ? {} : { ignored: options.ignored },
    );
  }

  /**
   * A non-apply write (kube's UpdateNoErrors): `next` with its managedFields brought up to date. The
   * request's own managedFields, when it sets any that decode, replace the live ones (that is how
   * clients edit them); `[]` clears them. Never fails: on a problem the live entries are kept.
   */
  update(live: KubeObject, next: KubeObject, manager: string): KubeObject {
    // A subresource write cannot edit managedFields (kube takes the live ones).
    const requested =
      this.options.subresource === undefined && isPlainObject(next.metadata)
        ? next.metadata.managedFields
        : undefined;
    let managed: Managed;
    if (isResetManagedFields(requested)) managed = emptyManaged();
    else {
      managed = this.decodeOrEmpty(requested);
      if (managed.fields.size === 0)
        managed = this.decodeOrEmpty(isPlainObject(live.metadata) ? live.metadata.managedFields : undefined);
    }
    const bare = typedView(next);
    try {
      // Objects never tracked stay untracked by updates (a create is tracked from the start).
      if (managed.fields.size === 0 && hasUid(live)) return bare;
      const result = this.recordUpdate(typedView(live), bare, managed, manager);
      return withManagedFields(bare, result);
    } catch {
      const liveEntries = isPlainObject(live.metadata) ? live.metadata.managedFields : undefined;
      return liveEntries === undefined
        ? bare
        : { ...bare, metadata: { ...(bare.metadata as object), managedFields: liveEntries } };
    }
  }

  private decodeOrEmpty(entries: unknown): Managed {
    try {
      return decodeManagedFields(entries);
    } catch {
      return emptyManaged();
    }
  }

  /** capManagers ∘ buildManagerInfo ∘ managedFieldsUpdater ∘ stripMeta ∘ structured, for an update. */
  private recordUpdate(live: KubeObject, next: KubeObject, managed: Managed, manager: string): Managed {
    const id = managerIdentifier({
      manager: manager === "" ? "unknown" : manager,
      operation: "Update",
      apiVersion: this.options.groupVersion,
      ...(this.options.subresource === undefined ? {} : { subresource: this.options.subresource }),
    });
    let fields = this.updater.update(
      live,
      next,
      this.options.groupVersion,
      managed.fields,
      CURRENT_OPERATION,
    );
    fields = strip(fields, CURRENT_OPERATION);
    const times = new Map(managed.times);
    const current = fields.get(CURRENT_OPERATION);
    if (current !== undefined) {
      fields.delete(CURRENT_OPERATION);
      const previous = fields.get(id);
      fields.set(id, previous === undefined ? current : { ...current, set: current.set.union(previous.set) });
      times.set(id, this.options.now());
    }
    return capUpdateManagers({ fields, times }, this.options.groupVersion);
  }

  /**
   * A server-side apply of `config` by `manager` onto `live` (`{}` when the object does not exist):
   * the new object with its managedFields. Throws 409 on conflicts (unless `force`), 400 on a
   * configuration that is not of this kind and version or does not fit its schema.
   */
  apply(live: KubeObject, config: KubeObject, manager: string, force: boolean): KubeObject {
    const o = this.options;
    // versioncheck.go
    if (config.apiVersion !== o.groupVersion || config.kind !== o.kind)
      throw badRequest(`invalid object type: ${gvkText(config.apiVersion, config.kind)}`);
    const configMeta = isPlainObject(config.metadata) ? config.metadata : {};
    if (configMeta.managedFields !== undefined && configMeta.managedFields !== null)
      throw badRequest("metadata.managedFields must be nil");
    const problems = validateTyped(config, o.type);
    if (problems.length > 0) {
      const liveMeta = isPlainObject(live.metadata) ? live.metadata : {};
      const text = (a: unknown, b: unknown): string =>
        typeof a === "string" ? a : typeof b === "string" ? b : "";
      const ns = text(configMeta.namespace, liveMeta.namespace);
      const name = text(configMeta.name, liveMeta.name);
      // kube answers this with a 500 it means to turn into a 400 (kubernetes#139253); a 400 it is here.
      throw badRequest(
        `failed to create typed patch object (${ns}/${name}; ${gvkText(config.apiVersion, config.kind)}): ${
          problems.length === 1 ? problems[0] : ["errors:", ...problems.map((p) => `  ${p}`)].join("\n")
        }`,
      );
    }
    let managed: Managed;
    try {
      managed = decodeManagedFields(isPlainObject(live.metadata) ? live.metadata.managedFields : undefined);
    } catch (err) {
      throw badRequest(`failed to decode managed fields: ${(err as Error).message}`);
    }
    let liveView = typedView(live);
    // skipnonapplied.go: fields present before the first apply belong to "before-first-apply".
    if (managed.fields.size === 0 && hasUid(live))
      managed = this.recordUpdateAs(liveView, managed, BEFORE_FIRST_APPLY);
    let result: { object: KubeObject; managed: Managed };
    try {
      result = this.recordApply(liveView, config, managed, manager, force);
    } catch (err) {
      if (!(err instanceof ApplyConflicts)) throw err;
      // lastappliedmanager.go: kubectl upgrading from client-side apply may take over what it set.
      if (manager !== KUBECTL_MANAGER) throw applyConflictError(err.conflicts);
      const allowed = allowedConflictsFromLastApplied(liveView, o.type, o.groupVersion);
      if (allowed === undefined) throw applyConflictError(err.conflicts);
      const remaining = err.conflicts.filter((c) => !allowed.has(c.path));
      if (remaining.length > 0) throw applyConflictError(remaining);
      result = this.recordApply(liveView, config, managed, manager, true);
    }
    let object = result.object;
    // lastappliedupdater.go: keep an existing annotation in step with what kubectl applies.
    if (manager === KUBECTL_MANAGER && lastAppliedOf(object) !== undefined) {
      const meta = { ...(object.metadata as Record<string, unknown>) };
      meta.annotations = {
        ...(meta.annotations as Record<string, string>),
        [LAST_APPLIED_ANNOTATION]: buildLastApplied(config),
      };
      object = { ...object, metadata: meta };
    }
    liveView = object;
    return withManagedFields(liveView, result.managed);
  }

  /** The whole live object credited to `manager` by an Update (an empty object before it). */
  private recordUpdateAs(live: KubeObject, managed: Managed, manager: string): Managed {
    return this.recordUpdate({}, live, managed, manager);
  }

  /** buildManagerInfo ∘ managedFieldsUpdater ∘ stripMeta ∘ structured, for an apply. */
  private recordApply(
    live: KubeObject,
    config: KubeObject,
    managed: Managed,
    manager: string,
    force: boolean,
  ): { object: KubeObject; managed: Managed } {
    const id = managerIdentifier({
      manager,
      operation: "Apply",
      ...(this.options.subresource === undefined ? {} : { subresource: this.options.subresource }),
    });
    const applied = this.updater.apply(live, config, this.options.groupVersion, managed.fields, id, force);
    const fields = strip(applied.managers, id);
    const times = new Map(managed.times);
    if (applied.object !== undefined) times.set(id, this.options.now());
    const object = (applied.object as KubeObject | undefined) ?? live;
    return { object, managed: { fields, times } };
  }
}

function strip(fields: ManagedFieldSets, id: string): ManagedFieldSets {
  const vs = fields.get(id);
  if (vs === undefined) return fields;
  const out = new Map(fields);
  const set = vs.set.difference(STRIPPED);
  if (set.empty()) out.delete(id);
  else out.set(id, { ...vs, set });
  return out;
}

/** capmanagers.go: beyond MAX_UPDATE_MANAGERS updaters, the oldest merge into one bucket per version. */
function capUpdateManagers(managed: Managed, _groupVersion: string): Managed {
  const updaters = [...managed.fields].filter(([, vs]) => !vs.applied).map(([id]) => id);
  if (updaters.length <= MAX_UPDATE_MANAGERS) return managed;
  const secondsOf = (id: string): number => {
    const t = managed.times.get(id);
    const ms = t === undefined ? NaN : Date.parse(t);
    return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
  };
  updaters.sort((a, b) => secondsOf(a) - secondsOf(b) || (a < b ? -1 : a > b ? 1 : 0));
  const fields = new Map(managed.fields);
  const times = new Map(managed.times);
  const firstByVersion = new Map<string, string>();
  let length = updaters.length;
  for (let i = 0; i < updaters.length && length > MAX_UPDATE_MANAGERS; i++) {
    const id = updaters[i] as string;
    const vs = fields.get(id);
    if (vs === undefined) continue;
    const bucket = managerIdentifier({
      manager: ANCIENT_CHANGES,
      operation: "Update",
      apiVersion: vs.apiVersion,
    });
    const first = firstByVersion.get(vs.apiVersion);
    if (first === undefined) {
      firstByVersion.set(vs.apiVersion, id);
      continue;
    }
    if (!fields.has(bucket)) {
      const firstSet = fields.get(first);
      fields.delete(first);
      if (firstSet !== undefined) fields.set(bucket, firstSet);
    }
    const bucketSet = fields.get(bucket);
    fields.set(bucket, { ...vs, set: vs.set.union(bucketSet?.set ?? new FieldSet()) });
    fields.delete(id);
    length--;
    times.set(bucket, times.get(id));
  }
  return { fields, times };
}
