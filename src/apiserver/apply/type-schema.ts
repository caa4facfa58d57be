import { isPlainObject } from "../../kube-object/types.js";
import { SCHEMAS, schemaNameForKind, type FieldSchema, type TypeSchema } from "../schemas.js";

/**
 * The served types as structured-merge-diff sees them, derived from the one copy of the schemas
 * (schemas.ts) the way kube-openapi's schemaconv derives them from OpenAPI: structs are maps with named
 * fields (atomic with `+structType=atomic`), `map[string]…` fields are granular maps (each key its own
 * field), lists are atomic unless `x-kubernetes-list-type` says `set` or `map` (or a merge patch key
 * makes them a keyed list). Kinds without a schema are "deduced": maps granular, lists atomic, as kube
 * treats objects it has no schema for.
 */

export type TypeRef = Atom | { readonly named: string };

export type Atom =
  | { readonly kind: "scalar"; readonly scalar: "string" | "numeric" | "boolean" | "untyped" }
  | {
      readonly kind: "list";
      readonly element: TypeRef;
      /** An atomic list is one field; an associative one has an item per key (or per value: a set). */
      readonly atomic: boolean;
      readonly keys: readonly string[];
    }
  | {
      readonly kind: "map";
      /** Struct fields by name (empty for a plain map). */
      readonly fields: ReadonlyMap<string, TypeRef>;
      /** The type of keys that are not named fields (a plain map's values); none for a struct. */
      readonly element: TypeRef | undefined;
      readonly atomic: boolean;
    }
  | { readonly kind: "deduced" };

const STRING: Atom = { kind: "scalar", scalar: "string" };
const UNTYPED: Atom = { kind: "scalar", scalar: "untyped" };
export const DEDUCED: Atom = { kind: "deduced" };
const DEDUCED_MAP: Atom = { kind: "map", fields: new Map(), element: DEDUCED, atomic: false };
const DEDUCED_LIST: Atom = { kind: "list", element: DEDUCED, atomic: true, keys: [] };

/** A value of any shape, owned whole (FieldsV1). */
const UNTYPED_ATOMIC: Atom = { kind: "map", fields: new Map(), element: DEDUCED, atomic: true };

const compiled = new Map<string, Atom>();

function fieldAtom(f: FieldSchema): TypeRef {
  if ("t" in f)
    return f.t === "integer"
      ? { kind: "scalar", scalar: "numeric" }
      : f.t === "boolean"
        ? { kind: "scalar", scalar: "boolean" }
        : STRING;
  if ("ref" in f) {
    if (f.ref.endsWith(".Time")) return STRING;
    if (f.ref.endsWith(".FieldsV1")) return UNTYPED_ATOMIC; // an opaque value, owned whole
    return { named: f.ref };
  }
  if ("map" in f) return { kind: "map", fields: new Map(), element: STRING, atomic: false };
  if ("list" in f) {
    const element = fieldAtom(f.list);
    if (f.listType === "set") return { kind: "list", element, atomic: false, keys: [] };
    if (f.listType === "map" || (f.listType === undefined && f.strategy === "merge"))
      // A merge strategy without a key falls back to atomic, as schemaconv does.
      return f.mergeKey === undefined
        ? { kind: "list", element, atomic: true, keys: [] }
        : { kind: "list", element, atomic: false, keys: [f.mergeKey] };
    return { kind: "list", element, atomic: true, keys: [] };
  }
  return DEDUCED;
}

function compile(schema: TypeSchema): Atom {
  const fields = new Map<string, TypeRef>();
  for (const [name, f] of Object.entries(schema.properties)) fields.set(name, fieldAtom(f));
  return { kind: "map", fields, element: undefined, atomic: schema.structType === "atomic" };
}

/** The atom a reference stands for; a deduced type is resolved from the value it describes. */
export function resolve(ref: TypeRef, value?: unknown): Atom {
  let atom: Atom;
  if ("named" in ref) {
    const hit = compiled.get(ref.named);
    if (hit !== undefined) atom = hit;
    else {
      const schema = SCHEMAS[ref.named];
      atom = schema === undefined ? DEDUCED : compile(schema);
      compiled.set(ref.named, atom);
    }
  } else atom = ref;
  if (atom.kind !== "deduced") return atom;
  if (isPlainObject(value)) return DEDUCED_MAP;
  if (Array.isArray(value)) return DEDUCED_LIST;
  return UNTYPED;
}

/** The type of objects of a named schema (deduced when there is no such schema). */
export function typeOfSchema(name: string): TypeRef {
  return SCHEMAS[name] === undefined ? DEDUCED : { named: name };
}

/** The schema of a kind's objects (deduced when the kind has none). */
export function typeOfKind(kind: string): TypeRef {
  return typeOfSchema(schemaNameForKind(kind));
}

/** The type of a map entry: its named field, else the map's element type (undefined: not declared). */
export function entryType(atom: Atom & { kind: "map" }, key: string): TypeRef | undefined {
  return atom.fields.get(key) ?? atom.element;
}
