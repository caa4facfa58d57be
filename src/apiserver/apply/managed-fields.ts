import { isPlainObject } from "../../kube-object/types.js";
import { FieldSet } from "./field-set.js";
import { compareStrings } from "./path-element.js";
import type { ManagedFieldSets } from "./updater.js";

/**
 * `metadata.managedFields` ⇄ ownership per manager (kube's internal/managedfields.go). A manager is
 * identified by the JSON of its entry without fields, time and type — and, for appliers, without the
 * apiVersion, so an applier keeps one entry whatever version it applies.
 */

export type Operation = "Apply" | "Update";

export interface ManagerInfo {
  readonly manager: string;
  readonly operation: Operation;
  readonly apiVersion?: string;
  readonly subresource?: string;
}

/** Ownership and the time each manager last changed something. */
export interface Managed {
  readonly fields: ManagedFieldSets;
  readonly times: Map<string, string | undefined>;
}

export function emptyManaged(): Managed {
  return { fields: new Map(), times: new Map() };
}

/** BuildManagerIdentifier: the entry's own fields in Go's struct order, empty ones left out. */
export function managerIdentifier(info: ManagerInfo): string {
  const out: Record<string, string> = {};
  if (info.manager !== "") out.manager = info.manager;
  out.operation = info.operation;
  if (info.operation !== "Apply" && info.apiVersion !== undefined && info.apiVersion !== "")
    out.apiVersion = info.apiVersion;
  if (info.subresource !== undefined && info.subresource !== "") out.subresource = info.subresource;
  return JSON.stringify(out);
}

export function parseIdentifier(id: string): ManagerInfo {
  try {
    const v = JSON.parse(id) as Record<string, unknown>;
    return {
      manager: typeof v.manager === "string" ? v.manager : "",
      operation: v.operation === "Apply" ? "Apply" : "Update",
      ...(typeof v.apiVersion === "string" ? { apiVersion: v.apiVersion } : {}),
      ...(typeof v.subresource === "string" ? { subresource: v.subresource } : {}),
    };
  } catch {
    return { manager: id, operation: "Update" };
  }
}

export class ManagedFieldsError extends Error {}

/** DecodeManagedFields, with kube's complaints about entries it cannot use. */
export function decodeManagedFields(entries: unknown): Managed {
  const managed = emptyManaged();
  if (entries === undefined || entries === null) return managed;
  if (!Array.isArray(entries)) throw new ManagedFieldsError("managedFields must be a list");
  entries.forEach((entry: unknown, i) => {
    if (!isPlainObject(entry)) throw new ManagedFieldsError(`managed fields entry ${i} is not an object`);
    const operation = entry.operation;
    if (operation !== "Apply" && operation !== "Update")
      throw new ManagedFieldsError("operation must be `Apply` or `Update`");
    const apiVersion = typeof entry.apiVersion === "string" ? entry.apiVersion : "";
    if (apiVersion === "") throw new ManagedFieldsError("apiVersion must not be empty");
    const fieldsType = entry.fieldsType;
    if (fieldsType === undefined || fieldsType === "")
      throw new ManagedFieldsError(`missing fieldsType in managed fields entry ${i}`);
    if (fieldsType !== "FieldsV1")
      throw new ManagedFieldsError(
        `invalid fieldsType ${JSON.stringify(fieldsType)} in managed fields entry ${i}`,
      );
    const id = managerIdentifier({
      manager: typeof entry.manager === "string" ? entry.manager : "",
      operation,
      apiVersion,
      ...(typeof entry.subresource === "string" ? { subresource: entry.subresource } : {}),
    });
    let set: FieldSet;
    try {
      set = FieldSet.fromFieldsV1(entry.fieldsV1 ?? {});
    } catch (err) {
      throw new ManagedFieldsError(`error decoding set: ${(err as Error).message}`);
    }
    managed.fields.set(id, { set, apiVersion, applied: operation === "Apply" });
    managed.times.set(id, typeof entry.time === "string" ? entry.time : undefined);
  });
  return managed;
}

/** A request that sets `managedFields: []` (or one empty entry) asks to clear them. */
export function isResetManagedFields(entries: unknown): boolean {
  if (!Array.isArray(entries)) return false;
  if (entries.length === 0) return true;
  return entries.length === 1 && isPlainObject(entries[0]) && Object.keys(entries[0]).length === 0;
}

function seconds(time: string | undefined): number {
  if (time === undefined) return 0;
  const ms = Date.parse(time);
  return Number.isFinite(ms) ? Math.floor(ms / 1000) : 0;
}

/** encodeManagedFields: one entry per manager, sorted as kube sorts them (Apply first, then by time). */
export function encodeManagedFields(managed: Managed): Record<string, unknown>[] | undefined {
  if (managed.fields.size === 0) return undefined;
  const entries: { info: ManagerInfo; time: string | undefined; entry: Record<string, unknown> }[] = [];
  for (const [id, vs] of managed.fields) {
    const parsed = parseIdentifier(id);
    const info: ManagerInfo = {
      ...parsed,
      operation: vs.applied ? "Apply" : parsed.operation,
      apiVersion: vs.apiVersion,
    };
    const time = managed.times.get(id);
    const entry: Record<string, unknown> = {};
    if (info.manager !== "") entry.manager = info.manager;
    entry.operation = info.operation;
    entry.apiVersion = vs.apiVersion;
    if (time !== undefined) entry.time = time;
    entry.fieldsType = "FieldsV1";
    entry.fieldsV1 = vs.set.toFieldsV1();
    if (info.subresource !== undefined && info.subresource !== "") entry.subresource = info.subresource;
    entries.push({ info, time, entry });
  }
  entries.sort(
    (p, q) =>
      compareStrings(p.info.operation, q.info.operation) ||
      seconds(p.time) - seconds(q.time) ||
      compareStrings(p.info.manager, q.info.manager) ||
      compareStrings(p.info.apiVersion ?? "", q.info.apiVersion ?? "") ||
      compareStrings(p.info.subresource ?? "", q.info.subresource ?? ""),
  );
  return entries.map((e) => e.entry);
}
