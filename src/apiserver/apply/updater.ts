import { compare, type Comparison } from "./compare.js";
import { FieldSet } from "./field-set.js";
import { merge } from "./merge.js";
import { valuesEqual, type Path } from "./path-element.js";
import { removeItems, withNamedFieldsAsMembers } from "./remove-items.js";
import { toFieldSet } from "./to-field-set.js";
import type { TypeRef } from "./type-schema.js";

/**
 * Field ownership per manager, structured-merge-diff's merge.Updater: an update takes ownership of
 * what it changed from everyone else; an apply merges the configuration, owns exactly its fields,
 * fails on fields another manager owns and this one changes (unless forced), and removes the fields
 * it applied last time and applies no more, when no one else owns them.
 *
 * All objects here are of one kind and version: atomic has one version per kind, so the conversions
 * the Go code does between versions are the identity.
 */

export interface VersionedSet {
  readonly set: FieldSet;
  readonly apiVersion: string;
  /** Owned through apply (operation Apply) rather than update. */
  readonly applied: boolean;
}

/** Manager identifier → the fields it owns. */
export type ManagedFieldSets = Map<string, VersionedSet>;

export interface Conflict {
  readonly manager: string;
  readonly path: Path;
}

/** An apply that changes fields other managers own (merge.Conflicts). */
export class ApplyConflicts extends Error {
  constructor(readonly conflicts: readonly Conflict[]) {
    super(`${conflicts.length} conflict(s)`);
    this.name = "ApplyConflicts";
  }
}

export interface UpdaterOptions {
  /** Fields no manager owns through this endpoint (kube's reset fields: a main resource's status). */
  readonly ignored?: FieldSet;
}

function conflictsOf(sets: ManagedFieldSets): Conflict[] {
  const out: Conflict[] = [];
  for (const manager of [...sets.keys()].sort()) {
    for (const path of (sets.get(manager) as VersionedSet).set.paths()) out.push({ manager, path });
  }
  return out;
}

function excludeIgnored(c: Comparison, ignored: FieldSet | undefined): Comparison {
  if (ignored === undefined || ignored.empty()) return c;
  return {
    added: c.added.recursiveDifference(ignored),
    modified: c.modified.recursiveDifference(ignored),
    removed: c.removed.recursiveDifference(ignored),
  };
}

export class Updater {
  constructor(
    private readonly type: TypeRef,
    private readonly options: UpdaterOptions = {},
  ) {}

  /** Takes changed fields away from the other managers; conflicts when not forced. */
  private steal(
    oldObject: unknown,
    newObject: unknown,
    managers: ManagedFieldSets,
    workflow: string,
    force: boolean,
  ): Comparison {
    const c = excludeIgnored(compare(oldObject, newObject, this.type), this.options.ignored);
    const changed = c.modified.union(c.added);
    const conflicts: ManagedFieldSets = new Map();
    for (const [manager, vs] of managers) {
      if (manager === workflow) continue;
      const conflictSet = vs.set.intersection(changed);
      if (!conflictSet.empty()) conflicts.set(manager, { ...vs, set: conflictSet, applied: false });
    }
    if (!force && conflicts.size > 0) throw new ApplyConflicts(conflictsOf(conflicts));
    for (const [manager, vs] of [...managers]) {
      if (manager === workflow) continue;
      let set = vs.set;
      const lost = conflicts.get(manager);
      if (lost !== undefined) set = set.difference(lost.set);
      if (!c.removed.empty()) set = set.difference(c.removed);
      if (set.empty()) managers.delete(manager);
      else managers.set(manager, { ...vs, set });
    }
    const own = managers.get(workflow);
    if (own !== undefined && own.set.empty()) managers.delete(workflow);
    return c;
  }

  /** A non-apply write by `manager`: it owns what it changed (Updater.Update). */
  update(
    liveObject: unknown,
    newObject: unknown,
    version: string,
    managers: ManagedFieldSets,
    manager: string,
  ): ManagedFieldSets {
    const out = new Map(managers);
    const c = this.steal(liveObject, newObject, out, manager, true);
    let set = (out.get(manager)?.set ?? new FieldSet())
      .difference(c.removed)
      .union(c.modified)
      .union(c.added);
    if (this.options.ignored !== undefined) set = set.recursiveDifference(this.options.ignored);
    if (set.empty()) out.delete(manager);
    else out.set(manager, { set, apiVersion: version, applied: false });
    return out;
  }

  /**
   * An apply of `config` by `manager` (Updater.Apply): the merged object, or `undefined` when it is
   * the live object unchanged, and the new ownership. Throws ApplyConflicts.
   */
  apply(
    liveObject: unknown,
    config: unknown,
    version: string,
    managers: ManagedFieldSets,
    manager: string,
    force: boolean,
  ): { object: unknown; managers: ManagedFieldSets } {
    const out = new Map(managers);
    let merged: unknown = merge(liveObject, config, this.type) ?? {};
    const lastSet = out.get(manager);
    let set = toFieldSet(config, this.type);
    if (this.options.ignored !== undefined) set = set.recursiveDifference(this.options.ignored);
    out.set(manager, { set, apiVersion: version, applied: true });
    merged = this.prune(merged, out, lastSet);
    this.steal(liveObject, merged, out, manager, force);
    return { object: valuesEqual(liveObject, merged) ? undefined : merged, managers: out };
  }

  /**
   * Removes what the applier owned last time and no longer applies, unless another manager (or the
   * new configuration) owns it (Updater.prune with addBackOwnedItems and addBackDanglingItems).
   */
  private prune(merged: unknown, managers: ManagedFieldSets, lastSet: VersionedSet | undefined): unknown {
    if (lastSet === undefined || lastSet.set.empty()) return merged;
    const named = (s: FieldSet): FieldSet => withNamedFieldsAsMembers(s, this.type);
    const last = named(lastSet.set);
    let pruned = removeItems(merged, last, this.type) ?? {};
    // Add back what someone owns.
    let managed = new FieldSet();
    for (const vs of managers.values()) managed = managed.union(vs.set);
    const mergedSet = named(toFieldSet(merged, this.type));
    pruned =
      removeItems(
        merged,
        mergedSet.difference(named(toFieldSet(pruned, this.type)).union(named(managed))),
        this.type,
      ) ?? {};
    // Remove only what the applier owned before: unowned fields set by no applier stay.
    const prunedSet = named(toFieldSet(pruned, this.type));
    return removeItems(merged, mergedSet.difference(prunedSet).intersection(last), this.type) ?? {};
  }
}
