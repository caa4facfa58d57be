import type { ResourceInfo, TableColumn } from "./resources.js";
import { metaOf, rfc3339, type KubeObject } from "../kube-object/types.js";

/**
 * meta.k8s.io/v1 Table rendering for `kubectl get`: each resource entry names its columns (kube's
 * printers for the type); Name and Age otherwise.
 */

export const nameColumn: TableColumn = {
  name: "Name",
  type: "string",
  format: "name",
  description: "Name must be unique within a namespace.",
  priority: 0,
  cell: (o) => metaOf(o).name ?? "",
};
export const ageColumn: TableColumn = {
  name: "Age",
  type: "string",
  format: "",
  description: "CreationTimestamp is a timestamp representing the server time when this object was created.",
  priority: 0,
  cell: (o, now) => {
    const ts = metaOf(o).creationTimestamp;
    if (typeof ts !== "string") return "<unknown>";
    return humanDuration(now - Date.parse(ts));
  },
};
/** kube's "Created At" column (printers for Roles and ClusterRoles): the creation time in RFC 3339. */
export const createdAtColumn: TableColumn = {
  name: "Created At",
  type: "date",
  format: "",
  description: ageColumn.description,
  priority: 0,
  cell: (o) => {
    const ts = metaOf(o).creationTimestamp;
    return typeof ts === "string" ? rfc3339(Date.parse(ts)) : "";
  },
};

/** kube's duration.HumanDuration. */
export function humanDuration(ms: number): string {
  const seconds = Math.floor(ms / 1000);
  if (seconds < -1) return "<invalid>";
  if (seconds < 0) return "0s";
  if (seconds < 120) return `${seconds}s`;
  const minutes = Math.floor(seconds / 60);
  if (minutes < 10) return seconds % 60 === 0 ? `${minutes}m` : `${minutes}m${seconds % 60}s`;
  if (minutes < 180) return `${minutes}m`;
  const hours = Math.floor(minutes / 60);
  if (hours < 8) return minutes % 60 === 0 ? `${hours}h` : `${hours}h${minutes % 60}m`;
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8)
    return hours % 24 === 0 ? `${Math.floor(hours / 24)}d` : `${Math.floor(hours / 24)}d${hours % 24}h`;
  if (hours < 24 * 365 * 2) return `${Math.floor(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const days = Math.floor(hours / 24) % 365;
    return days === 0 ? `${Math.floor(hours / 24 / 365)}y` : `${Math.floor(hours / 24 / 365)}y${days}d`;
  }
  return `${Math.floor(hours / 24 / 365)}y`;
}

export type IncludeObject = "None" | "Metadata" | "Object";

export interface TableOptions {
  readonly includeObject: IncludeObject;
  readonly noHeaders: boolean;
  readonly nowMs: number;
}

function rowObject(obj: KubeObject, include: IncludeObject): unknown {
  if (include === "None") return undefined;
  if (include === "Object") return obj;
  return { kind: "PartialObjectMetadata", apiVersion: "meta.k8s.io/v1", metadata: obj.metadata };
}

export function toTable(
  info: ResourceInfo,
  items: readonly KubeObject[],
  listMeta: Record<string, unknown>,
  options: TableOptions,
): KubeObject {
  const columns = info.columns ?? [nameColumn, ageColumn];
  const table: KubeObject = { kind: "Table", apiVersion: "meta.k8s.io/v1", metadata: listMeta };
  if (!options.noHeaders) {
    table.columnDefinitions = columns.map(({ name, type, format, description, priority }) => ({
      name,
      type,
      format,
      description,
      priority,
    }));
  }
  table.rows = items.map((item) => {
    const row: Record<string, unknown> = { cells: columns.map((c) => c.cell(item, options.nowMs)) };
    const object = rowObject(item, options.includeObject);
    if (object !== undefined) row.object = object;
    return row;
  });
  return table;
}
