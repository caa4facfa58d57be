/**
 * KMS health checks named and behaving as kube-apiserver's (`/healthz/kms-provider-N`, or one
 * `/healthz/kms-providers`): a v1 probe encrypts and decrypts "ping", a v2 probe calls Status and checks
 * healthz "ok", the API version and the key_id. A result is reused for 20 s after success and 3 s after
 * failure, so a busy /healthz does not hammer the plugin.
 */
import { AtrestError } from "../common/errors.js";
import type { Clock } from "../common/clock.js";
import { keyIdHash } from "../common/key-id-hash.js";
import type { KmsV1Service, KmsV2Service, StatusResponse } from "../envelope/kms-service.js";

export interface HealthCheck {
  /** `kms-provider-0`, `kms-provider-1`, … or `kms-providers`. */
  readonly name: string;
  /** Resolves when healthy; rejects with an AtrestError ("unavailable") saying what is wrong. */
  check(): Promise<void>;
}

// Never change without reason: kube-apiserver's kmsPluginHealthzPositiveTTL / NegativeTTL.
export const KMS_HEALTH_POSITIVE_TTL_MS = 20_000;
export const KMS_HEALTH_NEGATIVE_TTL_MS = 3_000;
/** The automatic-reload check's name, also used when only KMS v2 providers are configured. */
export const KMS_RELOAD_HEALTH_CHECK_NAME = "kms-providers";

const MAX_KEY_ID_BYTES = 1024;

/** Reuses the last result for its TTL; concurrent callers share one probe in flight. */
abstract class CachedProbe {
  private last: { at: number; ttlMs: number; error: Error | undefined } | undefined;
  private inFlight: Promise<void> | undefined;

  constructor(
    readonly providerName: string,
    protected readonly clock: Clock,
  ) {}

  check(): Promise<void> {
    const last = this.last;
    if (last !== undefined && this.clock.now() - last.at < last.ttlMs) {
      return last.error === undefined ? Promise.resolve() : Promise.reject(last.error);
    }
    this.inFlight ??= this.probe().then(
      () => {
        this.last = { at: this.clock.now(), ttlMs: KMS_HEALTH_POSITIVE_TTL_MS, error: undefined };
        this.inFlight = undefined;
      },
      (err: unknown) => {
        const error = err instanceof Error ? err : new Error(String(err));
        this.last = { at: this.clock.now(), ttlMs: KMS_HEALTH_NEGATIVE_TTL_MS, error };
        this.inFlight = undefined;
        throw error;
      },
    );
    return this.inFlight;
  }

  protected abstract probe(): Promise<void>;
}

function unhealthy(message: string, cause?: unknown): AtrestError {
  const code =
    cause instanceof AtrestError && cause.code === "deadline-exceeded" ? "deadline-exceeded" : "unavailable";
  return new AtrestError(code, message, cause === undefined ? {} : { cause });
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

export class KmsV1Probe extends CachedProbe {
  constructor(
    providerName: string,
    private readonly service: KmsV1Service,
    clock: Clock,
  ) {
    super(providerName, clock);
  }

  protected async probe(): Promise<void> {
    let ciphertext: Buffer;
    try {
      ciphertext = await this.service.encrypt(Buffer.from("ping"));
    } catch (err) {
      throw unhealthy(
        `failed to perform encrypt section of the healthz check for KMS Provider ${this.providerName}, error: ${messageOf(err)}`,
        err,
      );
    }
    try {
      await this.service.decrypt(ciphertext);
    } catch (err) {
      throw unhealthy(
        `failed to perform decrypt section of the healthz check for KMS Provider ${this.providerName}, error: ${messageOf(err)}`,
        err,
      );
    }
  }
}

export interface KmsV2ProbeOptions {
  /**
   * Called with every Status response that passed the checks (for the DEK state: a new key_id means a
   * new seed). A rejection makes the provider unhealthy.
   */
  readonly onHealthyStatus?: (status: StatusResponse) => Promise<void> | void;
}

export class KmsV2Probe extends CachedProbe {
  private version: string | undefined;

  constructor(
    providerName: string,
    private readonly service: KmsV2Service,
    clock: Clock,
    private readonly options: KmsV2ProbeOptions = {},
  ) {
    super(providerName, clock);
  }

  protected async probe(): Promise<void> {
    let status: StatusResponse;
    try {
      status = await this.service.status();
    } catch (err) {
      throw unhealthy(
        `failed to perform status section of the healthz check for KMS Provider ${this.providerName}, error: ${messageOf(err)}`,
        err,
      );
    }
    const problems: string[] = [];
    if (status.healthz !== "ok") problems.push(`got unexpected healthz status: ${status.healthz}`);
    if (status.version !== "v2" && status.version !== "v2beta1") {
      problems.push(`expected KMSv2 API version v2, got ${status.version}`);
    } else {
      this.version ??= status.version;
      if (this.version !== status.version) {
        problems.push(
          `KMSv2 API version should not change after the initial status response version ${this.version}, got ${status.version}`,
        );
      }
    }
    const keyIdBytes = Buffer.byteLength(status.keyId, "utf8");
    if (keyIdBytes === 0) problems.push(`got invalid KMSv2 KeyID hash "": keyID is empty`);
    else if (keyIdBytes > MAX_KEY_ID_BYTES) {
      problems.push(
        `got invalid KMSv2 KeyID hash "${keyIdHash(status.keyId)}": keyID is ${keyIdBytes} bytes, which exceeds the max size of ${MAX_KEY_ID_BYTES}`,
      );
    } else if (problems.length === 0 && this.options.onHealthyStatus !== undefined) {
      try {
        await this.options.onHealthyStatus(status);
      } catch (err) {
        problems.push(messageOf(err));
      }
    }
    if (problems.length > 0) {
      const detail = problems.length === 1 ? problems[0]! : `[${problems.join(", ")}]`;
      throw unhealthy(`kmsv2 Provider ${this.providerName} is not healthy, error: ${detail}`);
    }
  }
}

/** One named check per probe: `kms-provider-<index>`. */
export function namedCheck(index: number, probe: { check(): Promise<void> }): HealthCheck {
  return { name: `kms-provider-${index}`, check: () => probe.check() };
}

/** kube-apiserver's `kmsHealthChecker`: every check in turn, failures as `<name>: <error>`. */
export function combinedCheck(checks: readonly HealthCheck[]): HealthCheck {
  return {
    name: KMS_RELOAD_HEALTH_CHECK_NAME,
    async check() {
      const failures: Array<{ name: string; err: unknown }> = [];
      for (const c of checks) {
        try {
          await c.check();
        } catch (err) {
          failures.push({ name: c.name, err });
        }
      }
      if (failures.length === 0) return;
      const lines = failures.map((f) => `${f.name}: ${messageOf(f.err)}`);
      const message = lines.length === 1 ? lines[0]! : `[${lines.join(", ")}]`;
      const first = failures[0]!.err;
      throw new AtrestError(first instanceof AtrestError ? first.code : "unavailable", message, {
        cause: first,
      });
    },
  };
}
