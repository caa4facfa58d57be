import type { Command } from "commander";
import { AtrestError } from "../common/errors.js";
import { addConnectionOptions, clientFrom, type Flags } from "./kms-admin.js";

/** `--user` etc. → ActionTrail's LookupAttribute keys. */
const ATTRIBUTES: ReadonlyArray<readonly [string, string, string]> = [
  ["--user <name>", "user", "User"],
  ["--event-name <name>", "eventName", "EventName"],
  ["--service-name <name>", "serviceName", "ServiceName"],
  ["--resource-name <name>", "resourceName", "ResourceName"],
  ["--resource-type <type>", "resourceType", "ResourceType"],
  ["--event-id <id>", "eventId", "EventId"],
  ["--event-rw <Read|Write>", "eventRw", "EventRW"],
  ["--event-access-key-id <id>", "eventAccessKeyId", "EventAccessKeyId"],
];

/**
 * `atrest events`: ActionTrail LookupEvents (2020-07-06) on the identity endpoint — the KMS's audit
 * trail and the identity services' (and the control plane's) events, newest first. `--all` follows
 * NextToken to the end.
 */
export function registerEvents(program: Command): void {
  const cmd = program
    .command("events")
    .description("look up events (ActionTrail LookupEvents): KMS calls, STS, RAM and control-plane events");
  for (const [flag, , key] of ATTRIBUTES)
    cmd.option(flag, `LookupAttribute ${key} (user or role names match in any case)`);
  cmd
    .option("--start <time>", "UTC start, e.g. 2026-01-01T00:00:00Z (with --end; default the last 7 days)")
    .option("--end <time>", "UTC end")
    .option("--max-results <n>", "per page, 1-50 (default 20)")
    .option("--all", "follow NextToken through every page");
  addConnectionOptions(cmd).action(async (flags: Flags) => {
    const query: Record<string, string> = {};
    let n = 0;
    for (const [, name, key] of ATTRIBUTES) {
      const v = flags[name];
      if (typeof v !== "string") continue;
      n += 1;
      query[`LookupAttribute.${n}.Key`] = key;
      query[`LookupAttribute.${n}.Value`] = v;
    }
    if (typeof flags["start"] === "string") query["StartTime"] = flags["start"];
    if (typeof flags["end"] === "string") query["EndTime"] = flags["end"];
    if (typeof flags["maxResults"] === "string") query["MaxResults"] = flags["maxResults"];
    const client = clientFrom(flags, "identity");
    const events: Record<string, unknown>[] = [];
    let nextToken = "";
    try {
      for (let page = 0; ; page++) {
        if (page > 100_000) throw new AtrestError("internal", "events: NextToken did not end");
        const r = await client.call(
          "LookupEvents",
          { ...query, ...(nextToken === "" ? {} : { NextToken: nextToken }) },
          { version: "2020-07-06" },
        );
        events.push(...((r["Events"] as Record<string, unknown>[] | undefined) ?? []));
        nextToken = typeof r["NextToken"] === "string" ? r["NextToken"] : "";
        if (flags["all"] !== true || nextToken === "") break;
      }
    } finally {
      client.close();
    }
    if (flags.output === "json") {
      process.stdout.write(JSON.stringify({ Events: events, NextToken: nextToken }, null, 2) + "\n");
      return;
    }
    for (const e of events) {
      const who = (e["userIdentity"] ?? {}) as Record<string, string>;
      process.stdout.write(
        `${String(e["eventTime"])}  ${String(e["serviceName"])}  ${String(e["eventName"])}  ${who["userName"] || "-"} (${who["type"] || "-"})  ${typeof e["resourceName"] === "string" ? e["resourceName"] : "-"}  ${typeof e["errorCode"] === "string" ? e["errorCode"] : "OK"}\n`,
      );
    }
    if (events.length === 0) process.stdout.write("(no events)\n");
    if (nextToken !== "") process.stdout.write(`(more: --all)\n`);
  });
}
