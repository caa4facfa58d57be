import { AtrestError } from "../../common/errors.js";
import { parseIdentifier } from "./managed-fields.js";
import { pathText } from "./path-element.js";
import type { Conflict } from "./updater.js";

/**
 * An apply conflict as kube-apiserver reports it (internal/conflict.go, errors.NewApplyConflict): 409
 * Conflict, a message naming each manager and the paths it owns, one FieldManagerConflict cause per
 * field. kubectl prints the message and its advice to re-run with --force-conflicts.
 */

/** printManager: `"kubectl"` for an applier, `"kubectl-edit" using v1` for an updater. */
export function managerText(id: string): string {
  const info = parseIdentifier(id);
  let text = JSON.stringify(info.manager);
  if (info.subresource !== undefined && info.subresource !== "")
    text = `${text} with subresource ${JSON.stringify(info.subresource)}`;
  if (info.operation === "Update") return `${text} using ${info.apiVersion ?? ""}`;
  return text;
}

export function conflictMessage(conflicts: readonly Conflict[]): string {
  const first = conflicts[0];
  if (conflicts.length === 1 && first !== undefined)
    return `Apply failed with 1 conflict: conflict with ${managerText(first.manager)}: ${pathText(first.path)}`;
  const byManager = new Map<string, string[]>();
  for (const c of conflicts) {
    const list = byManager.get(c.manager) ?? [];
    list.push(pathText(c.path));
    byManager.set(c.manager, list);
  }
  const lines: string[] = [];
  for (const manager of [...byManager.keys()].sort()) {
    lines.push(`conflicts with ${managerText(manager)}:`);
    for (const p of byManager.get(manager) ?? []) lines.push(`- ${p}`);
  }
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join("\n")}`;
}

export function applyConflictError(conflicts: readonly Conflict[]): AtrestError {
  return new AtrestError("conflict", conflictMessage(conflicts), {
    details: {
      status: {
        causes: conflicts.map((c) => ({
          reason: "FieldManagerConflict",
          message: `conflict with ${managerText(c.manager)}`,
          field: pathText(c.path),
        })),
      },
    },
  });
}
