/**
 * An event as ActionTrail records it (the fields of its event structure that atrest fills), the
 * shape LookupEvents answers with: one record per API call of any service — the KMS's audit trail,
 * STS, RAM, ActionTrail itself and the control plane.
 */
export interface TrailUserIdentity {
  /** `ram-user`, `assumed-role`, `service` (or "" for a caller that was never identified). */
  readonly type: string;
  readonly principalId: string;
  readonly accountId: string;
  readonly accessKeyId: string;
  readonly userName: string;
  readonly sessionContext?: {
    readonly attributes: { readonly mfaAuthenticated: "false" | "true"; readonly creationDate: string };
  };
}

export interface TrailEvent {
  readonly eventId: string;
  readonly eventVersion: "1";
  /** UTC ISO 8601, seconds (as ActionTrail: `2020-07-22T13:39:46Z`). */
  readonly eventTime: string;
  readonly eventName: string;
  readonly eventType: "ApiCall" | "ConsoleSignin" | "AliyunServiceEvent";
  readonly eventRW: "Read" | "Write";
  readonly eventSource: string;
  readonly serviceName: string;
  readonly acsRegion: string;
  readonly sourceIpAddress: string;
  readonly requestId: string;
  readonly apiVersion?: string;
  readonly userAgent?: string;
  readonly userIdentity: TrailUserIdentity;
  readonly requestParameters?: Readonly<Record<string, unknown>>;
  readonly resourceName?: string;
  readonly resourceType?: string;
  readonly referencedResources?: Readonly<Record<string, readonly string[]>>;
  readonly errorCode?: string;
  readonly errorMessage?: string;
  readonly additionalEventData?: Readonly<Record<string, unknown>>;
}

export function isoSecondsUtc(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** The user filter's key of an identity: the user, or for an assumed role its role; lower-cased. */
export function userKeyOf(identity: Pick<TrailUserIdentity, "type" | "userName">): string {
  const name = identity.type === "assumed-role" ? identity.userName.split(":")[0]! : identity.userName;
  return name.toLowerCase();
}
