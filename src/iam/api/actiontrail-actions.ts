import { createHash } from "node:crypto";
import { decodeNextToken, lookupEvents, type EventFilters } from "../events/event-query.js";
import { isoSecondsUtc } from "../events/trail-event.js";
import { iamError } from "../iam-error.js";
import type { ApiAction } from "./action.js";
import { intParam, optionalParam, repeatedPairs, timeParam, type Params } from "./params.js";

/** ActionTrail's default window when neither StartTime nor EndTime is given: the last 7 days. */
const DEFAULT_WINDOW_MS = 7 * 86_400_000;
const DEFAULT_MAX_RESULTS = 20;

/** LookupAttribute keys (ActionTrail's, plus `UserName`, the name the brief and older docs use for `User`). */
const KEYS: Readonly<Record<string, keyof EventFilters>> = {
  ServiceName: "serviceName",
  EventName: "eventName",
  User: "user",
  UserName: "user",
  EventId: "eventId",
  ResourceType: "resourceType",
  ResourceName: "resourceName",
  EventRW: "eventRW",
  EventAccessKeyId: "accessKeyId",
};

/** The filters of a LookupEvents request, every problem named. */
export function parseLookupAttributes(p: Params): EventFilters {
  const out: { -readonly [K in keyof EventFilters]: EventFilters[K] } = {};
  for (const { key, value } of repeatedPairs(p, "LookupAttribute")) {
    const field = KEYS[key];
    if (field === undefined)
      throw iamError(
        "InvalidParameter.LookupAttribute",
        `LookupAttribute Key ${key} is not one of ${Object.keys(KEYS).join(", ")}`,
      );
    if (out[field] !== undefined)
      throw iamError("InvalidParameter.LookupAttribute", `LookupAttribute Key ${key} is given twice`);
    if (value === "" || value.length > 1024)
      throw iamError(
        "InvalidParameter.LookupAttribute",
        `LookupAttribute ${key}: the Value must be 1-1024 characters`,
      );
    if (field === "eventRW") {
      const rw = value.toLowerCase();
      if (rw !== "read" && rw !== "write")
        throw iamError("InvalidParameter.LookupAttribute", "LookupAttribute EventRW: Read or Write");
      out.eventRW = rw === "read" ? "Read" : "Write";
    } else out[field] = value;
  }
  return out;
}

export const ACTIONTRAIL_ACTIONS: Readonly<Record<string, ApiAction>> = {
  LookupEvents: {
    readOnly: true,
    permission: (_p, ctx) => ({
      action: "actiontrail:LookupEvents",
      resource: `acs:actiontrail:*:${ctx.accountId}:*`,
    }),
    async run(p, ctx) {
      const filters = parseLookupAttributes(p);
      const direction = optionalParam(p, "Direction") ?? "BACKWARD";
      if (direction !== "BACKWARD")
        throw iamError("InvalidParameter", "Direction: only BACKWARD (newest first) is supported by atrest");
      const start = timeParam(p, "StartTime");
      const end = timeParam(p, "EndTime");
      if ((start === undefined) !== (end === undefined))
        throw iamError("InvalidParameter.Time", "StartTime and EndTime: give both or neither");
      if (start !== undefined && end !== undefined && start > end)
        throw iamError("InvalidParameter.Time", "StartTime: must not be after EndTime");
      const maxResults = intParam(p, "MaxResults", { min: 0, max: 50 }) || DEFAULT_MAX_RESULTS;
      // The token is good only for the same filters and times (as ActionTrail's); it carries the
      // window of the first page, so a default window does not move between pages.
      const fingerprint = createHash("sha256")
        .update(JSON.stringify([filters, start ?? null, end ?? null]))
        .digest("hex")
        .slice(0, 16);
      const token = optionalParam(p, "NextToken");
      const after = token === undefined ? undefined : decodeNextToken(token, fingerprint);
      const now = ctx.clock.now();
      const endMs = after?.endMs ?? end ?? now;
      const startMs = after?.startMs ?? start ?? now - DEFAULT_WINDOW_MS;
      const page = await lookupEvents(ctx.eventSources, {
        filters,
        startMs,
        endMs,
        maxResults,
        fingerprint,
        ...(after === undefined ? {} : { after }),
      });
      return {
        body: {
          Events: page.events,
          NextToken: page.nextToken,
          StartTime: isoSecondsUtc(startMs),
          EndTime: isoSecondsUtc(endMs),
        },
      };
    },
  },
};
