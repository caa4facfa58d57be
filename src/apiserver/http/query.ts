import type { ListQuery } from "../registry/index.js";
import { badRequest } from "../status.js";

/** Query parameters of resource requests, checked as kube-apiserver checks them. */

export function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null || v === "") return undefined;
  if (!/^-?\d+$/.test(v)) throw badRequest(`invalid ${name} "${v}": must be an integer`);
  return Number(v);
}

/** `?dryRun=All` (the only value kube takes). */
export function isDryRun(query: URLSearchParams): boolean {
  const values = query.getAll("dryRun");
  for (const v of values)
    if (v !== "All") throw badRequest(`Invalid dryRun value: ${v}, valid values are: All`);
  return values.length > 0;
}

/** The parameters present, as strings (an empty value is kept: it means something to some). */
function present<K extends string>(
  query: URLSearchParams,
  names: Record<K, string>,
): Partial<Record<K, string>> {
  const out: Partial<Record<K, string>> = {};
  for (const [field, param] of Object.entries(names) as [K, string][]) {
    const v = query.get(param);
    if (v !== null) out[field] = v;
  }
  return out;
}

export function selectorQueryOf(query: URLSearchParams): ListQuery {
  return present(query, { labelSelector: "labelSelector", fieldSelector: "fieldSelector" });
}

/** A list's limit, continue token, resourceVersion (+ match) and selectors. */
export function listQueryOf(query: URLSearchParams): ListQuery {
  const limit = intParam(query, "limit");
  return {
    ...(limit !== undefined ? { limit } : {}),
    ...present(query, {
      continueToken: "continue",
      resourceVersion: "resourceVersion",
      resourceVersionMatch: "resourceVersionMatch",
    }),
    ...selectorQueryOf(query),
  };
}
