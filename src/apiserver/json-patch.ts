import { AtrestError } from "../common/errors.js";
import { getOwn, setOwn } from "../common/own-keys.js";
import { isPlainObject } from "../kube-object/types.js";
import { badRequest } from "./status.js";

/**
 * JSON patch (RFC 6902) as kube applies it (evanphx/json-patch): the operations in order on a copy,
 * all or nothing. Hand-written because no JS library treats `__proto__` as an ordinary member name
 * (fast-json-patch either refuses it or replaces the prototype, losing the key); here every member is an
 * own property, so a Secret data key `__proto__` is patched like any other and nothing is inherited.
 */

/** kube's maxJSONPatchOperations. */
export const MAX_JSON_PATCH_OPERATIONS = 10_000;

/** An operation that does not apply to the document: kube answers 422 with this message. */
function doesNotApply(detail: string): AtrestError {
  return new AtrestError(
    "invalid-argument",
    `the server rejected our request due to an error in our request: ${detail}`,
    { details: { reason: "Invalid" } },
  );
}

interface Operation {
  readonly op: string;
  readonly path: string;
  readonly from?: string;
  readonly value?: unknown;
  readonly hasValue: boolean;
}

/** Decodes the operations (kube's DecodePatch: an array of objects); 400 when the document is not one. */
export function decodeJsonPatch(patch: unknown): Operation[] {
  if (!Array.isArray(patch))
    throw badRequest("json: cannot unmarshal object into Go value of type jsonpatch.Patch");
  if (patch.length > MAX_JSON_PATCH_OPERATIONS)
    throw new AtrestError(
      "resource-exhausted",
      `The allowed maximum operations in a JSON patch is ${MAX_JSON_PATCH_OPERATIONS}, got ${patch.length}`,
      { details: { reason: "RequestEntityTooLarge" } },
    );
  return patch.map((raw) => {
    if (!isPlainObject(raw))
      throw badRequest(
        `json: cannot unmarshal ${Array.isArray(raw) ? "array" : typeof raw} into Go value of type jsonpatch.Operation`,
      );
    const op = getOwn(raw, "op");
    const path = getOwn(raw, "path");
    const from = getOwn(raw, "from");
    return {
      op: typeof op === "string" ? op : "",
      path: typeof path === "string" ? path : "",
      ...(typeof from === "string" ? { from } : {}),
      value: getOwn(raw, "value"),
      hasValue: Object.hasOwn(raw, "value"),
    };
  });
}

/** RFC 6901 pointer → reference tokens; undefined when malformed. */
function tokens(pointer: string): string[] | undefined {
  if (pointer === "") return [];
  if (!pointer.startsWith("/")) return undefined;
  return pointer
    .slice(1)
    .split("/")
    .map((t) => t.replace(/~1/g, "/").replace(/~0/g, "~"));
}

/** A deep copy keeping own keys only (JSON values), without recursion limits of the call stack. */
function copy(value: unknown): unknown {
  return structuredClone(value);
}

type Container = Record<string, unknown> | unknown[];

/** The container holding the last token of `path`, and that token; undefined when a parent is missing. */
function parentOf(
  doc: { root: unknown },
  path: string,
): { con: Container | { root: unknown }; key: string } | undefined {
  const t = tokens(path);
  if (t === undefined) return undefined;
  if (t.length === 0) return { con: doc, key: "root" };
  let cur: unknown = doc.root;
  for (let i = 0; i < t.length - 1; i++) {
    const k = t[i] as string;
    if (Array.isArray(cur)) {
      const idx = arrayIndex(k, cur.length - 1);
      if (idx === undefined) return undefined;
      cur = cur[idx];
    } else if (isPlainObject(cur)) cur = getOwn(cur, k);
    else return undefined;
  }
  if (!Array.isArray(cur) && !isPlainObject(cur)) return undefined;
  return { con: cur, key: t[t.length - 1] as string };
}

