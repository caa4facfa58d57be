/** The apiserver's HTTP layer: requests in, the registry asked, responses out. */
export { createRequestHandler } from "./handler.js";
export type { HandlerContext } from "./context.js";
export { MAX_BODY_BYTES } from "./request.js";
export {
  InflightLimiter,
  DEFAULT_MAX_MUTATING_REQUESTS_INFLIGHT,
  DEFAULT_MAX_REQUESTS_INFLIGHT,
} from "./inflight.js";
