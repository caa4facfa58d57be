import { isPlainObject } from "../../kube-object/types.js";
import { FieldSet } from "./field-set.js";
import { listItemElement } from "./list-items.js";
import { comparePathElements, type PathElement } from "./path-element.js";
import { entryType, resolve, type TypeRef } from "./type-schema.js";

/**
 * The fields a value sets (structured-merge-diff's ToFieldSet): every scalar, every list item, every
 * plain-map key; a struct field only when it holds null, an empty map, or a whole atomic value. This is
 * what an applier owns of its configuration.
 */
export function toFieldSet(value: unknown, type: TypeRef): FieldSet {
  const set = new FieldSet();
  walk(value, type, [], set);
  return set;
}

function walk(value: unknown, type: TypeRef, path: PathElement[], set: FieldSet): void {
  const atom = resolve(type, value);
  switch (atom.kind) {
    case "scalar":
    case "deduced":
      set.insert(path);
      return;
    case "list": {
      if (atom.atomic) {
        set.insert(path);
        return;
      }
      if (!Array.isArray(value)) return;
      const elements = value.map((item) => listItemElement(atom, item));
      const seen: PathElement[] = [];
      const duplicates: PathElement[] = [];
      for (const pe of elements) {
        if (typeof pe === "string") continue;
        if (seen.some((s) => comparePathElements(s, pe) === 0)) {
          if (!duplicates.some((d) => comparePathElements(d, pe) === 0)) {
            // A duplicated item is owned whole, as one field.
            set.insert([...path, pe]);
            duplicates.push(pe);
          }
        } else seen.push(pe);
      }
      value.forEach((item, i) => {
        const pe = elements[i];
        if (pe === undefined || typeof pe === "string") return;
        if (duplicates.some((d) => comparePathElements(d, pe) === 0)) return;
        const childPath = [...path, pe];
        walk(item, atom.element, childPath, set);
        set.insert(childPath);
      });
      return;
    }
    case "map": {
      if (atom.atomic) {
        set.insert(path);
        return;
      }
      if (!isPlainObject(value)) return;
      for (const [key, v] of Object.entries(value)) {
        if (v === undefined) continue;
        const childType = entryType(atom, key);
        if (childType === undefined) continue; // not in the schema: validation reports it
        const childPath: PathElement[] = [...path, { field: key }];
        walk(v, childType, childPath, set);
        if (v === null || (isPlainObject(v) && Object.keys(v).length === 0) || !atom.fields.has(key))
          set.insert(childPath);
      }
      return;
    }
  }
}
