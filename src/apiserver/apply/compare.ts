import { getOwn } from "../../common/own-keys.js";
import { isPlainObject } from "../../kube-object/types.js";
import { FieldSet } from "./field-set.js";
import { listItemElement } from "./list-items.js";
import { comparePathElements, valuesEqual, type PathElement } from "./path-element.js";
import { entryType, resolve, type Atom, type TypeRef } from "./type-schema.js";

/** What changed between two versions of an object, as field sets (structured-merge-diff's Comparison). */
export interface Comparison {
  readonly added: FieldSet;
  readonly modified: FieldSet;
  readonly removed: FieldSet;
}

/**
 * Compares `lhs` (before) with `rhs` (after). A map or list that appears or disappears is itself
 * added or removed, besides its contents; atomic values and scalars are compared whole.
 */
export function compare(lhs: unknown, rhs: unknown, type: TypeRef): Comparison {
  const c: Comparison = { added: new FieldSet(), modified: new FieldSet(), removed: new FieldSet() };
  if (lhs === undefined && rhs === undefined) return c;
  visit(lhs, rhs, type, [], c);
  return c;
}

function emptyValue(v: unknown): boolean {
  return (
    v === undefined ||
    v === null ||
    (Array.isArray(v) && v.length === 0) ||
    (isPlainObject(v) && Object.keys(v).length === 0)
  );
}

function visit(lhs: unknown, rhs: unknown, type: TypeRef, path: PathElement[], c: Comparison): void {
  const la = lhs === undefined ? undefined : resolve(type, lhs);
  const ra = rhs === undefined ? undefined : resolve(type, rhs);
  const atom = (ra ?? la) as Atom;
  let leaf = false;
  const doLeaf = (): void => {
    leaf = true;
    if (lhs === undefined) c.added.insert(path);
    else if (rhs === undefined) c.removed.insert(path);
    else if (!valuesEqual(lhs, rhs)) c.modified.insert(path);
  };
  if (la !== undefined && ra !== undefined && la.kind !== ra.kind) doLeaf();
  else if (atom.kind === "list") {
    const l = Array.isArray(lhs) ? lhs : undefined;
    const r = Array.isArray(rhs) ? rhs : undefined;
    if (atom.atomic || ((l === undefined || l.length === 0) && (r === undefined || r.length === 0))) doLeaf();
    else visitList(atom, l ?? [], r ?? [], path, c);
  } else if (atom.kind === "map") {
    if (atom.atomic || (emptyValue(lhs) && emptyValue(rhs))) doLeaf();
    else {
      const l = isPlainObject(lhs) ? lhs : {};
      const r = isPlainObject(rhs) ? rhs : {};
      const keys = new Set([...Object.keys(l), ...Object.keys(r)]);
      for (const key of keys) {
        const childType = entryType(atom, key);
        if (childType === undefined) continue;
        visit(getOwn(l, key), getOwn(r, key), childType, [...path, { field: key }], c);
      }
    }
  } else doLeaf();
  if (!leaf) {
    if (lhs === undefined) c.added.insert(path);
    else if (rhs === undefined) c.removed.insert(path);
  }
}

interface Grouped {
  readonly pe: PathElement;
  readonly items: unknown[];
}

function group(
  atom: Atom & { kind: "list" },
  items: unknown[],
  into: Grouped[],
  order: PathElement[],
): Grouped[] {
  const out: Grouped[] = [];
  for (const item of items) {
    const pe = listItemElement(atom, item);
    if (typeof pe === "string") continue;
    const g = out.find((x) => comparePathElements(x.pe, pe) === 0);
    if (g !== undefined) g.items.push(item);
    else {
      out.push({ pe, items: [item] });
      if (!into.some((x) => comparePathElements(x.pe, pe) === 0)) order.push(pe);
    }
  }
  return out;
}

function visitList(
  atom: Atom & { kind: "list" },
  l: unknown[],
  r: unknown[],
  path: PathElement[],
  c: Comparison,
): void {
  const order: PathElement[] = [];
  const lg = group(atom, l, [], order);
  const rg = group(atom, r, lg, order);
  for (const pe of order) {
    const lItems = lg.find((x) => comparePathElements(x.pe, pe) === 0)?.items ?? [];
    const rItems = rg.find((x) => comparePathElements(x.pe, pe) === 0)?.items ?? [];
    const itemPath = [...path, pe];
    if (lItems.length <= 1 && rItems.length <= 1) visit(lItems[0], rItems[0], atom.element, itemPath, c);
    else if (lItems.length >= 2 && rItems.length >= 2) {
      if (!valuesEqual(lItems, rItems)) c.modified.insert(itemPath);
    } else if (lItems.length >= 2) {
      if (rItems.length > 0) visit(undefined, rItems[0], atom.element, itemPath, c);
      c.removed.insert(itemPath);
    } else {
      if (lItems.length > 0) visit(lItems[0], undefined, atom.element, itemPath, c);
      c.added.insert(itemPath);
    }
  }
}
