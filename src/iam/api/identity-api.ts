import { setOwn } from "../../common/own-keys.js";
import { systemClock, type Clock } from "../../common/clock.js";
import { silentLogger, type Logger } from "../../common/logger.js";
import { systemRandom, type Random } from "../../common/random.js";
import type { CallerIdentity } from "../caller.js";
import type { EventSource } from "../events/event-query.js";
import { isoSecondsUtc, type TrailEvent } from "../events/trail-event.js";
import { recordTrailEvent, trailEventSource } from "../events/trail-store.js";
import { iamError, toIamWireError } from "../iam-error.js";
import type { IdentityStore } from "../identity-store.js";
import { nonceDigest } from "../nonce-digest.js";
import { authenticateRpc } from "../rpc/authenticate.js";
import { header, mergeRpcParams, type RpcHttpRequest } from "../rpc/rpc-request.js";
import type { IamDb } from "../store/migrations.js";
import { SERVICES, type ApiAction, type ServiceName, type StsOptions } from "./action.js";
import { ACTIONTRAIL_ACTIONS } from "./actiontrail-actions.js";
import { RAM_ACTIONS } from "./ram-actions.js";
import { STS_ACTIONS } from "./sts-actions.js";

const ACTIONS: Readonly<Record<ServiceName, Readonly<Record<string, ApiAction>>>> = {
  Sts: STS_ACTIONS,
  Ram: RAM_ACTIONS,
  Actiontrail: ACTIONTRAIL_ACTIONS,
};

/** The largest request body read (every action's parameters fit well within it). */
export const MAX_IDENTITY_PARAM_BYTES = 64 * 1024;
/** Parameters never copied into an event record: secrets, and documents that only bloat it. */
const UNRECORDED = new Set(["Password", "Signature", "SecurityToken", "AccessKeySecret"]);
const COMMON = new Set([
  "Action",
  "Version",
  "Format",
  "AccessKeyId",
  "SignatureMethod",
  "SignatureVersion",
  "SignatureNonce",
  "Timestamp",
]);

export interface IdentityApiOptions {
  readonly identity: IdentityStore;
  readonly idb: IamDb;
  readonly region: string;
  /** Where LookupEvents reads, besides the trail table (e.g. the KMS's audit trail). */
  readonly extraEventSources?: readonly EventSource[];
  readonly hostId?: string;
  readonly sts?: StsOptions;
  readonly clock?: Clock;
  readonly random?: Random;
  readonly logger?: Logger;
}

export interface IdentityApiResponse {
  readonly status: number;
  readonly body: Record<string, unknown>;
  readonly action: string;
  readonly code: string;
}

/** The rank of the trail table among event sources (the KMS's audit trail takes 0). */
export const TRAIL_TABLE_RANK = 1;

/**
 * The RPC APIs of the identity services on one endpoint, told apart by their Version: STS
 * (2015-04-01), RAM (2015-05-01) and ActionTrail (2020-07-06). The pipeline: parameters →
 * authentication (authenticateRpc: V1/V3, STS credentials) → action → permission (RAM policy,
 * explicit Deny wins) → action → one event record in the trail table, stored before the answer.
 */
export class IdentityApi {
  readonly #o: IdentityApiOptions;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #logger: Logger;
  readonly #sources: readonly EventSource[];

  constructor(options: IdentityApiOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#logger = options.logger ?? silentLogger();
    this.#sources = [...(options.extraEventSources ?? []), trailEventSource(options.idb, TRAIL_TABLE_RANK)];
  }

