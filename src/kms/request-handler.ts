import { createHash } from "node:crypto";
import { systemClock, type Clock } from "../common/clock.js";
import { silentLogger, type Logger } from "../common/logger.js";
import { systemRandom, type Random } from "../common/random.js";
import type { AccessStore } from "./access-store.js";
import { actionSpec, type ActionContext, type ResolvedResource } from "./actions/index.js";
import type { AuditRecord } from "./audit-log.js";
import type { KeyService } from "./keys/index.js";
import { kmsError, toKmsWireError } from "./kms-error.js";
import { evaluatePolicies } from "./policy/index.js";
import { AuthFailureGuard } from "./auth-failures.js";
import { RateLimiter } from "./rate-limiter.js";
import { fallbackResponseFormat, parseResponseFormat, type ResponseFormat } from "./response-body.js";
import type { RequestJournal } from "./request-journal.js";
import { constantTimeEqual } from "./signature/constant-time.js";
import { computeSignatureV1 } from "./signature/v1.js";
import { computeSignatureV3, parseAuthorizationV3 } from "./signature/v3.js";

export const API_VERSION = "2016-01-20";
/** Accepted clock skew of a request's timestamp, as Alibaba Cloud (±15 minutes). */
export const TIMESTAMP_WINDOW_MS = 15 * 60_000;
const V3_ALGORITHM = "ACS3-HMAC-SHA256";
/** The largest request body read (the parameters of any action fit well within it). */
export const MAX_PARAM_BYTES = 64 * 1024;

export interface KmsHttpRequest {
  method: string;
  pathname: string;
  /** The query string as parsed (repeated names give arrays), for the V3 canonical query. */
  query: Record<string, string | string[]>;
  /** Lower-case header names. */
  headers: Record<string, string | string[] | undefined>;
  rawBody: Buffer;
  sourceIp: string;
}

export interface KmsHttpResponse {
  status: number;
  body: Record<string, unknown>;
  /** How the body is written (the request's Format) and the XML root element it would have. */
  format: ResponseFormat;
  root: string;
  /** For metrics: a known action name or "unknown". */
  action: string;
  /** "OK" or the Alibaba error code. */
  code: string;
}

export interface RequestHandlerOptions {
  keys: KeyService;
  access: AccessStore;
  /** Where the nonces and audit records are written (one group commit for both). */
  journal: RequestJournal;
  region: string;
  accountId: string;
  hostId: string;
  clock?: Clock;
  random?: Random;
  logger?: Logger;
  /** Requests per second per access key (Rejected.Throttling beyond it); 0 or absent = unlimited. */
  maxRequestsPerSecondPerAccessKey?: number;
  /**
   * Failed authentications per minute per source and kind before further attempts are refused and
   * counted instead of audited one by one (auth-failures.ts). Default 20; 0 turns the throttle off.
   */
  maxFailedAuthPerMinutePerSource?: number;
  /** Makes the store's commits durable (KmsDb.sync); run after each action that changed something. */
  syncStore?: () => Promise<void>;
}

function header(h: KmsHttpRequest["headers"], name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

export function bodyTooLarge() {
  return kmsError("EntityTooLarge", `The request body is larger than the limit of ${MAX_PARAM_BYTES} bytes.`);
}

const ISO_UTC = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?Z$/;

/** Merges the query string and a form (or JSON object) body; body values win. */
function mergeParams(req: KmsHttpRequest): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.query)) {
    const s = Array.isArray(v) ? v[0] : v;
    if (s !== undefined) out[k] = s;
  }
  if (req.rawBody.length > 0) {
    if (req.rawBody.length > MAX_PARAM_BYTES) throw bodyTooLarge();
    const type = (header(req.headers, "content-type") ?? "").toLowerCase();
    const text = req.rawBody.toString("utf8");
    if (type.includes("application/json")) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(text);
      } catch {
        throw kmsError("InvalidParameter", "request body: not valid JSON");
      }
      if (parsed !== null && typeof parsed === "object" && !Array.isArray(parsed)) {
        for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
          if (v === null || v === undefined) continue;
          out[k] = typeof v === "string" ? v : JSON.stringify(v);
        }
      }
    } else {
      for (const [k, v] of new URLSearchParams(text)) out[k] = v;
    }
  }
  return out;
}

