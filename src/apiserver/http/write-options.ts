import { fieldManagerErrors, managerFromUserAgent } from "../apply/index.js";
import type { ApplyOptions, WriteOptions } from "../registry/index.js";
import { invalid, type FieldError } from "../status.js";
import { isDryRun } from "./query.js";
import type { Request } from "./request.js";

/**
 * CreateOptions, UpdateOptions and PatchOptions from the query, checked as kube-apiserver checks them
 * (ValidateCreateOptions / ValidateUpdateOptions / ValidatePatchOptions): `dryRun`, `fieldManager`
 * (at most 128 printable bytes; required for apply; else the user agent's prefix) and `force`
 * (apply only).
 */

type OptionsKind = "CreateOptions" | "UpdateOptions" | "PatchOptions";

/** kube's string → bool conversion of query parameters: "0" and "false" (any case) are false. */
export function boolParam(query: URLSearchParams, name: string): boolean | undefined {
  const v = query.get(name);
  if (v === null) return undefined;
  return !(v === "0" || v.toLowerCase() === "false");
}

function fail(kind: OptionsKind, errs: FieldError[]): never {
  throw invalid(kind, "", errs, "meta.k8s.io");
}

export function writeOptionsOf(r: Request, kind: OptionsKind): WriteOptions {
  const dryRun = isDryRun(r.query, kind);
  const given = r.query.get("fieldManager") ?? "";
  const errs = fieldManagerErrors(given);
  if (kind === "PatchOptions" && r.query.has("force"))
    errs.unshift({
      field: "force",
      type: "FieldValueForbidden",
      detail: "may not be specified for non-apply patch",
    });
  if (errs.length > 0) fail(kind, errs);
  return { dryRun, fieldManager: given !== "" ? given : managerFromUserAgent(r.req.headers["user-agent"]) };
}

export function applyOptionsOf(r: Request): ApplyOptions {
  const dryRun = isDryRun(r.query, "PatchOptions");
  const fieldManager = r.query.get("fieldManager") ?? "";
  const errs = fieldManagerErrors(fieldManager);
  // kubectl defaults it to "kubectl"; controllers must set it.
  if (fieldManager === "")
    errs.unshift({
      field: "fieldManager",
      type: "FieldValueRequired",
      detail: "is required for apply patch",
    });
  if (errs.length > 0) fail("PatchOptions", errs);
  return { dryRun, fieldManager, force: boolParam(r.query, "force") ?? false };
}
