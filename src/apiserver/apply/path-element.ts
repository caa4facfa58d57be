import { decodeJson } from "../../common/json-decode.js";
import { isPlainObject } from "../../kube-object/types.js";

/**
 * One step of a field path, as sigs.k8s.io/structured-merge-diff names them: a struct field or map key
 * (`f:`), an associative-list item by its key fields (`k:`), a set item by its value (`v:`) or a list
 * index (`i:`, never produced here: atomic lists are owned whole). The FieldsV1 spelling and the
 * `.a[k="v"]` text of conflict messages are wire facts (managedFields, kube's 409 message); they are
 * hand-written because no library speaks them.
 */
export type PathElement =
  | { readonly field: string }
  | { readonly key: readonly (readonly [string, unknown])[] }
  | { readonly value: unknown }
  | { readonly index: number };

export type Path = readonly PathElement[];

/** Go's strings.Compare is bytewise; JavaScript's `<` compares UTF-16 units (the same for ASCII). */
export function compareStrings(a: string, b: string): number {
  if (a === b) return 0;
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\x7f]*$/.test(a) && /^[\x00-\x7f]*$/.test(b)) return a < b ? -1 : 1;
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function typeRank(v: unknown): number {
  if (typeof v === "number") return 0; // floats and ints compare numerically
  if (typeof v === "string") return 1;
  if (typeof v === "boolean") return 2;
  if (Array.isArray(v)) return 3;
  if (isPlainObject(v)) return 4;
  return 5; // null last
}

/** structured-merge-diff's total order on values (value.Compare). */
export function compareValues(a: unknown, b: unknown): number {
  const ra = typeRank(a);
  const rb = typeRank(b);
  if (ra !== rb) return ra < rb ? -1 : 1;
  if (typeof a === "number" && typeof b === "number") return a === b ? 0 : a < b ? -1 : 1;
  if (typeof a === "string" && typeof b === "string") return compareStrings(a, b);
  if (typeof a === "boolean" && typeof b === "boolean") return a === b ? 0 : a ? 1 : -1;
  if (Array.isArray(a) && Array.isArray(b)) {
    for (let i = 0; i < Math.min(a.length, b.length); i++) {
      const c = compareValues(a[i], b[i]);
      if (c !== 0) return c;
    }
    return a.length === b.length ? 0 : a.length < b.length ? -1 : 1;
  }
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a).sort(compareStrings);
    const kb = Object.keys(b).sort(compareStrings);
    for (let i = 0; i < Math.min(ka.length, kb.length); i++) {
      const c = compareStrings(ka[i] ?? "", kb[i] ?? "") || compareValues(a[ka[i] ?? ""], b[kb[i] ?? ""]);
      if (c !== 0) return c;
    }
    return ka.length === kb.length ? 0 : ka.length < kb.length ? -1 : 1;
  }
  return 0;
}

export function valuesEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b))
    return a.length === b.length && a.every((x, i) => valuesEqual(x, b[i]));
  if (isPlainObject(a) && isPlainObject(b)) {
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && valuesEqual(a[k], b[k]));
  }
  return false;
}

function kind(pe: PathElement): number {
  return "field" in pe ? 0 : "key" in pe ? 1 : "value" in pe ? 2 : 3;
}

/** Fields first (by name), then keys, then values, then indices: the order of FieldsV1 and of sets. */
export function comparePathElements(a: PathElement, b: PathElement): number {
  const ka = kind(a);
  const kb = kind(b);
  if (ka !== kb) return ka < kb ? -1 : 1;
  if ("field" in a && "field" in b) return compareStrings(a.field, b.field);
  if ("key" in a && "key" in b) {
    for (let i = 0; ; i++) {
      const x = a.key[i];
      const y = b.key[i];
      if (x === undefined && y === undefined) return 0;
      if (x === undefined) return -1;
      if (y === undefined) return 1;
      const c = compareStrings(x[0], y[0]) || compareValues(x[1], y[1]);
      if (c !== 0) return c;
    }
  }
  if ("value" in a && "value" in b) return compareValues(a.value, b.value);
  if ("index" in a && "index" in b) return a.index === b.index ? 0 : a.index < b.index ? -1 : 1;
  return 0;
}

/** Go's %q of a string (strconv.Quote): JSON's escaping is the same for what field values hold. */
function goValueString(v: unknown): string {
  if (v === null) return "null";
  if (typeof v === "string") return JSON.stringify(v);
  if (typeof v === "number" || typeof v === "boolean") return String(v);
  if (Array.isArray(v)) return `[${v.map(goValueString).join(",")}]`;
  if (isPlainObject(v))
    return `{${Object.keys(v)
      .sort(compareStrings)
      .map((k) => `${k}=${goValueString(v[k])}`)
      .join(",")}}`;
  return JSON.stringify(v) ?? "";
}

/** The text kube's conflict messages use: `.data.key`, `[name="s"]`, `[="v"]`, `[0]`. */
export function pathElementText(pe: PathElement): string {
  if ("field" in pe) return `.${pe.field}`;
  if ("key" in pe) return `[${pe.key.map(([k, v]) => `${k}=${goValueString(v)}`).join(",")}]`;
  if ("value" in pe) return `[=${goValueString(pe.value)}]`;
  return `[${pe.index}]`;
}

export function pathText(path: Path): string {
  return path.map(pathElementText).join("");
}

/** Go's encoding/json of a scalar or object, keys in the order given (the fields are sorted already). */
function encodeJson(v: unknown): string {
  return JSON.stringify(v);
}

/** The FieldsV1 key of a path element: `f:name`, `k:{"name":"x"}`, `v:"x"`, `i:0`. */
export function serializePathElement(pe: PathElement): string {
  if ("field" in pe) return `f:${pe.field}`;
  if ("key" in pe) return `k:{${pe.key.map(([k, v]) => `${JSON.stringify(k)}:${encodeJson(v)}`).join(",")}}`;
  if ("value" in pe) return `v:${encodeJson(pe.value)}`;
  return `i:${pe.index}`;
}

export class PathElementSyntaxError extends Error {}

/**
 * Parses a FieldsV1 key. Unknown prefixes give `undefined` (structured-merge-diff skips them, so that
 * newer element kinds do not break older readers); malformed ones throw.
 */
export function deserializePathElement(s: string): PathElement | undefined {
  if (s.length < 2) throw new PathElementSyntaxError(`key must be 2 characters long: ${s}`);
  if (s[1] !== ":") throw new PathElementSyntaxError(`missing colon: ${s}`);
  const rest = s.slice(2);
  switch (s[0]) {
    case "f":
      return { field: rest };
    case "v":
      return { value: parseJson(rest, s) };
    case "k": {
      const obj = parseJson(rest, s);
      if (!isPlainObject(obj)) throw new PathElementSyntaxError(`key is not a JSON object: ${s}`);
      return { key: sortedKey(Object.entries(obj)) };
    }
    case "i": {
      if (!/^-?\d+$/.test(rest)) throw new PathElementSyntaxError(`invalid index: ${s}`);
      return { index: Number(rest) };
    }
    default:
      return undefined;
  }
}

function parseJson(text: string, whole: string): unknown {
  try {
    return decodeJson(text);
  } catch {
    throw new PathElementSyntaxError(`invalid JSON in ${whole}`);
  }
}

export function sortedKey(
  entries: readonly (readonly [string, unknown])[],
): readonly (readonly [string, unknown])[] {
  return [...entries].sort((a, b) => compareStrings(a[0], b[0]));
}