/** How far a request's authentication got: what the failure budget of its source is charged for. */
interface AuthState {
  /** The signature matched: later failures are the caller's, not an authentication failure. */
  verified: boolean;
  /** The access key named exists (a bad signature then counts against that key's budget). */
  knownAccessKeyId: string | undefined;
}

const DEFAULT_FAILED_AUTH_PER_MINUTE = 20;
/** How often (at most) the summaries of refused attempts are written. */
const AUTH_SUMMARY_INTERVAL_MS = 60_000;
/** The one answer to an attempt whose source spent its failure budget (not audited one by one). */
const AUTH_BUDGET_SPENT = kmsError(
  "Rejected.Throttling",
  "Too many failed authentications from this source; retry later with valid credentials.",
);

interface Authenticated {
  accessKeyId: string;
  principal: string;
  action: string;
  version: string;
  timestamp: string;
  nonce: string;
}

/**
 * The request pipeline: parameters → access key → signature (V1 or V3, constant-time) → timestamp
 * window → nonce → action lookup → resource resolution → policy → action → audit. Every request,
 * allowed or not, leaves exactly one audit record and its response waits for it to be stored — except
 * the unauthenticated attempts a source makes after spending its failure budget, which are refused
 * and counted into one summary record a minute (auth-failures.ts).
 */
export class KmsRequestHandler {
  readonly #o: RequestHandlerOptions;
  readonly #clock: Clock;
  readonly #random: Random;
  readonly #logger: Logger;
  readonly #limiter: RateLimiter | undefined;
  readonly #authFailures: AuthFailureGuard | undefined;
  #lastSummaryFlushMs: number;

