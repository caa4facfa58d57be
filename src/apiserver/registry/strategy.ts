import type { Clock } from "../../common/clock.js";
import { setOwn } from "../../common/own-keys.js";
import type { Random } from "../../common/random.js";
import type { ResourceInfo } from "../resources.js";
import { badRequest, conflict, invalid, type FieldError } from "../status.js";
import { isPlainObject, metaOf, rfc3339, type KubeObject } from "../../kube-object/types.js";
import { validateObjectMeta } from "../validation.js";
import type { DeleteOptions } from "./types.js";

/**
 * The REST semantics of the served kinds, as kube's per-resource strategies: what an incoming object is
 * normalized to, what create and update set and keep, validation, and delete preconditions. Pure
 * functions of the objects; the registry runs them inside the store's read-modify-write.
 */

/** kube-apiserver labels every namespace with its own name (immutable, for selectors). */
const NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name";
const GENERATE_ALPHABET = "bcdfghjklmnpqrstvwxz2456789";

/** Kind/apiVersion checks, the URL namespace, Secret stringData folded into data, defaults. */
export function normalizeIncoming(
  info: ResourceInfo,
  body: KubeObject,
  namespace: string | undefined,
): KubeObject {
  const obj: KubeObject = { ...body };
  if (obj.apiVersion !== undefined && obj.apiVersion !== info.apiVersion) {
    throw badRequest(
      `the API version in the data (${JSON.stringify(obj.apiVersion)}) does not match the expected API version (${info.apiVersion})`,
    );
  }
  if (obj.kind !== undefined && obj.kind !== info.kind) {
    throw badRequest(
      `the kind in the data (${JSON.stringify(obj.kind)}) does not match the expected kind (${info.kind})`,
    );
  }
  obj.apiVersion = info.apiVersion;
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
        setOwn(data, k, Buffer.from(String(v), "utf8").toString("base64"));
      obj.data = data;
    }
    delete obj.stringData;
    if (obj.type === undefined || obj.type === null || obj.type === "") obj.type = "Opaque";
  }
  for (const k of ["data", "binaryData", "immutable"]) if (obj[k] === null) delete obj[k];
  // A default (kube's SetDefaults_Namespace runs at decode time), so the writer owns the label.
  if (info.kind === "Namespace" && typeof meta.name === "string" && meta.name !== "")
    meta.labels = { ...(isPlainObject(meta.labels) ? meta.labels : {}), [NAMESPACE_NAME_LABEL]: meta.name };
  info.defaults?.(obj);
  return obj;
}

/** A stored object as this version serves it: converted from the stored form, with its type meta. */
export function withTypeMeta(info: ResourceInfo, stored: KubeObject): KubeObject {
  const obj = info.conversion === undefined ? stored : info.conversion.fromStorage(stored);
  if (obj.apiVersion === info.apiVersion && obj.kind === info.kind) return obj;
  return { ...obj, apiVersion: info.apiVersion, kind: info.kind };
}

/** The new object of a create: a generated name, uid, creationTimestamp; a namespace's defaults. */
export function prepareForCreate(
  info: ResourceInfo,
  body: KubeObject,
  namespace: string | undefined,
  clock: Clock,
  random: Random,
): KubeObject {
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
    for (const b of random.bytes(5)) suffix += GENERATE_ALPHABET[b % GENERATE_ALPHABET.length];
    meta.name = meta.generateName + suffix;
  }
  meta.uid = random.uuid();
  meta.creationTimestamp = rfc3339(clock.now());
  delete meta.deletionTimestamp;
  delete meta.deletionGracePeriodSeconds;
  delete meta.generation;
  delete meta.selfLink;
  if (info.statusSubresource === true) delete obj.status;
  if (info.kind === "Namespace") {
    obj.spec = { finalizers: ["kubernetes"], ...(isPlainObject(obj.spec) ? obj.spec : {}) };
    obj.status = { phase: "Active" };
    if (typeof meta.name === "string")
      meta.labels = {
        ...(isPlainObject(meta.labels) ? meta.labels : {}),
        [NAMESPACE_NAME_LABEL]: meta.name,
      };
  }
  validateObject(info, obj);
  return obj;
}

/**
 * The new object of an update, from what the caller made of the current one: the name must stay, a
 * resourceVersion the caller set is a precondition, uid and creationTimestamp are kept, a namespace
 * keeps its status (only its finalizers and labels change here). Validated against the current object.
 */
