import type { UserInfo } from "../authn.js";
import { AtrestError } from "../../common/errors.js";
import type { HandlerContext } from "./context.js";
import { boolParam } from "./query.js";
import type { Request } from "./request.js";
import { send } from "./respond.js";
import { groupVersionOf, parseRoute } from "./route.js";

/**
 * kube-apiserver's max-in-flight filter (WithMaxInFlightLimit, --max-requests-inflight and
 * --max-mutating-requests-inflight): at most so many read-only and so many mutating requests are
 * served at once; one more is answered 429 with `Retry-After: 1` at once, before any work. Long-running
 * requests (watches: kube's BasicLongRunningRequestCheck; this server serves no proxy, exec, attach,
 * portforward or log subresources) are not counted, nor the health checks (kube's APF puts them in the
 * exempt "probes" flow schema). Members of system:masters take a seat when one is free and are served
 * without one when none is, as kube does, so that an admin can always act on an overloaded server.
 * A limit of 0 means no limit.
 */

export const DEFAULT_MAX_REQUESTS_INFLIGHT = 400;
export const DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT = 200;

export interface InflightLimits {
  readonly maxRequestsInflight: number;
  readonly maxMutatingRequestsInflight: number;
}

type Seat = "readonly" | "mutating";

/** kube's nonMutatingRequestVerbs are get, list, watch: GET (and HEAD, OPTIONS) are read-only. */
const MUTATING_METHODS = new Set(["POST", "PUT", "PATCH", "DELETE"]);
const HEALTH_PATHS = /^\/(healthz|livez|readyz)(\/|$)/;

/** Which seat a request takes, or "exempt" (health checks, watches). */
export function inflightClassOf(
  method: string,
  path: string,
  query: URLSearchParams,
  segments: readonly string[],
): Seat | "exempt" {
  if (HEALTH_PATHS.test(path)) return "exempt";
  if (isWatch(method, query, segments)) return "exempt";
  return MUTATING_METHODS.has(method) ? "mutating" : "readonly";
}

/** A watch as kube's RequestInfo resolves one (and resource.ts serves it): `/watch/…` or a collection's GET with watch=true. */
function isWatch(method: string, query: URLSearchParams, segments: readonly string[]): boolean {
  if (method !== "GET") return false;
  const target = groupVersionOf(segments);
  if (target === undefined) return false;
  if (target.rest[0] === "watch") return true;
  if (boolParam(query, "watch") !== true) return false;
  try {
    const route = parseRoute(target.gv, target.rest);
    return route !== undefined && route.name === undefined;
  } catch {
    return false; // a bad path: counted, and answered 400 by the handler
  }
}

export class InflightLimiter {
  private readonly current: Record<Seat, number> = { readonly: 0, mutating: 0 };

  constructor(private readonly limits: InflightLimits) {
    for (const [name, v] of Object.entries(limits))
      if (!Number.isInteger(v) || v < 0)
        throw new AtrestError("invalid-argument", `${name} must be a whole number ≥ 0, got ${String(v)}`);
  }

  /** Takes a seat; returns its release (safe to call more than once), or undefined when full. */
  tryAcquire(kind: Seat): (() => void) | undefined {
    const max =
      kind === "mutating" ? this.limits.maxMutatingRequestsInflight : this.limits.maxRequestsInflight;
    if (max > 0 && this.current[kind] >= max) return undefined;
    this.current[kind]++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.current[kind]--;
    };
  }

  /** Requests being served now, per kind (kube's apiserver_current_inflight_requests). */
  get inflight(): Readonly<Record<Seat, number>> {
    return { ...this.current };
  }
}

/**
 * Takes the request's seat until its response closes; false when it was answered 429 instead.
 * The 429 is kube's tooManyRequests byte for byte (Go's http.Error: plain text, nosniff, a newline), not
 * a Status: clients (client-go, the Python client) read the code and Retry-After, and client-go retries.
 */
export function admit(ctx: HandlerContext, r: Request, segments: readonly string[], user: UserInfo): boolean {
  const kind = inflightClassOf(r.method, r.path, r.query, segments);
  if (kind === "exempt") return true;
  const release = ctx.inflight.tryAcquire(kind);
  if (release !== undefined) {
    r.res.once("close", release);
    return true;
  }
  if (user.groups.includes("system:masters")) return true;
  r.verb = r.method;
  send(ctx, r, 429, "text/plain; charset=utf-8", "Too many requests, please try again later.\n", {
    "Retry-After": "1",
    "X-Content-Type-Options": "nosniff",
  });
  return false;
}
