import { badRequest, invalid, type FieldError } from "../status.js";

/** Which revision a list is read at, from `resourceVersion`, `resourceVersionMatch`, `limit` and `continue`. */
export type ListRead =
  /** The latest revision (resourceVersion unset or "0"). */
  | { readonly kind: "latest" }
  /** Exactly this revision: 410 when compacted, 504 when not reached yet. */
  | { readonly kind: "exact"; readonly revision: number }
  /** The latest revision, which must be at least this one (504 otherwise). */
  | { readonly kind: "notOlderThan"; readonly revision: number };

export interface ListReadQuery {
  readonly resourceVersion?: string;
  readonly resourceVersionMatch?: string;
  readonly limit?: number;
  readonly continueToken?: string;
}

const MATCH_VALUES = ["Exact", "NotOlderThan"];

/**
 * kube-apiserver's rules (ValidateListOptions, then the etcd3 store's GetList): a match needs a
 * resourceVersion and no continue token; "Exact" is not for "0"; with continue only "0" may be given
 * (the token carries its revision); without a match, a resourceVersion with a limit is exact (the legacy
 * paginated form) and without one is "not older than".
 */
export function listReadOf(q: ListReadQuery): ListRead {
  const rv = q.resourceVersion ?? "";
  const match = q.resourceVersionMatch ?? "";
  const hasContinue = q.continueToken !== undefined && q.continueToken !== "";
  const errors: FieldError[] = [];
  if (match !== "") {
    const forbidden = (detail: string): void => {
      errors.push({ field: "resourceVersionMatch", type: "FieldValueForbidden", detail });
    };
    if (rv === "") forbidden("resourceVersionMatch is forbidden unless resourceVersion is provided");
    if (hasContinue) forbidden("resourceVersionMatch is forbidden when continue is provided");
    if (!MATCH_VALUES.includes(match)) {
      errors.push({
        field: "resourceVersionMatch",
        type: "FieldValueNotSupported",
        value: match,
        detail: `supported values: ${[...MATCH_VALUES, ""].map((v) => JSON.stringify(v)).join(", ")}`,
      });
    }
    if (match === "Exact" && rv === "0")
      forbidden('resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
  }
  if (errors.length > 0) throw invalid("ListOptions", "", errors, "meta.k8s.io");
  if (hasContinue) {
    if (rv !== "" && rv !== "0")
      throw badRequest("specifying resource version is not allowed when using continue");
    return { kind: "latest" }; // the token's own revision applies
  }
  if (rv === "" || rv === "0") return { kind: "latest" };
  const revision = parseRevision(rv);
  if (match === "Exact" || (match === "" && q.limit !== undefined && q.limit > 0))
    return { kind: "exact", revision };
  return { kind: "notOlderThan", revision };
}

function parseRevision(rv: string): number {
  const n = /^\d{1,15}$/.test(rv) ? Number(rv) : NaN;
  if (!Number.isSafeInteger(n) || n <= 0) throw badRequest(`invalid resource version: ${JSON.stringify(rv)}`);
  return n;
}
