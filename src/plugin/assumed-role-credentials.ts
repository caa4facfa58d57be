/**
 * KMS credentials obtained by assuming a role through STS (AssumeRole, 2015-04-01) with the official
 * `@alicloud/sts20150401` client, and renewed before they expire: the plugin holds only a credential
 * that may assume its role (a service principal's key, or a RAM user's), and every KMS call runs on a
 * temporary `STS.` key of that role — audited as the assumed role, session named after the cluster.
 *
 * Renewal starts when 30% of a session's life is left (for sessions of a minute or more, at least 10 s
 * before the end); a failed renewal
 * is retried (backing off, within the remaining life) while the current credentials keep serving, so a
 * short STS outage costs no KMS call. Calls take one snapshot of all three values.
 */
import { createRequire } from "node:module";
import { systemClock, type Clock, type Timer } from "../common/clock.js";
import { AtrestError } from "../common/errors.js";
import { silentLogger, type Logger } from "../common/logger.js";
import type { AlibabaCredentials } from "./alibaba-backend.js";

const require = createRequire(import.meta.url);

interface StsModule {
  default: new (config: unknown) => {
    assumeRoleWithOptions(request: unknown, runtime: unknown): Promise<{ body: AssumeRoleBody }>;
  };
  AssumeRoleRequest: new (v: Record<string, unknown>) => unknown;
}
interface AssumeRoleBody {
  credentials?: {
    accessKeyId?: string;
    accessKeySecret?: string;
    securityToken?: string;
    expiration?: string;
  };
}
const stsSdk = require("@alicloud/sts20150401") as StsModule;
const openapiCore = require("@alicloud/openapi-core") as {
  $OpenApiUtil: { Config: new (c: Record<string, unknown>) => unknown };
};
const dara = require("@darabonba/typescript") as {
  RuntimeOptions: new (c: Record<string, unknown>) => unknown;
};

export interface AssumeRoleSettings {
  /** `https://host[:port]` of STS (atrest's identity endpoint, or Alibaba Cloud's `sts.aliyuncs.com`). */
  readonly stsEndpoint: string;
  /** `acs:ram::<account>:role/<name>`. */
  readonly roleArn: string;
  /** Names the caller in the audit trail: for a cluster's plugin, the cluster. */
  readonly roleSessionName: string;
  /** 900..the role's MaxSessionDuration; default 3600. */
  readonly durationSeconds?: number;
}

/** The share of a session's life left when its renewal starts. */
const RENEW_WHEN_LEFT = 0.3;
const MIN_RENEW_LEAD_MS = 10_000;

export class AssumedRoleCredentials {
  readonly #o: AssumeRoleSettings & { base: AlibabaCredentials; regionId: string; caPem?: string };
  readonly #clock: Clock;
  readonly #logger: Logger;
  readonly #client: InstanceType<StsModule["default"]>;
  #current: (AlibabaCredentials & { expiresAtMs: number; obtainedAtMs: number }) | undefined;
  #timer: Timer | undefined;
  #closed = false;
  #renewals = 0;