export function prepareForUpdate(
  info: ResourceInfo,
  proposed: KubeObject,
  current: KubeObject,
  currentRevision: number,
  namespace: string | undefined,
  name: string,
  pinnedRv: string | undefined,
  /** A status write: only the status changes (kube's status strategy); else the status is kept. */
  statusWrite = false,
): KubeObject {
  const next = normalizeIncoming(info, proposed, namespace);
  if (info.statusSubresource === true) {
    if (statusWrite) {
      // Everything but the status stays (kube's ResetObjectMetaForStatus keeps all but managedFields).
      for (const k of Object.keys(next)) if (k !== "status" && k !== "metadata") delete next[k];
      for (const [k, v] of Object.entries(current)) if (k !== "status" && k !== "metadata") next[k] = v;
      const { managedFields, resourceVersion } = metaOf(next);
      const kept: Record<string, unknown> = { ...metaOf(current) };
      delete kept.managedFields;
      if (managedFields !== undefined) kept.managedFields = managedFields;
      if (resourceVersion !== undefined) kept.resourceVersion = resourceVersion;
      next.metadata = kept;
    } else if (current.status === undefined) delete next.status;
    else next.status = current.status;
  }
  const meta = metaOf(next);
  const oldMeta = metaOf(current);
  if (meta.name !== name)
    throw badRequest(
      `the name of the object (${meta.name ?? ""}) does not match the name on the URL (${name})`,
    );
  const rvAfter = meta.resourceVersion;
  if (
    rvAfter !== undefined &&
    rvAfter !== "" &&
    rvAfter !== String(currentRevision) &&
    pinnedRv === undefined
  ) {
    // A patch that sets metadata.resourceVersion makes it a precondition.
    throw conflict(info, name);
  }
  if (oldMeta.uid !== undefined) meta.uid = oldMeta.uid;
  else delete meta.uid;
  if (oldMeta.creationTimestamp !== undefined) meta.creationTimestamp = oldMeta.creationTimestamp;
  else delete meta.creationTimestamp;
  delete meta.generation;
  delete meta.selfLink;
  meta.resourceVersion = String(currentRevision);
  if (info.kind === "Namespace") {
    next.status = isPlainObject(current.status) ? current.status : { phase: "Active" };
    meta.labels = { ...(isPlainObject(meta.labels) ? meta.labels : {}), [NAMESPACE_NAME_LABEL]: name };
  }
  validateObject(info, next, current);
  return next;
}

/** A pinned resourceVersion (PUT with one) must be the current one: 409 otherwise. */
export function checkPinnedRevision(
  info: ResourceInfo,
  name: string,
  pinnedRv: string | undefined,
  currentRevision: number,
): void {
  if (pinnedRv === undefined || pinnedRv === String(currentRevision)) return;
  if (!/^\d+$/.test(pinnedRv)) throw badRequest(`invalid resourceVersion "${pinnedRv}"`);
  throw conflict(info, name);
}

/** DeleteOptions.preconditions, with kube's messages. */
export function checkDeletePreconditions(
  info: ResourceInfo,
  name: string,
  obj: KubeObject,
  pre: DeleteOptions["preconditions"],
): void {
  const meta = metaOf(obj);
  if (pre?.uid !== undefined && pre.uid !== "" && pre.uid !== meta.uid) {
    throw conflict(
      info,
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
      info,
      name,
      `Precondition failed: ResourceVersion in precondition: ${pre.resourceVersion}, ResourceVersion in object meta: ${meta.resourceVersion ?? ""}`,
    );
  }
}

function validateObject(info: ResourceInfo, obj: KubeObject, old?: KubeObject): void {
  const meta = metaOf(obj);
  const errs: FieldError[] = validateObjectMeta(meta, {
    nameRule: info.nameRule,
    namespaced: info.namespaced,
  });
  if (info.validate !== undefined) errs.push(...info.validate(obj, old));
  if (errs.length > 0) throw invalid(info.kind, meta.name ?? meta.generateName ?? "", errs, info.group);
}

/** "Did anything change", whatever the key order (a stable serialization). */
export function sameObject(a: KubeObject, b: KubeObject): boolean {
  return canonical(a) === canonical(b);
}

function canonical(v: unknown): string {
  return JSON.stringify(v, (_k, val: unknown) =>
    isPlainObject(val)
      ? Object.fromEntries(Object.entries(val).sort(([x], [y]) => (x < y ? -1 : x > y ? 1 : 0)))
      : val,
  );
}
