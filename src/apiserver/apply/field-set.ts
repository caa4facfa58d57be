import { isPlainObject } from "../../kube-object/types.js";
import {
  comparePathElements,
  deserializePathElement,
  serializePathElement,
  type Path,
  type PathElement,
} from "./path-element.js";

/**
 * A set of field paths as a trie, with structured-merge-diff's semantics (fieldpath.Set): `members`
 * are the paths ending at this node, `children` the subtrees below it; a path may be both (FieldsV1
 * writes that as a `.` entry). Sets are built with `insert` and then treated as values: the set
 * operations return new sets.
 */
export class FieldSet {
  /** Sorted by comparePathElements. */
  readonly members: PathElement[] = [];
  /** Sorted by path element; never holds an empty set. */
  readonly children: { pe: PathElement; set: FieldSet }[] = [];

  static of(...paths: Path[]): FieldSet {
    const s = new FieldSet();
    for (const p of paths) s.insert(p);
    return s;
  }

  insert(path: Path): void {
    const [first, ...rest] = path;
    if (first === undefined) return;
    if (rest.length === 0) insertSorted(this.members, first);
    else this.descend(first).insert(rest);
  }

  /** The child set under `pe`, created when absent (only while building). */
  private descend(pe: PathElement): FieldSet {
    const i = searchChildren(this.children, pe);
    if (i >= 0) return (this.children[i] as { set: FieldSet }).set;
    const set = new FieldSet();
    this.children.splice(-i - 1, 0, { pe, set });
    return set;
  }

  has(path: Path): boolean {
    if (path.length === 0) return false;
    if (path.length === 1) return this.hasMember(path[0] as PathElement);
    return this.child(path[0] as PathElement)?.has(path.slice(1)) ?? false;
  }

  hasMember(pe: PathElement): boolean {
    return searchMembers(this.members, pe) >= 0;
  }

  child(pe: PathElement): FieldSet | undefined {
    const i = searchChildren(this.children, pe);
    return i >= 0 ? this.children[i]?.set : undefined;
  }

  /** The paths below `pe`, relative to it (empty when none). */
  withPrefix(pe: PathElement): FieldSet {
    return this.child(pe) ?? EMPTY;
  }

  empty(): boolean {
    return this.members.length === 0 && this.children.length === 0;
  }

  union(other: FieldSet): FieldSet {
    const out = new FieldSet();
    out.members.push(...mergeSorted(this.members, other.members));
    let i = 0;
    let j = 0;
    while (i < this.children.length || j < other.children.length) {
      const a = this.children[i];
      const b = other.children[j];
      const c = a === undefined ? 1 : b === undefined ? -1 : comparePathElements(a.pe, b.pe);
      if (c < 0 && a !== undefined) {
        out.children.push(a);
        i++;
      } else if (c > 0 && b !== undefined) {
        out.children.push(b);
        j++;
      } else if (a !== undefined && b !== undefined) {
        out.children.push({ pe: a.pe, set: a.set.union(b.set) });
        i++;
        j++;
      }
    }
    return out;
  }

  intersection(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (other.hasMember(m)) out.members.push(m);
    for (const { pe, set } of this.children) {
      const o = other.child(pe);
      if (o === undefined) continue;
      const res = set.intersection(o);
      if (!res.empty()) out.children.push({ pe, set: res });
    }
    return out;
  }

  /** Leaf-wise difference: a member of `other` leaves its children here in place. */
  difference(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (!other.hasMember(m)) out.members.push(m);
    for (const { pe, set } of this.children) {
      const o = other.child(pe);
      if (o === undefined) {
        out.children.push({ pe, set });
        continue;
      }
      const res = set.difference(o);
      if (!res.empty()) out.children.push({ pe, set: res });
    }
    return out;
  }

  /** Like difference, but a member of `other` also takes everything below it. */
  recursiveDifference(other: FieldSet): FieldSet {
    const out = new FieldSet();
    for (const m of this.members) if (!other.hasMember(m)) out.members.push(m);
    for (const { pe, set } of this.children) {
      if (other.hasMember(pe)) continue;
      const o = other.child(pe);
      if (o === undefined) {
        out.children.push({ pe, set });
        continue;
      }
      const res = set.recursiveDifference(o);
      if (!res.empty()) out.children.push({ pe, set: res });
    }
    return out;
  }

