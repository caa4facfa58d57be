import { getOwn, setOwn } from "../../common/own-keys.js";
import { isPlainObject } from "../../kube-object/types.js";
import { listItemElement } from "./list-items.js";
import { comparePathElements, type PathElement } from "./path-element.js";
import { entryType, resolve, type Atom, type TypeRef } from "./type-schema.js";

/**
 * Merges an applied configuration (`rhs`) into the live object (`lhs`), structured-merge-diff's
 * `Merge` with "keep the right-hand side": scalars and atomic values are replaced, structs and
 * granular maps merge key by key, associative lists merge item by item (the applier's order wins for
 * the items it names; the others keep their place). `undefined` means nothing is left.
 */
export function merge(lhs: unknown, rhs: unknown, type: TypeRef): unknown {
  if (lhs === undefined) return rhs;
  if (rhs === undefined) return lhs;
  const la = resolve(type, lhs);
  const ra = resolve(type, rhs);
  if (la.kind !== ra.kind) return rhs;
  if (ra.kind === "list") {
    const l = Array.isArray(lhs) ? lhs : [];
    const r = Array.isArray(rhs) ? rhs : [];
    if (ra.atomic || (l.length === 0 && r.length === 0)) return rhs;
    const out = mergeList(ra, l, r);
    return out.length > 0 ? out : undefined;
  }
  if (ra.kind === "map") {
    const l = isPlainObject(lhs) ? lhs : {};
    const r = isPlainObject(rhs) ? rhs : {};
    if (ra.atomic || (Object.keys(l).length === 0 && Object.keys(r).length === 0)) return rhs;
    const out: Record<string, unknown> = {};
    for (const key of new Set([...Object.keys(l), ...Object.keys(r)])) {
      const childType = entryType(ra, key) ?? { kind: "deduced" as const };
      const merged = merge(getOwn(l, key), getOwn(r, key), childType);
      if (merged !== undefined) setOwn(out, key, merged);
    }
    return Object.keys(out).length > 0 ? out : undefined;
  }
  return rhs;
}

interface Indexed {
  readonly pes: PathElement[];
  /** The item at each position of `pes`. */
  readonly at: unknown[];
  /** Item by path element; `null` marks a duplicated element (no single item to merge). */
  readonly items: { pe: PathElement; item: unknown }[];
}

function index(atom: Atom & { kind: "list" }, list: unknown[], allowDuplicates: boolean): Indexed {
  const pes: PathElement[] = [];
  const at: unknown[] = [];
  const items: { pe: PathElement; item: unknown }[] = [];
  for (const item of list) {
    const pe = listItemElement(atom, item);
    if (typeof pe === "string") continue; // validation rejected such configurations already
    const found = items.find((x) => comparePathElements(x.pe, pe) === 0);
    if (found !== undefined) {
      if (!allowDuplicates) continue;
      found.item = null;
    } else items.push({ pe, item });
    pes.push(pe);
    at.push(item);
  }
  return { pes, at, items };
}

function lookup(ix: Indexed, pe: PathElement): { item: unknown } | undefined {
  return ix.items.find((x) => comparePathElements(x.pe, pe) === 0);
}

function mergeList(atom: Atom & { kind: "list" }, lhs: unknown[], rhs: unknown[]): unknown[] {
  const out: unknown[] = [];
  const r = index(atom, rhs, false);
  const l = index(atom, lhs, true);
  const same = (a: PathElement, b: PathElement): boolean => comparePathElements(a, b) === 0;
  // The order of the items both sides have, as the applier gives it.
  const sharedOrder = r.pes.filter((pe) => lookup(l, pe) !== undefined);
  let nextShared = sharedOrder.shift();
  const mergedRhs: PathElement[] = [];
  const push = (pe: PathElement): void => {
    const lItem = lookup(l, pe)?.item;
    const rItem = lookup(r, pe)?.item;
    const merged = merge(lItem === null ? undefined : lItem, rItem, atom.element);
    if (merged !== undefined) out.push(merged);
  };
  let li = 0;
  let ri = 0;
  while (li < l.pes.length || ri < r.pes.length) {
    if (li < l.pes.length && ri < r.pes.length) {
      const pe = l.pes[li] as PathElement;
      if (same(pe, r.pes[ri] as PathElement)) {
        mergedRhs.push(pe);
        push(pe);
        li++;
        ri++;
        nextShared = sharedOrder.shift();
        continue;
      }
      if (lookup(r, pe) !== undefined && nextShared !== undefined && !same(nextShared, pe)) {
        li++;
        continue;
      }
    }
    if (li < l.pes.length) {
      const pe = l.pes[li] as PathElement;
      if (lookup(r, pe) === undefined) {
        const merged = merge(l.at[li], undefined, atom.element);
        if (merged !== undefined) out.push(merged);
        li++;
        continue;
      } else if (mergedRhs.some((x) => same(x, pe))) li++;
    }
    if (ri < r.pes.length) {
      const pe = r.pes[ri] as PathElement;
      mergedRhs.push(pe);
      push(pe);
      ri++;
      if (nextShared !== undefined && same(nextShared, pe)) nextShared = sharedOrder.shift();
    }
  }
  return out;
}