function arrayIndex(token: string, max: number): number | undefined {
  if (!/^(0|[1-9][0-9]*)$/.test(token)) return undefined;
  const n = Number(token);
  return n <= max ? n : undefined;
}

function get(con: Container | { root: unknown }, key: string): { found: boolean; value?: unknown } {
  if (Array.isArray(con)) {
    const i = arrayIndex(key, con.length - 1);
    return i === undefined ? { found: false } : { found: true, value: con[i] };
  }
  return Object.hasOwn(con, key)
    ? { found: true, value: (con as Record<string, unknown>)[key] }
    : { found: false };
}

function add(con: Container | { root: unknown }, key: string, value: unknown, path: string): void {
  if (Array.isArray(con)) {
    const i = key === "-" ? con.length : arrayIndex(key, con.length);
    if (i === undefined)
      throw doesNotApply(
        `error in add for path: '${path}': Unable to access invalid index: ${key}: invalid index referenced`,
      );
    con.splice(i, 0, value);
  } else setOwn(con, key, value);
}

function remove(con: Container | { root: unknown }, key: string, path: string, op: string): unknown {
  const { found, value } = get(con, key);
  if (!found)
    throw doesNotApply(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  if (Array.isArray(con)) con.splice(Number(key), 1);
  else delete (con as Record<string, unknown>)[key];
  return value;
}

function deepEqual(a: unknown, b: unknown): boolean {
  return JSON.stringify(sortKeys(a)) === JSON.stringify(sortKeys(b));
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (!isPlainObject(v)) return v;
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(v).sort()) setOwn(out, k, sortKeys(v[k]));
  return out;
}

/** Applies the operations to a copy of `target`; the result, or an error naming the failed operation. */
export function applyJsonPatch(target: unknown, ops: readonly Operation[]): unknown {
  const doc = { root: copy(target) };
  for (const o of ops) {
    const at = (path: string, what = "path"): { con: Container | { root: unknown }; key: string } => {
      const p = parentOf(doc, path);
      if (p === undefined)
        throw doesNotApply(
          `${o.op} operation does not apply: doc is missing ${what}: "${path}": missing value`,
        );
      return p;
    };
    switch (o.op) {
      case "add": {
        const { con, key } = at(o.path);
        add(con, key, copy(o.value), o.path);
        break;
      }
      case "remove": {
        const { con, key } = at(o.path);
        remove(con, key, o.path, "remove");
        break;
      }
      case "replace": {
        const { con, key } = at(o.path);
        remove(con, key, o.path, "replace");
        add(con, key, copy(o.value), o.path);
        break;
      }
      case "move":
      case "copy": {
        if (o.from === undefined)
          throw doesNotApply(`${o.op} operation does not apply: doc is missing from path: "": missing value`);
        if (o.op === "move" && (o.path === o.from || o.path.startsWith(`${o.from}/`)))
          throw doesNotApply(
            `move operation does not apply: cannot move "${o.from}" into its own child "${o.path}"`,
          );
        const src = at(o.from, "from path");
        const value =
          o.op === "move"
            ? remove(src.con, src.key, o.from, "move")
            : copy(needFound(get(src.con, src.key), o));
        const dst = at(o.path);
        add(dst.con, dst.key, value, o.path);
        break;
      }
      case "test": {
        const { con, key } = at(o.path);
        const got = get(con, key);
        if (!got.found ? o.value !== null && o.hasValue : !deepEqual(got.value, o.value))
          throw doesNotApply(`testing value ${o.path} failed: test failed`);
        break;
      }
      default:
        throw doesNotApply(`Unexpected kind: ${o.op}`);
    }
  }
  return doc.root;
}

function needFound(r: { found: boolean; value?: unknown }, o: Operation): unknown {
  if (!r.found)
    throw doesNotApply(
      `copy operation does not apply: doc is missing from path: "${o.from ?? ""}": missing value`,
    );
  return r.value;
}
