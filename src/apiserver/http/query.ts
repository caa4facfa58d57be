import type { ListQuery } from "../registry/index.js";
import { badRequest, invalid, type FieldError } from "../status.js";

/**
 * Query parameters of resource requests, converted as kube-apiserver converts them
 * (k8s.io/apimachinery/pkg/runtime conversion of url.Values into ListOptions, DeleteOptions, …, through
 * metav1.ParameterCodec): a repeated parameter counts by its first value; booleans are false only when
 * absent, "0" or "false" in any case (so `watch=1`, `watch=True` and even a bare `watch=` are true);
 * integers must parse, with strconv's message otherwise; empty strings are values.
 */

/** Go's strconv.ParseInt error text, which kube answers a bad integer parameter with. */
function parseIntError(value: string): string {
  const syntax = !/^[+-]?\d+$/.test(value);
  return `strconv.ParseInt: parsing ${JSON.stringify(value)}: ${syntax ? "invalid syntax" : "value out of range"}`;
}

/** An int64 parameter (kube's Convert_Slice_string_To_int64 / _Pointer_int64); undefined when absent. */
export function intParam(query: URLSearchParams, name: string): number | undefined {
  const v = query.get(name);
  if (v === null) return undefined;
  if (!/^[+-]?\d+$/.test(v)) throw badRequest(parseIntError(v));
  const n = Number(v);
  // int64's range; beyond 2^53 JavaScript numbers lose digits, which no parameter here needs.
  if (!Number.isSafeInteger(n)) throw badRequest(parseIntError(v));
  return n;
}

/** A bool parameter (kube's Convert_Slice_string_To_bool); undefined when absent. */
export function boolParam(query: URLSearchParams, name: string): boolean | undefined {
  const v = query.get(name);
  if (v === null) return undefined;
  return !(v === "0" || v.toLowerCase() === "false");
}

/** `?dryRun=All` (the only value kube takes), with kube's message for others. */
export function isDryRun(query: URLSearchParams, options = "CreateOptions"): boolean {
  const values = query.getAll("dryRun");
  const bad = values.filter((v) => v !== "All");
  if (bad.length > 0)
    throw invalid(
      options,
      "",
      [
        {
          field: "dryRun",
          type: "FieldValueNotSupported",
          value: { goSyntax: `[]string{${values.map((v) => JSON.stringify(v)).join(", ")}}` },
          detail: 'supported values: "All"',
        },
      ],
      "meta.k8s.io",
    );
  return values.length > 0;
}

/** The string parameters present (an empty value is kept: it means something to some). */
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
  // kube: the other integer and boolean list options must parse too, even where they do not apply.
  intParam(query, "timeoutSeconds");
  if (query.has("sendInitialEvents"))
    throw invalid(
      "ListOptions",
      "",
      [
        {
          field: "sendInitialEvents",
          type: "FieldValueForbidden",
          detail: "sendInitialEvents is forbidden for list",
        },
      ],
      "meta.k8s.io",
    );
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

/** kube's requestinfo: a list or watch selecting `metadata.name=<n>` is authorized as a request for `n`. */
export function nameFromFieldSelector(query: URLSearchParams): string | undefined {
  const selector = query.get("fieldSelector");
  if (selector === null) return undefined;
  // fields.Selector's RequiresExactMatch: the first `metadata.name=` (or `==`) requirement.
  for (const p of selector.split(",").map((x) => x.trim())) {
    const m = /^metadata\.name\s*(==|=)\s*(.*)$/.exec(p);
    if (m === null) continue;
    const name = (m[2] ?? "").trim();
    return name === "" || name === "." || name === ".." || /[/%]/.test(name) ? undefined : name;
  }
  return undefined;
}

export interface WatchOptions {
  readonly resourceVersion: string | undefined;
  readonly timeoutSeconds: number | undefined;
  readonly allowWatchBookmarks: boolean;
  /** kube's streaming lists (WatchList, on in 1.32): the initial state as events, then a marked BOOKMARK. */
  readonly sendInitialEvents: boolean | undefined;
}

/** A watch's options, validated as kube's validateWatchOptions does (the WatchList feature enabled). */
export function watchOptionsOf(query: URLSearchParams): WatchOptions {
  const timeoutSeconds = intParam(query, "timeoutSeconds");
  intParam(query, "limit");
  const sendInitialEvents = boolParam(query, "sendInitialEvents");
  const match = query.get("resourceVersionMatch") ?? "";
  const errs: FieldError[] = [];
  if (sendInitialEvents !== undefined && match !== "NotOlderThan")
    errs.push({
      field: "resourceVersionMatch",
      type: "FieldValueForbidden",
      detail: "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan",
    });
  if (match !== "") {
    if (sendInitialEvents === undefined)
      errs.push({
        field: "resourceVersionMatch",
        type: "FieldValueForbidden",
        detail: "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided",
      });
    if (match !== "NotOlderThan")
      errs.push({
        field: "resourceVersionMatch",
        type: "FieldValueNotSupported",
        value: match,
        detail: 'supported values: "NotOlderThan"',
      });
    if ((query.get("continue") ?? "") !== "")
      errs.push({
        field: "resourceVersionMatch",
        type: "FieldValueForbidden",
        detail: "resourceVersionMatch is forbidden when continue is provided",
      });
  }
  if (errs.length > 0) throw invalid("ListOptions", "", errs, "meta.k8s.io");
  return {
    resourceVersion: query.get("resourceVersion") ?? undefined,
    timeoutSeconds,
    allowWatchBookmarks: boolParam(query, "allowWatchBookmarks") === true,
    sendInitialEvents,
  };
}
