import { sql } from "kysely";
import {
  afterCursor,
  isoSecondsUtc,
  type EventSource,
  type SourceQuery,
  type SourcedEvent,
  type TrailEvent,
} from "../iam/index.js";
import type { AuditRow } from "./audit-log.js";
import type { KmsDb } from "./store/database.js";

/** How the KMS's audit records answer ActionTrail's LookupEvents (the iam event-source port). */
export interface KmsEventSourceOptions {
  readonly region: string;
  readonly accountId: string;
  /** The actions that change nothing (eventRW Read); every other is Write. */
  readonly readOnlyActions: ReadonlySet<string>;
  readonly rank: number;
}

const SERVICE_NAME = "Kms";
const KEY_RESOURCE_TYPE = "ACS::KMS::Key";

/** An audit row as ActionTrail's event record (KMS API version 2016-01-20). */
export function auditRowToTrailEvent(r: AuditRow, o: Omit<KmsEventSourceOptions, "rank">): TrailEvent {
  const identityType = r.identity_type === "" ? (r.principal === "" ? "" : "ram-user") : r.identity_type;
  const sessionCreatedAt = Number(r.session_created_at);
  const keyId = r.key_id;
  return {
    eventId: r.request_id,
    eventVersion: "1",
    eventTime: isoSecondsUtc(Number(r.event_time)),
    eventName: r.action,
    eventType: "ApiCall",
    eventRW: o.readOnlyActions.has(r.action) ? "Read" : "Write",
    eventSource: `kms.${o.region}.atrest.local`,
    serviceName: SERVICE_NAME,
    acsRegion: o.region,
    sourceIpAddress: r.source_ip,
    requestId: r.request_id,
    apiVersion: "2016-01-20",
    userIdentity: {
      type: identityType,
      principalId: r.principal_id,
      accountId: o.accountId,
      accessKeyId: r.access_key_id,
      userName: r.user_name === "" ? r.principal : r.user_name,
      ...(identityType === "assumed-role"
        ? {
            sessionContext: {
              attributes: {
                mfaAuthenticated: "false" as const,
                creationDate: isoSecondsUtc(sessionCreatedAt),
              },
            },
          }
        : {}),
    },
    requestParameters: {
      ...(keyId === "" ? {} : { KeyId: keyId }),
      ...(r.key_version_id === "" ? {} : { KeyVersionId: r.key_version_id }),
      ...(identityType === "assumed-role"
        ? { stsTokenPrincipalName: r.user_name.replace(":", "/"), stsTokenPlayerUid: o.accountId }
        : {}),
      RegionId: o.region,
      AcsProduct: SERVICE_NAME,
    },
    ...(keyId === ""
      ? {}
      : {
          resourceName: keyId,
          resourceType: KEY_RESOURCE_TYPE,
          referencedResources: { [KEY_RESOURCE_TYPE]: [keyId] },
        }),
    ...(r.error_code === "" ? {} : { errorCode: r.error_code }),
    additionalEventData: {
      outcome: r.outcome,
      ...(Number(r.request_count) === 1 ? {} : { requestCount: Number(r.request_count) }),
      ...(Number(r.forced) === 1 ? { forced: true } : {}),
      ...(r.client_uid === "" ? {} : { clientUid: r.client_uid }),
      auditSeq: Number(r.seq),
    },
  };
}

/**
 * The KMS audit trail as an event source. Every filter maps to an index (database.ts migration
 * 0004): the user filter to `lower(principal)` — for an assumed role that is its role, so the role's
 * name (in any case, as the console's `aliyuncsmanagedsecurityrole`) finds all its sessions' calls.
 */
export function kmsAuditEventSource(kdb: KmsDb, o: KmsEventSourceOptions): EventSource {
  const readOnly = [...o.readOnlyActions];
  return {
    rank: o.rank,
    async lookup(q: SourceQuery): Promise<SourcedEvent[]> {
      const f = q.filters;
      if (f.serviceName !== undefined && f.serviceName.toLowerCase() !== SERVICE_NAME.toLowerCase())
        return [];
      if (f.resourceType !== undefined && f.resourceType !== KEY_RESOURCE_TYPE) return [];
      let s = kdb.db
        .selectFrom("audit_events")
        .selectAll()
        .where("event_time", ">=", q.startMs)
        .where("event_time", "<=", q.endMs);
      const c = afterCursor(q.after, o.rank);
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
      let eventName = f.eventName;
      if (f.user !== undefined) {
        const v = f.user.toLowerCase();
        const colon = v.indexOf(":");
        const principal = colon < 0 ? v : v.slice(0, colon);
        // A user and an event name together: the one expression migration 0005 indexes ('/' is in
        // neither a principal's nor an action's name, so the pair is unambiguous).
        if (eventName !== undefined && !principal.includes("/") && !eventName.includes("/")) {
          s = s.where(sql<string>`lower(principal) || '/' || action`, "=", `${principal}/${eventName}`);
          eventName = undefined;
        } else s = s.where(sql<string>`lower(principal)`, "=", principal);
        if (colon >= 0) s = s.where(sql<string>`lower(user_name)`, "=", v);
      }
      if (eventName !== undefined) s = s.where("action", "=", eventName);
      if (f.eventId !== undefined) s = s.where("request_id", "=", f.eventId);
      if (f.resourceName !== undefined) s = s.where("key_id", "=", f.resourceName);
      if (f.resourceType !== undefined) s = s.where("key_id", "!=", "");
      if (f.accessKeyId !== undefined) s = s.where("access_key_id", "=", f.accessKeyId);
      if (f.eventRW !== undefined && readOnly.length > 0)
        s = f.eventRW === "Read" ? s.where("action", "in", readOnly) : s.where("action", "not in", readOnly);
      const rows = await s.orderBy("event_time", "desc").orderBy("seq", "desc").limit(q.limit).execute();
      return rows.map((r) => ({
        time: Number(r.event_time),
        seq: Number(r.seq),
        event: auditRowToTrailEvent(r, o),
      }));
    },
  };
}
