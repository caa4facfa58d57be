import { decodeJson } from "../common/json-decode.js";
import { getOwn, setOwn } from "../common/own-keys.js";
import { applyJsonPatch, decodeJsonPatch } from "./json-patch.js";
import { badRequest, unsupportedMediaType } from "./status.js";
import { isPlainObject, type KubeObject } from "../kube-object/types.js";

/**
 * The PATCH flavours kube serves for these types: JSON merge patch (RFC 7386), strategic merge patch
 * (merge patch plus list merging by key and `$patch`/`$retainKeys`/`$setElementOrder`/
 * `$deleteFromPrimitiveList` directives), JSON patch (RFC 6902) — applied here — and server-side apply
 * (apply/), in kube's order of the 415 message. Members are read and written as own properties
 * (getOwn/setOwn): a patch member `__proto__` is a key like any other, never the result's prototype.
 */

export const PATCH_TYPES = [
  "application/json-patch+json",
  "application/merge-patch+json",
  "application/strategic-merge-patch+json",
  "application/apply-patch+yaml",
] as const;
export type PatchType = (typeof PATCH_TYPES)[number];
export type MutatingPatchType = Exclude<PatchType, "application/apply-patch+yaml">;

/**
 * How deep a patch document may nest. kube's decoder allows 10,000 levels; the merges here recurse
 * with the patch (as JSON.stringify and structuredClone do), which the call stack bounds well below
 * that. No object served nests deeper than a few dozen levels in its schema, so only unknown fields
 * that would be dropped anyway are refused; the answer is the decoder's "exceeded max depth" (400).
 */
export const MAX_PATCH_DEPTH = 1000;

export function patchTypeOf(contentType: string): PatchType {
  const mt = contentType.split(";")[0]?.trim().toLowerCase() ?? "";
  if ((PATCH_TYPES as readonly string[]).includes(mt)) return mt as PatchType;
  throw unsupportedMediaType(
    `the body of the request was in an unknown format - accepted media types include: ${PATCH_TYPES.join(", ")}`,
  );
}

/** List fields that merge instead of being replaced, per kind: dotted path → merge key ("" = set of primitives). */
const LIST_MERGE_KEYS: Readonly<Record<string, Readonly<Record<string, string>>>> = {
  "*": { "metadata.ownerReferences": "uid", "metadata.finalizers": "" },
  ServiceAccount: { secrets: "name", imagePullSecrets: "name" },
  Namespace: { "status.conditions": "type" },
};

function mergeKeyFor(kind: string, path: string): string | undefined {
  return LIST_MERGE_KEYS[kind]?.[path] ?? LIST_MERGE_KEYS["*"]?.[path];
}

export function jsonMergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return patch;
  const out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else setOwn(out, k, jsonMergePatch(getOwn(out, k), v));
  }
  return out;
}

function smpMap(kind: string, path: string, target: unknown, patch: Record<string, unknown>): unknown {
  const directive = getOwn(patch, "$patch");
  if (directive === "delete") return undefined;
  if (directive === "replace") {
    const { $patch: _ignored, ...rest } = patch;
    return stripDirectives(rest);
  }
  let out: Record<string, unknown> = isPlainObject(target) ? { ...target } : {};
  const retain = getOwn(patch, "$retainKeys");
  if (Array.isArray(retain)) {
    const keep = new Set(retain.map(String));
    out = Object.fromEntries(Object.entries(out).filter(([k]) => keep.has(k)));
  }
  for (const [k, v] of Object.entries(patch)) {
    if (k === "$patch" || k === "$retainKeys" || k.startsWith("$setElementOrder/")) continue;
    if (k.startsWith("$deleteFromPrimitiveList/")) {
      const field = k.slice("$deleteFromPrimitiveList/".length);
      const current = getOwn(out, field);
      if (Array.isArray(current) && Array.isArray(v))
        setOwn(
          out,
          field,
          current.filter((x) => !v.includes(x)),
        );
      continue;
    }
    const childPath = path === "" ? k : `${path}.${k}`;
    if (v === null) {
      delete out[k];
      continue;
    }
    if (isPlainObject(v)) {
      const merged = smpMap(kind, childPath, getOwn(out, k), v);
      if (merged === undefined) delete out[k];
      else setOwn(out, k, merged);
    } else if (Array.isArray(v)) {
      setOwn(out, k, smpList(kind, childPath, getOwn(out, k), v));
    } else {
      setOwn(out, k, v);
    }
  }
  return out;
}

function smpList(kind: string, path: string, target: unknown, patch: unknown[]): unknown[] {
  const mergeKey = mergeKeyFor(kind, path);
  if (mergeKey === undefined || !Array.isArray(target))
    return patch.map((x) => (isPlainObject(x) ? stripDirectives(x) : x));
  if (patch.some((x) => isPlainObject(x) && getOwn(x, "$patch") === "replace")) {
    return patch
      .filter((x) => !(isPlainObject(x) && getOwn(x, "$patch") === "replace"))
      .map((x) => (isPlainObject(x) ? stripDirectives(x) : x));
  }
  if (mergeKey === "") {
    const out: unknown[] = [...(target as unknown[])];
    for (const x of patch) if (!out.includes(x)) out.push(x);
    return out;
  }
  const out: unknown[] = [...(target as unknown[])];
  for (const item of patch) {
    if (!isPlainObject(item)) {
      throw badRequest(
        `strategic merge patch: ${path} elements must be objects with the merge key "${mergeKey}"`,
      );
    }
    const keyValue = getOwn(item, mergeKey);
    const index = out.findIndex((x) => isPlainObject(x) && getOwn(x, mergeKey) === keyValue);
    if (getOwn(item, "$patch") === "delete") {
      if (index >= 0) out.splice(index, 1);
      continue;
    }
    if (index >= 0) out[index] = smpMap(kind, path, out[index], item);
    else out.push(stripDirectives(item));
  }
  return out;
}

function stripDirectives(obj: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) {
    if (k.startsWith("$")) continue;
    setOwn(out, k, isPlainObject(v) ? stripDirectives(v) : v);
  }
  return out;
}

export function strategicMergePatch(kind: string, target: KubeObject, patch: unknown): KubeObject {
  if (!isPlainObject(patch)) throw badRequest("strategic merge patch: the patch must be a JSON object");
  const merged = smpMap(kind, "", target, patch);
  return isPlainObject(merged) ? merged : {};
}

export function applyPatch(
  type: MutatingPatchType,
  kind: string,
  target: KubeObject,
  patchBody: Buffer,
): KubeObject {
  let patch: unknown;
  try {
    patch = decodeJson(patchBody, MAX_PATCH_DEPTH);
  } catch (err) {
    throw badRequest(`error decoding patch: ${(err as Error).message}`);
  }
  switch (type) {
    case "application/merge-patch+json": {
      if (!isPlainObject(patch)) throw badRequest("merge patch: the patch must be a JSON object");
      return jsonMergePatch(target, patch) as KubeObject;
    }
    case "application/strategic-merge-patch+json":
      return strategicMergePatch(kind, target, patch);
    case "application/json-patch+json": {
      const result = applyJsonPatch(target, decodeJsonPatch(patch));
      if (!isPlainObject(result)) throw badRequest("json patch: the patched document must be a JSON object");
      return result;
    }
  }
}
