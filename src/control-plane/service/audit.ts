import { isoSecondsUtc, newEventId, recordTrailEvent, type IamDb, type TrailEvent } from "../../iam/index.js";
import type { Caller } from "./types.js";

/** ActionTrail's service name of the control plane's events (LookupEvents ServiceName filter). */
export const CS_SERVICE_NAME = "cs.aliyuncs.com";
export const CS_API_VERSION = "2015-12-15";

export interface CsCallRecord {
  readonly eventName: string;
  readonly readOnly: boolean;
  readonly regionId: string;
  readonly accountId: string;
  readonly resourceName?: string;
  readonly requestParameters?: Record<string, unknown>;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  /** For calls refused before the caller was known (bad signature, replayed nonce). */
  readonly accessKeyId?: string;
}

/**
 * One ActionTrail event per cs call, allowed or refused, in the identity store's trail table (so
 * LookupEvents finds the control plane's events beside the KMS's): who (as ActionTrail names them),
 * what, on which cluster, the result.
 */
export async function recordCsCall(
  idb: IamDb,
  caller: Caller | { readonly sourceIp: string; readonly requestId: string; readonly userAgent?: string },
  r: CsCallRecord,
  timeMs: number,
): Promise<void> {
  const who = "identity" in caller ? caller.identity : undefined;
  const event: TrailEvent = {
    eventId: newEventId(),
    eventVersion: "1",
    eventTime: isoSecondsUtc(timeMs),
    eventName: r.eventName,
    eventType: "ApiCall",
    eventRW: r.readOnly ? "Read" : "Write",
    eventSource: `cs.${r.regionId}.aliyuncs.com`,
    serviceName: CS_SERVICE_NAME,
    acsRegion: r.regionId,
    sourceIpAddress: caller.sourceIp,
    requestId: caller.requestId,
    apiVersion: CS_API_VERSION,
    ...(caller.userAgent === undefined ? {} : { userAgent: caller.userAgent }),
    userIdentity:
      who === undefined
        ? {
            type: "",
            principalId: "",
            accountId: r.accountId,
            accessKeyId: r.accessKeyId ?? "",
            userName: "",
          }
        : {
            type: who.type,
            principalId: who.principalId,
            accountId: r.accountId,
            accessKeyId: who.accessKeyId,
            userName: who.userName,
            ...(who.type === "assumed-role"
              ? {
                  sessionContext: {
                    attributes: {
                      mfaAuthenticated: "false",
                      creationDate: isoSecondsUtc(who.sessionCreatedAt),
                    },
                  },
                }
              : {}),
          },
    ...(r.requestParameters === undefined ? {} : { requestParameters: r.requestParameters }),
    ...(r.resourceName === undefined
      ? {}
      : { resourceName: r.resourceName, resourceType: "ACS::CS::Cluster" }),
    ...(r.errorCode === undefined ? {} : { errorCode: r.errorCode }),
    ...(r.errorMessage === undefined ? {} : { errorMessage: r.errorMessage }),
  };
  await recordTrailEvent(idb, event, timeMs);
}
