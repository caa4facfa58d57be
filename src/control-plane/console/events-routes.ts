import { z } from "zod";
import { apiRoute, parseBody, type ApiScope } from "./api-context.js";

/** The Event Query form: ActionTrail LookupEvents' filters, one LookupAttribute each. */
const querySchema = z.strictObject({
  startTime: z.iso.datetime({ offset: true }).optional(),
  endTime: z.iso.datetime({ offset: true }).optional(),
  eventName: z.string().min(1).max(1024).optional(),
  serviceName: z.string().min(1).max(1024).optional(),
  user: z.string().min(1).max(1024).optional(),
  resourceName: z.string().min(1).max(1024).optional(),
  resourceType: z.string().min(1).max(1024).optional(),
  nextToken: z.string().min(1).max(4096).optional(),
  maxResults: z.number().int().min(1).max(50).default(20),
});

const ATTRIBUTES = [
  ["eventName", "EventName"],
  ["serviceName", "ServiceName"],
  ["user", "User"],
  ["resourceName", "ResourceName"],
  ["resourceType", "ResourceType"],
] as const;

/** ISO 8601 to ActionTrail's `yyyy-MM-ddTHH:mm:ssZ`. */
const acsTime = (iso: string) => new Date(iso).toISOString().replace(/\.\d{3}Z$/, "Z");

export function registerEventRoutes(scope: ApiScope): void {
  // POST so the filters stay out of URLs and logs; it changes nothing.
  apiRoute(scope, "POST", "/events/lookup", async ({ upstream, body }) => {
    const q = parseBody(querySchema, body);
    const params: Record<string, string | number> = { MaxResults: q.maxResults };
    let n = 1;
    for (const [field, key] of ATTRIBUTES) {
      const value = q[field];
      if (value === undefined) continue;
      params[`LookupAttribute.${n}.Key`] = key;
      params[`LookupAttribute.${n}.Value`] = value;
      n++;
    }
    if (q.startTime !== undefined || q.endTime !== undefined) {
      params["StartTime"] = acsTime(q.startTime ?? new Date(0).toISOString());
      params["EndTime"] = acsTime(q.endTime ?? new Date().toISOString());
    }
    if (q.nextToken !== undefined) params["NextToken"] = q.nextToken;
    const r = await upstream.call("actiontrail", "LookupEvents", params);
    return {
      events: Array.isArray(r["Events"]) ? r["Events"] : [],
      nextToken: typeof r["NextToken"] === "string" && r["NextToken"] !== "" ? r["NextToken"] : undefined,
      startTime: r["StartTime"],
      endTime: r["EndTime"],
    };
  });
}
