import type { Clock } from "../../common/clock.js";
import type { Logger } from "../../common/logger.js";
import type { Authorization } from "../authz/index.js";
import type { Authenticator } from "../authn.js";
import type { HealthCheck } from "../health.js";
import type { ApiMetrics } from "../metrics.js";
import type { OpenApiDocuments } from "../openapi.js";
import type { Registry } from "../registry/index.js";
import type { InflightLimiter } from "./inflight.js";

/** Everything a request handler needs, built once by the server. */
export interface HandlerContext {
  readonly registry: Registry;
  readonly authenticator: Authenticator | undefined;
  /** The authorizer, access reviews, impersonation and RBAC write checks. */
  readonly authz: Authorization;
  readonly openapi: OpenApiDocuments;
  readonly metrics: ApiMetrics;
  readonly healthChecks: readonly HealthCheck[];
  readonly logger: Logger;
  readonly clock: Clock;
  /** host:port as clients reach it (for /api's serverAddressByClientCIDRs). */
  serverAddress: string;
  readonly maxBodyBytes: number;
  readonly watchTimeoutMs: number;
  /** How often a watch that allows bookmarks gets one (kube: about a minute); 0 disables. */
  readonly watchBookmarkIntervalMs: number;
  /** Open watch responses, ended on shutdown. */
  readonly openWatches: Set<() => void>;
  /** kube's max-in-flight limits on non-long-running requests. */
  readonly inflight: InflightLimiter;
}