  constructor(
    options: AssumeRoleSettings & { base: AlibabaCredentials; regionId: string; caPem?: string },
    deps: { clock?: Clock; logger?: Logger } = {},
  ) {
    this.#o = options;
    this.#clock = deps.clock ?? systemClock;
    this.#logger = deps.logger ?? silentLogger();
    let url: URL;
    try {
      url = new URL(options.stsEndpoint);
    } catch (cause) {
      throw new AtrestError(
        "invalid-argument",
        `--sts-endpoint ${JSON.stringify(options.stsEndpoint)} is not a URL`,
        { cause },
      );
    }
    if ((url.protocol !== "https:" && url.protocol !== "http:") || url.pathname !== "/" || url.search !== "")
      throw new AtrestError(
        "invalid-argument",
        "--sts-endpoint must be https://host[:port] (http:// for tests)",
      );
    this.#client = new stsSdk.default(
      new openapiCore.$OpenApiUtil.Config({
        accessKeyId: options.base.accessKeyId,
        accessKeySecret: options.base.accessKeySecret,
        ...(options.base.securityToken === undefined ? {} : { securityToken: options.base.securityToken }),
        endpoint: url.host,
        protocol: url.protocol.replace(":", ""),
        regionId: options.regionId,
        ...(options.caPem === undefined ? {} : { ca: options.caPem }),
        connectTimeout: 5_000,
        readTimeout: 10_000,
      }),
    );
  }

  /** How many times the credentials were renewed (metrics, tests). */
  get renewals(): number {
    return this.#renewals;
  }

  /** Assumes the role for the first time; fails with the STS error when it cannot. */
  async start(): Promise<void> {
    this.#current = await this.#assume();
    this.#schedule();
  }

  /** The credentials to sign the next call with (one consistent snapshot). */
  current(): AlibabaCredentials {
    const c = this.#current;
    if (c === undefined)
      throw new AtrestError("failed-precondition", "the role was not assumed yet (start() first)");
    return {
      accessKeyId: c.accessKeyId,
      accessKeySecret: c.accessKeySecret,
      ...(c.securityToken === undefined ? {} : { securityToken: c.securityToken }),
    };
  }

  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
  }

  async #assume(): Promise<AlibabaCredentials & { expiresAtMs: number; obtainedAtMs: number }> {
    const obtainedAtMs = this.#clock.now();
    let body: AssumeRoleBody;
    try {
      body = (
        await this.#client.assumeRoleWithOptions(
          new stsSdk.AssumeRoleRequest({
            roleArn: this.#o.roleArn,
            roleSessionName: this.#o.roleSessionName,
            durationSeconds: this.#o.durationSeconds ?? 3600,
          }),
          new dara.RuntimeOptions({
            ...(this.#o.caPem === undefined ? {} : { ca: this.#o.caPem }),
            autoretry: false,
          }),
        )
      ).body;
    } catch (err) {
      const e = err as { code?: unknown; statusCode?: unknown; message?: unknown };
      const code = typeof e.code === "string" ? e.code : "unknown";
      const status = typeof e.statusCode === "number" ? e.statusCode : 0;
      throw new AtrestError(
        status === 403 || status === 404
          ? "permission-denied"
          : status >= 400 && status < 500
            ? "invalid-argument"
            : "unavailable",
        `STS AssumeRole of ${this.#o.roleArn} failed: ${code}`,
        { cause: err, details: { acsCode: code, httpStatus: status } },
      );
    }
    const c = body.credentials;
    const expiresAtMs = Date.parse(c?.expiration ?? "");
    if (!c?.accessKeyId || !c.accessKeySecret || !c.securityToken || !Number.isFinite(expiresAtMs))
      throw new AtrestError("unavailable", "STS AssumeRole answered without complete Credentials");
    return {
      accessKeyId: c.accessKeyId,
      accessKeySecret: c.accessKeySecret,
      securityToken: c.securityToken,
      expiresAtMs,
      obtainedAtMs,
    };
  }

  #schedule(failures = 0): void {
    if (this.#closed || this.#current === undefined) return;
    const left = this.#current.expiresAtMs - this.#clock.now();
    const lifetime = this.#current.expiresAtMs - this.#current.obtainedAtMs;
    let wait: number;
    if (failures === 0) {
      const lead =
        lifetime >= 60_000
          ? Math.max(MIN_RENEW_LEAD_MS, lifetime * RENEW_WHEN_LEFT)
          : lifetime * RENEW_WHEN_LEFT;
      wait = Math.max(0, left - lead);
    } else {
      // Retry within what is left, more often as the end nears; after the end, once a second.
      wait = left <= 0 ? 1000 : Math.min(30_000, Math.max(100, left / 4));
    }
    this.#timer = this.#clock.setTimeout(() => void this.#renew(failures), wait);
    this.#timer.unref?.();
  }

  async #renew(failures: number): Promise<void> {
    if (this.#closed) return;
    try {
      const next = await this.#assume();
      if (this.#closed) return;
      this.#current = next;
      this.#renewals += 1;
      this.#logger.info(
        { roleArn: this.#o.roleArn, expiresAt: new Date(next.expiresAtMs).toISOString() },
        "sts credentials renewed",
      );
      this.#schedule();
    } catch (err) {
      this.#logger.warn(
        { roleArn: this.#o.roleArn, err: err instanceof Error ? err.message : String(err) },
        "sts credentials renewal failed; retrying",
      );
      this.#schedule(failures + 1);
    }
  }
}