  get #hostId(): string {
    return this.#o.hostId ?? `sts.${this.#o.region}.atrest.local`;
  }

  async #reserveNonce(accessKeyId: string, nonce: string, expiresAt: number): Promise<boolean> {
    const inserted = await this.#o.idb.db
      .insertInto("nonce_digests")
      .values({ digest: nonceDigest(accessKeyId, nonce), expires_at: expiresAt })
      .onConflict((oc) => oc.column("digest").doNothing())
      .returning("digest")
      .execute();
    return inserted.length === 1;
  }

  async handle(req: RpcHttpRequest): Promise<IdentityApiResponse> {
    const requestId = this.#random.uuid().toUpperCase();
    const started = this.#clock.now();
    let params: Record<string, string> = {};
    let action = "";
    let service: ServiceName | undefined;
    let accessKeyId = "";
    let caller: CallerIdentity | undefined;
    let result: { body: Record<string, unknown>; resourceName?: string; resourceType?: string } | undefined;
    let readOnly = false;
    let failure: ReturnType<typeof toIamWireError> | undefined;
    try {
      if (req.rawBody.length > MAX_IDENTITY_PARAM_BYTES)
        throw iamError(
          "InvalidParameter",
          `The request body is larger than ${MAX_IDENTITY_PARAM_BYTES} bytes.`,
        );
      params = mergeRpcParams(req);
      action = (header(req.headers, "x-acs-action") ?? params["Action"] ?? "").slice(0, 128);
      const auth = await authenticateRpc(req, params, {
        identity: this.#o.identity,
        clock: this.#clock,
        reserveNonce: (ak, nonce, exp) => this.#reserveNonce(ak, nonce, exp),
        observe: { accessKeyId: (id) => (accessKeyId = id.slice(0, 128)) },
      });
      caller = auth.caller;
      action = auth.action.slice(0, 128);
      service = (SERVICES as Record<string, ServiceName | undefined>)[auth.version];
      if (service === undefined)
        throw iamError(
          "InvalidVersion",
          `Version: one of ${Object.keys(SERVICES).join(", ")} (STS, RAM, ActionTrail)`,
        );
      const spec = ACTIONS[service][action];
      if (spec === undefined)
        throw iamError(
          "InvalidAction.NotFound",
          "Specified api is not found, please check your url and method.",
        );
      readOnly = spec.readOnly === true;
      const ctx = {
        identity: this.#o.identity,
        caller,
        accountId: this.#o.identity.accountId,
        region: this.#o.region,
        clock: this.#clock,
        sts: this.#o.sts ?? {},
        eventSources: this.#sources,
      };
      if (spec.permission !== undefined) {
        const need = spec.permission(params, ctx);
        if (!(await this.#o.identity.allows(caller, need.action, [need.resource])))
          throw iamError(
            "NoPermission.Ram",
            `You are not authorized to do this action: ${caller.userName} may not ${need.action} on ${need.resource}.`,
          );
      }
      result = await spec.run(params, ctx);
    } catch (err) {
      failure = toIamWireError(err);
      if (failure.status >= 500)
        this.#logger.error(
          { requestId, err: err instanceof Error ? err.message : String(err) },
          "identity request failed",
        );
    }
    const event = this.#event({
      requestId,
      started,
      req,
      params,
      action,
      service,
      accessKeyId,
      caller,
      result,
      readOnly,
      failure,
    });
    try {
      await recordTrailEvent(this.#o.idb, event, started);
    } catch (err) {
      // No answer without its event record: a completed action whose record cannot be stored is
      // reported as unavailable, and its result (credentials, say) is not released.
      this.#logger.error(
        { requestId, err: err instanceof Error ? err.message : String(err) },
        "trail append failed",
      );
      failure = toIamWireError(
        iamError("ServiceUnavailable", "The event trail is unavailable; retry later."),
      );
      result = undefined;
    }
    if (failure !== undefined || result === undefined) {
      const f = failure ?? toIamWireError(undefined);
      return {
        status: f.status,
        action,
        code: f.code,
        body: {
          RequestId: requestId,
          HostId: this.#hostId,
          Code: f.code,
          Message: f.message,
          Recommend: `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(f.code)}&product=${service ?? "Sts"}&requestId=${requestId}`,
        },
      };
    }
    return { status: 200, action, code: "OK", body: { ...result.body, RequestId: requestId } };
  }

  #event(e: {
    requestId: string;
    started: number;
    req: RpcHttpRequest;
    params: Record<string, string>;
    action: string;
    service: ServiceName | undefined;
    accessKeyId: string;
    caller: CallerIdentity | undefined;
    result: { resourceName?: string; resourceType?: string } | undefined;
    readOnly: boolean;
    failure: ReturnType<typeof toIamWireError> | undefined;
  }): TrailEvent {
    const requestParameters: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e.params))
      if (!UNRECORDED.has(k) && !COMMON.has(k)) setOwn(requestParameters, k, v.slice(0, 1024));
    const c = e.caller;
    const serviceName = e.service ?? "Sts";
    return {
      eventId: e.requestId,
      eventVersion: "1",
      eventTime: isoSecondsUtc(e.started),
      eventName: e.action,
      eventType: "ApiCall",
      eventRW: e.readOnly ? "Read" : "Write",
      eventSource: `${serviceName.toLowerCase()}.${this.#o.region}.atrest.local`,
      serviceName,
      acsRegion: this.#o.region,
      sourceIpAddress: e.req.sourceIp,
      requestId: e.requestId,
      apiVersion: e.params["Version"] ?? header(e.req.headers, "x-acs-version") ?? "",
      ...(header(e.req.headers, "user-agent") === undefined
        ? {}
        : { userAgent: header(e.req.headers, "user-agent")!.slice(0, 256) }),
      userIdentity: {
        type: c?.type ?? "",
        principalId: c?.principalId ?? "",
        accountId: this.#o.identity.accountId,
        accessKeyId: c?.accessKeyId ?? e.accessKeyId,
        userName: c?.userName ?? "",
        ...(c?.type === "assumed-role"
          ? {
              sessionContext: {
                attributes: {
                  mfaAuthenticated: "false" as const,
                  creationDate: isoSecondsUtc(c.sessionCreatedAt),
                },
              },
            }
          : {}),
      },
      requestParameters,
      ...(e.result?.resourceName === undefined ? {} : { resourceName: e.result.resourceName }),
      ...(e.result?.resourceType === undefined ? {} : { resourceType: e.result.resourceType }),
      ...(e.failure === undefined ? {} : { errorCode: e.failure.code, errorMessage: e.failure.message }),
    };
  }
}