  constructor(options: RequestHandlerOptions) {
    this.#o = options;
    this.#clock = options.clock ?? systemClock;
    this.#random = options.random ?? systemRandom;
    this.#logger = options.logger ?? silentLogger();
    const rate = options.maxRequestsPerSecondPerAccessKey ?? 0;
    this.#limiter = rate > 0 ? new RateLimiter(rate, this.#clock) : undefined;
    const failures = options.maxFailedAuthPerMinutePerSource ?? DEFAULT_FAILED_AUTH_PER_MINUTE;
    this.#authFailures =
      failures > 0
        ? new AuthFailureGuard({ perMinute: failures, clock: this.#clock, random: this.#random })
        : undefined;
    this.#lastSummaryFlushMs = this.#clock.now();
  }

  /**
   * Writes one summary record per source budget that refused attempts since the last flush (the
   * server calls it once a minute and on close). Resolves when they are stored.
   */
  async flushAuthFailureSummaries(): Promise<void> {
    this.#lastSummaryFlushMs = this.#clock.now();
    const summaries = this.#authFailures?.drainSummaries() ?? [];
    await Promise.all(summaries.map((r) => this.#o.journal.appendAudit(r)));
  }

  /** Summaries are written by the first request a minute after the last flush (no timer of its own). */
  #flushSummariesWhenDue(now: number): void {
    if (this.#authFailures === undefined || now - this.#lastSummaryFlushMs < AUTH_SUMMARY_INTERVAL_MS) return;
    this.flushAuthFailureSummaries().catch((err: unknown) =>
      this.#logger.error(
        { err: err instanceof Error ? err.message : String(err) },
        "audit summary append failed",
      ),
    );
  }

  async handle(req: KmsHttpRequest): Promise<KmsHttpResponse> {
    const requestId = this.#random.uuid().toUpperCase();
    this.#flushSummariesWhenDue(this.#clock.now());
    const record: AuditRecord = {
      eventTime: this.#clock.now(),
      requestId,
      principal: "",
      accessKeyId: "",
      sourceIp: req.sourceIp,
      action: (
        header(req.headers, "x-acs-action") ?? (typeof req.query.Action === "string" ? req.query.Action : "")
      ).slice(0, 128),
      keyId: "",
      keyVersionId: "",
      outcome: "Failed",
      errorCode: "",
      clientUid: (header(req.headers, "x-atrest-uid") ?? "").slice(0, 128),
    };
    let response: KmsHttpResponse;
    let params: Record<string, string> = {};
    let format = fallbackResponseFormat(req.query);
    const authState: AuthState = { verified: false, knownAccessKeyId: undefined };
    try {
      params = mergeParams(req);
      format = parseResponseFormat(params.Format);
      if (record.action === "" && params.Action !== undefined) record.action = params.Action.slice(0, 128);
      if (record.clientUid === "" && params.ClientUid !== undefined)
        record.clientUid = params.ClientUid.slice(0, 128);
      const auth = await this.#authenticate(req, params, record, authState);
      record.action = auth.action.slice(0, 128);
      if (this.#limiter !== undefined && !this.#limiter.take(auth.accessKeyId)) {
        throw kmsError(
          "Rejected.Throttling",
          "Request was denied due to request throttling; retry with backoff.",
        );
      }
      const spec = actionSpec(auth.action);
      if (spec === undefined)
        throw kmsError(
          "InvalidAction.NotFound",
          "Specified api is not found, please check your url and method.",
        );
      if (auth.version !== API_VERSION) throw kmsError("InvalidVersion", `Version: must be ${API_VERSION}`);
      const ctx: ActionContext = {
        keys: this.#o.keys,
        access: this.#o.access,
        region: this.#o.region,
        accountId: this.#o.accountId,
        principal: auth.principal,
      };
      const prepared = await spec.prepare(params, ctx);
      const first = prepared.resources[0];
      if (first?.keyId !== undefined && first.keyId !== "") record.keyId = first.keyId;
      if (first?.keyVersionId !== undefined) record.keyVersionId = first.keyVersionId;
      await this.#authorize(auth, prepared.resources);
      // Only a caller allowed on what it named learns that it does not exist.
      const missing = prepared.resources.find((r) => r.notFound !== undefined)?.notFound;
      if (missing !== undefined) throw missing;
      const result = await prepared.run();
      if (spec.readOnly !== true) await this.#o.syncStore?.();
      if (result.keyId !== undefined) record.keyId = result.keyId;
      if (result.keyVersionId !== undefined) record.keyVersionId = result.keyVersionId;
      if (result.forced === true) record.forced = true;
      record.outcome = "Allowed";
      response = {
        status: 200,
        body: { ...result.body, RequestId: requestId },
        format,
        root: `${auth.action}Response`,
        action: auth.action,
        code: "OK",
      };
    } catch (caught) {
      const err = asStoreUnavailable(caught);
      const wire = toKmsWireError(err);
      const guard = this.#authFailures;
      if (!authState.verified && guard !== undefined && wire.status < 500) {
        // Unauthenticated: the source's failure budget decides between answering and auditing it,
        // and refusing it uncounted (auth-failures.ts).
        const budget =
          authState.knownAccessKeyId === undefined
            ? AuthFailureGuard.otherBudget(req.sourceIp)
            : AuthFailureGuard.keyBudget(req.sourceIp, authState.knownAccessKeyId);
        if (err === AUTH_BUDGET_SPENT || !guard.recordFailure(budget)) {
          guard.refused(budget, {
            sourceIp: req.sourceIp,
            accessKeyId: record.accessKeyId,
            principal: record.principal,
            action: record.action,
          });
          return this.#errorResponse(requestId, toKmsWireError(AUTH_BUDGET_SPENT), format, record.action);
        }
      }
      if (wire.status >= 500)
        this.#logger.error(
          { requestId, err: err instanceof Error ? err.message : String(err) },
          "request failed",
        );
      record.outcome =
        wire.code === "Forbidden.RAM" || wire.code === "InvalidAccessKeyId.NotFound" || isAuthCode(wire.code)
          ? "Denied"
          : "Failed";
      record.errorCode = wire.code;
      // A request refused before its key was resolved still names the key it asked for.
      if (record.keyId === "" && params.KeyId !== undefined) record.keyId = params.KeyId.slice(0, 128);
      response = this.#errorResponse(requestId, wire, format, record.action);
    }
    try {
      await this.#o.journal.appendAudit(record);
    } catch (err) {
      // No response without its audit record: a completed action whose record cannot be stored is
      // reported as unavailable, and its result (a ciphertext, a plaintext) is not released.
      this.#logger.error(
        { requestId, err: err instanceof Error ? err.message : String(err) },
        "audit append failed",
      );
      return this.#errorResponse(
        requestId,
        toKmsWireError(
          kmsError("ServiceUnavailableTemporary", "The audit trail is unavailable; retry later."),
        ),
        format,
        response.action,
      );
    }
    return response;
  }