  equals(other: FieldSet): boolean {
    if (this.members.length !== other.members.length || this.children.length !== other.children.length)
      return false;
    for (let i = 0; i < this.members.length; i++)
      if (comparePathElements(this.members[i] as PathElement, other.members[i] as PathElement) !== 0)
        return false;
    for (let i = 0; i < this.children.length; i++) {
      const a = this.children[i] as { pe: PathElement; set: FieldSet };
      const b = other.children[i] as { pe: PathElement; set: FieldSet };
      if (comparePathElements(a.pe, b.pe) !== 0 || !a.set.equals(b.set)) return false;
    }
    return true;
  }

  /** Every member path: this node's members first (in order), then each child's (fieldpath.Set.Iterate). */
  paths(prefix: Path = []): Path[] {
    const out: Path[] = this.members.map((m) => [...prefix, m]);
    for (const { pe, set } of this.children) out.push(...set.paths([...prefix, pe]));
    return out;
  }

  /** The FieldsV1 form (`{"f:data":{"f:key":{}}}`, `.` for a member with children), keys in set order. */
  toFieldsV1(): Record<string, unknown> {
    return this.emit(false);
  }

  private emit(includeSelf: boolean): Record<string, unknown> {
    const out: Record<string, unknown> = {};
    if (includeSelf && !this.empty()) out["."] = {};
    let mi = 0;
    let ci = 0;
    while (mi < this.members.length || ci < this.children.length) {
      const m = this.members[mi];
      const c = this.children[ci];
      const d = m === undefined ? 1 : c === undefined ? -1 : comparePathElements(m, c.pe);
      if (d < 0 && m !== undefined) {
        out[serializePathElement(m)] = {};
        mi++;
      } else if (d > 0 && c !== undefined) {
        out[serializePathElement(c.pe)] = c.set.emit(false);
        ci++;
      } else if (c !== undefined) {
        out[serializePathElement(c.pe)] = c.set.emit(true);
        mi++;
        ci++;
      }
    }
    return out;
  }

  /** Reads FieldsV1; throws on malformed path elements, skips unknown element kinds as kube does. */
  static fromFieldsV1(fields: unknown): FieldSet {
    const set = new FieldSet();
    if (!isPlainObject(fields)) throw new TypeError("FieldsV1 must be a JSON object");
    readInto(set, fields);
    return set;
  }
}

const EMPTY = new FieldSet();

/** Fills `into` with the entries of one FieldsV1 object; reports whether the node itself is a member. */
function readInto(into: FieldSet, fields: Record<string, unknown>): boolean {
  let isMember = false;
  let hasEntries = false;
  for (const [key, sub] of Object.entries(fields)) {
    if (key === ".") {
      isMember = true;
      continue;
    }
    const pe = deserializePathElement(key);
    if (pe === undefined) continue;
    hasEntries = true;
    if (!isPlainObject(sub)) throw new TypeError(`FieldsV1 entry ${key} must be a JSON object`);
    const childSet = new FieldSet();
    const childIsMember = readInto(childSet, sub);
    if (childIsMember) insertSorted(into.members, pe);
    if (!childSet.empty()) into.children.push({ pe, set: childSet });
  }
  into.children.sort((a, b) => comparePathElements(a.pe, b.pe));
  return isMember || !hasEntries;
}

function searchMembers(arr: readonly PathElement[], pe: PathElement): number {
  let lo = 0;
  let hi = arr.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = comparePathElements(arr[mid] as PathElement, pe);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

function searchChildren(arr: readonly { pe: PathElement }[], pe: PathElement): number {
  let lo = 0;
  let hi = arr.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const c = comparePathElements((arr[mid] as { pe: PathElement }).pe, pe);
    if (c === 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -lo - 1;
}

function insertSorted(arr: PathElement[], pe: PathElement): void {
  const i = searchMembers(arr, pe);
  if (i < 0) arr.splice(-i - 1, 0, pe);
}

function mergeSorted(a: readonly PathElement[], b: readonly PathElement[]): PathElement[] {
  const out: PathElement[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    const x = a[i];
    const y = b[j];
    const c = x === undefined ? 1 : y === undefined ? -1 : comparePathElements(x, y);
    if (c < 0 && x !== undefined) {
      out.push(x);
      i++;
    } else if (c > 0 && y !== undefined) {
      out.push(y);
      j++;
    } else if (x !== undefined) {
      out.push(x);
      i++;
      j++;
    }
  }
  return out;
}
