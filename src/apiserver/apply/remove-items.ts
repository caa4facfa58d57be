import { setOwn } from "../../common/own-keys.js";
import { isPlainObject } from "../../kube-object/types.js";
import { FieldSet } from "./field-set.js";
import { listItemElement } from "./list-items.js";
import { entryType, resolve, type TypeRef } from "./type-schema.js";

/**
 * The value without the fields of `toRemove` (structured-merge-diff's RemoveItems): a member goes with
 * everything below it; the walk only descends where the set has paths below. A map or list left empty
 * by the removal disappears (`undefined`).
 */
export function removeItems(value: unknown, toRemove: FieldSet, type: TypeRef): unknown {
  const atom = resolve(type, value);
  if (atom.kind === "list") {
    if (!Array.isArray(value) || value.length === 0 || atom.atomic) return undefined;
    const out: unknown[] = [];
    for (const item of value as unknown[]) {
      const pe = listItemElement(atom, item);
      if (typeof pe === "string") {
        out.push(item);
        continue;
      }
      if (toRemove.hasMember(pe)) continue;
      const below = toRemove.withPrefix(pe);
      const kept = below.empty() ? item : removeItems(item, below, atom.element);
      if (kept !== undefined) out.push(kept);
    }
    return out.length > 0 ? out : undefined;
  }
  if (atom.kind === "map") {
    if (!isPlainObject(value) || Object.keys(value).length === 0 || atom.atomic) return undefined;
    const out: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(value)) {
      const pe = { field: key };
      if (toRemove.hasMember(pe)) continue;
      const below = toRemove.withPrefix(pe);
      if (below.empty()) {
        setOwn(out, key, v);
        continue;
      }
      const kept = removeItems(v, below, entryType(atom, key) ?? { kind: "deduced" });
      if (kept !== undefined) setOwn(out, key, kept);
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }
  return value;
}

/**
 * The set plus every struct field that has paths below it (EnsureNamedFieldsAreMembers): removing
 * "a.b.c" then also removes the struct field "a" when nothing else holds it, but not a map key.
 */
export function withNamedFieldsAsMembers(set: FieldSet, type: TypeRef): FieldSet {
  const atom = resolve(type);
  const out = new FieldSet();
  out.members.push(...set.members);
  for (const { pe, set: below } of set.children) {
    let childType: TypeRef = { kind: "deduced" };
    if ("field" in pe && atom.kind === "map") {
      if (atom.fields.has(pe.field) && !out.hasMember(pe)) out.insert([pe]);
      childType = entryType(atom, pe.field) ?? childType;
    } else if ("key" in pe && atom.kind === "list") childType = atom.element;
    out.children.push({ pe, set: withNamedFieldsAsMembers(below, childType) });
  }
  return out;
}
