import type { Clock } from "../../common/clock.js";
import type { CallerIdentity } from "../caller.js";
import type { EventSource } from "../events/event-query.js";
import type { IdentityStore } from "../identity-store.js";
import type { Params } from "./params.js";

/** The identity services and the API versions their RPC requests carry. */
export const SERVICES = {
  "2015-04-01": "Sts",
  "2015-05-01": "Ram",
  "2020-07-06": "Actiontrail",
} as const;

export type ServiceName = (typeof SERVICES)[keyof typeof SERVICES];

export interface StsOptions {
  /**
   * The shortest DurationSeconds AssumeRole accepts: 900 (STS's minimum) unless set lower, which is for
   * tests only (credentials that expire within a test); never set it in production.
   */
  readonly minDurationSecondsForTestsOnly?: number;
}

export interface ApiContext {
  readonly identity: IdentityStore;
  readonly caller: CallerIdentity;
  readonly accountId: string;
  readonly region: string;
  readonly clock: Clock;
  readonly sts: StsOptions;
  /** Where LookupEvents reads (the KMS's audit trail, the trail table). */
  readonly eventSources: readonly EventSource[];
}

export interface ActionResult {
  readonly body: Record<string, unknown>;
  /** What the event record names as the resource acted on. */
  readonly resourceName?: string;
  readonly resourceType?: string;
}

export interface ApiAction {
  readonly readOnly?: true;
  /**
   * The RAM action and resource ARN the caller needs, checked before `run` (explicit Deny wins).
   * Absent for an action that authorizes itself (AssumeRole: permission and trust policy) or that any
   * authenticated caller may call (GetCallerIdentity).
   */
  readonly permission?: (p: Params, ctx: ApiContext) => { action: string; resource: string };
  run(p: Params, ctx: ApiContext): Promise<ActionResult>;
}
