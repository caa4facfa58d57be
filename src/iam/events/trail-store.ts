import { randomUUID } from "node:crypto";
import type { Kysely } from "kysely";
import type { IamDb } from "../store/migrations.js";
import type { IamDatabase } from "../store/schema.js";
import { afterCursor, type EventSource, type SourceQuery, type SourcedEvent } from "./event-query.js";
import { userKeyOf, type TrailEvent } from "./trail-event.js";

/**
 * The trail table of every service but the KMS (whose audit trail is its own hash-chained table):
 * STS, RAM, ActionTrail and the control plane record their events here with `recordTrailEvent`.
 */
export async function recordTrailEvent(idb: IamDb, event: TrailEvent, timeMs: number): Promise<void> {
  await idb.db
    .insertInto("trail_events")
    .values({
      event_id: event.eventId,
      event_time: timeMs,
      service_name: event.serviceName,
      event_name: event.eventName,
      event_rw: event.eventRW,
      user_key: userKeyOf(event.userIdentity),
      user_name: event.userIdentity.userName,
      access_key_id: event.userIdentity.accessKeyId,
      resource_type: event.resourceType ?? "",
      resource_name: event.resourceName ?? "",
      error_code: event.errorCode ?? "",
      record: JSON.stringify(event),
    })
    .execute();
}

/** A fresh ActionTrail event id (upper-case UUID, as ActionTrail's). */
export function newEventId(): string {
  return randomUUID().toUpperCase();
}

export function trailEventSource(idb: IamDb, rank: number): EventSource {
  const db: Kysely<IamDatabase> = idb.db;
  return {
    rank,
    async lookup(q: SourceQuery): Promise<SourcedEvent[]> {
      const f = q.filters;
      let s = db
        .selectFrom("trail_events")
        .select(["seq", "event_time", "record"])
        .where("event_time", ">=", q.startMs)
        .where("event_time", "<=", q.endMs);
      const c = afterCursor(q.after, rank);
      if (c.atOrBeforeTime !== undefined) s = s.where("event_time", "<=", c.atOrBeforeTime);
      if (c.beforeTime !== undefined) {
        const t = c.beforeTime;
        const at = c.atTimeBeforeSeq;
        s =
          at === undefined
            ? s.where("event_time", "<", t)
            : s.where((eb) =>
                eb.or([
                  eb("event_time", "<", t),
                  eb.and([eb("event_time", "=", at.time), eb("seq", "<", at.seq)]),
                ]),
              );
      }
      if (f.eventName !== undefined) s = s.where("event_name", "=", f.eventName);
      if (f.serviceName !== undefined)
        s = s.where((eb) => eb(eb.fn("lower", ["service_name"]), "=", f.serviceName!.toLowerCase()));
      if (f.user !== undefined) {
        const v = f.user.toLowerCase();
        const colon = v.indexOf(":");
        s = s.where("user_key", "=", colon < 0 ? v : v.slice(0, colon));
        if (colon >= 0) s = s.where((eb) => eb(eb.fn("lower", ["user_name"]), "=", v));
      }
      if (f.eventId !== undefined) s = s.where("event_id", "=", f.eventId);
      if (f.resourceName !== undefined) s = s.where("resource_name", "=", f.resourceName);
      if (f.resourceType !== undefined) s = s.where("resource_type", "=", f.resourceType);
      if (f.eventRW !== undefined) s = s.where("event_rw", "=", f.eventRW);
      if (f.accessKeyId !== undefined) s = s.where("access_key_id", "=", f.accessKeyId);
      const rows = await s.orderBy("event_time", "desc").orderBy("seq", "desc").limit(q.limit).execute();
      return rows.map((r) => ({
        time: Number(r.event_time),
        seq: Number(r.seq),
        event: JSON.parse(r.record) as TrailEvent,
      }));
    },
  };
}