  /**
   * The answer to a request that is not an API call (an unknown path, a method the API does not
   * take, a body over the limit): Alibaba-shaped like every other error, in the Format the query asks
   * for, counted in the metrics but not audited (nothing was authenticated or attempted).
   */
  refuse(query: KmsHttpRequest["query"], err: unknown): KmsHttpResponse {
    return this.#errorResponse(
      this.#random.uuid().toUpperCase(),
      toKmsWireError(err),
      fallbackResponseFormat(query),
      "",
    );
  }

  #errorResponse(
    requestId: string,
    wire: ReturnType<typeof toKmsWireError>,
    format: ResponseFormat,
    action: string,
  ): KmsHttpResponse {
    return {
      status: wire.status,
      body: {
        RequestId: requestId,
        HostId: this.#o.hostId,
        Code: wire.code,
        Message: wire.message,
        Recommend: recommend(wire.code, requestId),
      },
      format,
      root: "Error",
      action: actionSpec(action) === undefined ? "unknown" : action,
      code: wire.code,
    };
  }

  async #authenticate(
    req: KmsHttpRequest,
    params: Record<string, string>,
    record: AuditRecord,
    state: AuthState,
  ): Promise<Authenticated> {
    const authorization = header(req.headers, "authorization");
    let accessKeyId: string;
    let action: string;
    let version: string;
    let timestamp: string;
    let nonce: string;
    let verify: (secret: string) => boolean;

    if (authorization !== undefined && authorization.startsWith(V3_ALGORITHM)) {
      let parsed: ReturnType<typeof parseAuthorizationV3>;
      try {
        parsed = parseAuthorizationV3(authorization);
      } catch {
        throw kmsError(
          "IncompleteSignature",
          "The Authorization header is not a valid ACS3-HMAC-SHA256 authorization.",
        );
      }
      accessKeyId = parsed.accessKeyId;
      action = header(req.headers, "x-acs-action") ?? params.Action ?? "";
      version = header(req.headers, "x-acs-version") ?? params.Version ?? "";
      timestamp = header(req.headers, "x-acs-date") ?? "";
      nonce = header(req.headers, "x-acs-signature-nonce") ?? "";
      const signed = new Set(parsed.signedHeaders);
      for (const required of [
        "host",
        "x-acs-action",
        "x-acs-version",
        "x-acs-date",
        "x-acs-signature-nonce",
        "x-acs-content-sha256",
      ]) {
        if (!signed.has(required))
          throw kmsError("IncompleteSignature", `SignedHeaders: must include ${required}`);
      }
      const bodySha256Hex = createHash("sha256").update(req.rawBody).digest("hex");
      const claimed = header(req.headers, "x-acs-content-sha256") ?? "";
      const headers: Record<string, string> = {};
      for (const [k, v] of Object.entries(req.headers))
        if (v !== undefined) headers[k.toLowerCase()] = Array.isArray(v) ? v.join(",") : v;
      verify = (secret) => {
        if (!constantTimeEqual(claimed, bodySha256Hex)) return false;
        const expected = computeSignatureV3({
          method: req.method,
          pathname: req.pathname,
          query: req.query,
          headers,
          signedHeaders: parsed.signedHeaders,
          bodySha256Hex,
          accessKeySecret: secret,
        });
        return constantTimeEqual(expected, parsed.signature);
      };
    } else {
      if (params.Signature === undefined)
        throw kmsError(
          "MissingParameter",
          'The input parameter "Signature" that is mandatory for processing this request is not supplied.',
        );
      accessKeyId = params.AccessKeyId ?? "";
      if (accessKeyId === "")
        throw kmsError(
          "MissingParameter",
          'The input parameter "AccessKeyId" that is mandatory for processing this request is not supplied.',
        );
      if ((params.SignatureMethod ?? "") !== "HMAC-SHA1")
        throw kmsError("UnsupportedSignatureMethod", "SignatureMethod: must be HMAC-SHA1");
      if ((params.SignatureVersion ?? "1.0") !== "1.0")
        throw kmsError("InvalidParameter", "SignatureVersion: must be 1.0");
      action = params.Action ?? "";
      version = params.Version ?? "";
      timestamp = params.Timestamp ?? "";
      nonce = params.SignatureNonce ?? "";
      const provided = params.Signature;
      verify = (secret) => constantTimeEqual(computeSignatureV1(req.method, params, secret), provided);
    }
    record.accessKeyId = accessKeyId.slice(0, 128);
    const identity = await this.#o.access.lookupAccessKey(accessKeyId);
    if (identity === undefined)
      throw kmsError(
        "InvalidAccessKeyId.NotFound",
        "The Access Key ID provided does not exist in our records.",
      );
    record.principal = identity.principal;
    state.knownAccessKeyId = accessKeyId;
    // A spent budget refuses the attempt before its signature is even checked.
    if (this.#authFailures?.allows(AuthFailureGuard.keyBudget(req.sourceIp, accessKeyId)) === false)
      throw AUTH_BUDGET_SPENT;
    if (!verify(identity.secret)) {
      throw kmsError(
        "SignatureDoesNotMatch",
        "The request signature does not conform to Aliyun standards: the signature does not match.",
      );
    }
    state.verified = true;
    if (timestamp === "")
      throw kmsError(
        "MissingParameter",
        'The input parameter "Timestamp" that is mandatory for processing this request is not supplied.',
      );
    if (!ISO_UTC.test(timestamp))
      throw kmsError("InvalidTimeStamp.Format", "Timestamp: must be UTC ISO 8601 like 2026-01-01T00:00:00Z");
    const at = Date.parse(timestamp);
    const now = this.#clock.now();
    if (!Number.isFinite(at) || Math.abs(now - at) > TIMESTAMP_WINDOW_MS) {
      throw kmsError(
        "InvalidTimeStamp.Expired",
        "Specified time stamp or date value is expired (accepted: ±15 minutes of the server time).",
      );
    }
    if (nonce === "" || nonce.length > 128)
      throw kmsError(
        "MissingParameter",
        'The input parameter "SignatureNonce" (1-128 characters) is not supplied.',
      );
    // The nonce is remembered past the far edge of the window, so a replay is refused for as long as
    // its timestamp could be accepted.
    const fresh = await this.#o.journal.reserveNonce(
      accessKeyId,
      nonce,
      Math.max(at, now) + TIMESTAMP_WINDOW_MS + 60_000,
    );
    if (!fresh) throw kmsError("SignatureNonceUsed", "Specified signature nonce was used already.");
    if (action === "")
      throw kmsError(
        "MissingParameter",
        'The input parameter "Action" that is mandatory for processing this request is not supplied.',
      );
    return { accessKeyId, principal: identity.principal, action, version, timestamp, nonce };
  }

  async #authorize(auth: Authenticated, resources: readonly ResolvedResource[]): Promise<void> {
    const policies = await this.#o.access.policiesFor(auth.principal);
    const kmsAction = `kms:${auth.action}`;
    for (const r of resources) {
      const decisions = r.arns.map((resource) => evaluatePolicies(policies, { action: kmsAction, resource }));
      if (decisions.includes("deny") || !decisions.includes("allow")) {
        throw kmsError(
          "Forbidden.RAM",
          `User not authorized to operate on the specified resource: ${auth.principal} may not ${kmsAction} on ${r.arns[0] ?? "*"}.`,
        );
      }
    }
  }
}

const TRANSIENT_STORE_ERRORS = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "ETIMEDOUT",
  "EPIPE",
  "57P01",
  "57P02",
  "57P03",
  "53300",
  "40001",
  "40P01",
  "SQLITE_BUSY",
  "SQLITE_LOCKED",
]);

/** Key store outages (PostgreSQL down, connection limits, SQLite busy) are retryable 503s, not 500s. */
function asStoreUnavailable(err: unknown): unknown {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === "string" && (TRANSIENT_STORE_ERRORS.has(code) || code.startsWith("08"))) {
    return kmsError("ServiceUnavailableTemporary", "The key store is temporarily unavailable; retry later.", {
      cause: err,
    });
  }
  return err;
}

function isAuthCode(code: string): boolean {
  return (
    code === "SignatureDoesNotMatch" ||
    code === "SignatureNonceUsed" ||
    code.startsWith("InvalidTimeStamp") ||
    code === "IncompleteSignature"
  );
}

/** Alibaba's troubleshooting link, as its gateway writes it (code, product, request id). */
function recommend(code: string, requestId: string): string {
  return `https://api.aliyun.com/troubleshoot?q=${encodeURIComponent(code)}&product=Kms&requestId=${requestId}`;
}
