import { decodeJson } from "../../common/json-decode.js";
import { isPlainObject, type KubeObject } from "../../kube-object/types.js";
import { compare } from "./compare.js";
import type { FieldSet } from "./field-set.js";
import { compareStrings } from "./path-element.js";
import { toFieldSet } from "./to-field-set.js";
import type { TypeRef } from "./type-schema.js";
import { validateTyped } from "./validate.js";

/**
 * Client-side apply's `kubectl.kubernetes.io/last-applied-configuration` annotation, as kube's field
 * manager keeps it when kubectl moves to server-side apply (lastappliedmanager.go and
 * lastappliedupdater.go): an apply by the manager "kubectl" may take over the fields the annotation
 * says client-side apply set (they match the live object), and keeps the annotation up to date.
 */

export const LAST_APPLIED_ANNOTATION = "kubectl.kubernetes.io/last-applied-configuration";

/** The manager whose applies upgrade and maintain the annotation (kubectl's default for --server-side). */
export const KUBECTL_MANAGER = "kubectl";

/**
 * Go's encoding/json as the annotation is written (json.Encoder of an unstructured object): object keys
 * sorted, `<`, `>` and `&` escaped, a trailing newline. Hand-written because the bytes must match.
 */
export function goJson(value: unknown): string {
  return `${encode(value)}\n`;
}

function encode(v: unknown): string {
  if (v === null || v === undefined) return "null";
  if (typeof v === "string")
    return JSON.stringify(v)
      .replace(/</g, "\\u003c")
      .replace(/>/g, "\\u003e")
      .replace(/&/g, "\\u0026")
      .replace(/\u2028/g, "\\u2028")
      .replace(/\u2029/g, "\\u2029");
  if (typeof v === "number" || typeof v === "boolean") return JSON.stringify(v);
  if (Array.isArray(v)) return `[${v.map(encode).join(",")}]`;
  if (isPlainObject(v))
    return `{${Object.keys(v)
      .filter((k) => v[k] !== undefined)
      .sort(compareStrings)
      .map((k) => `${encode(k)}:${encode(v[k])}`)
      .join(",")}}`;
  return "null";
}

export function lastAppliedOf(obj: KubeObject): string | undefined {
  const meta = obj.metadata;
  if (!isPlainObject(meta) || !isPlainObject(meta.annotations)) return undefined;
  const v = meta.annotations[LAST_APPLIED_ANNOTATION];
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** The annotation's value for an applied configuration: the configuration without the annotation. */
export function buildLastApplied(config: KubeObject): string {
  const copy = structuredClone(config);
  const meta = copy.metadata;
  if (isPlainObject(meta) && isPlainObject(meta.annotations)) {
    const annotations = { ...meta.annotations };
    delete annotations[LAST_APPLIED_ANNOTATION];
    meta.annotations = annotations;
  }
  return goJson(copy);
}

/**
 * The fields client-side apply set and that still hold the values it set: conflicts on these do not
 * stop an upgrade to server-side apply. Undefined when the annotation is missing or unusable.
 */
export function allowedConflictsFromLastApplied(
  live: KubeObject,
  type: TypeRef,
  groupVersion: string,
): FieldSet | undefined {
  const text = lastAppliedOf(live);
  if (text === undefined) return undefined;
  let last: unknown;
  try {
    last = decodeJson(text);
  } catch {
    return undefined;
  }
  if (!isPlainObject(last) || last.apiVersion !== groupVersion) return undefined;
  if (validateTyped(last, type).length > 0) return undefined;
  const c = compare(last, live, type);
  return toFieldSet(last, type).difference(c.modified).difference(c.added).difference(c.removed);
}
