import type { Clock } from "../common/clock.js";
import type { AtrestError } from "../common/errors.js";

// Never change without reason: kube-apiserver's kmsPluginHealthzPositiveTTL / kmsPluginHealthzNegativeTTL.
/** A KMS provider's health result is reused this long after a success… */
export const KMS_HEALTH_POSITIVE_TTL_MS = 20_000;
/** …and this long after a failure, so a busy /healthz does not hammer the plugin. */
export const KMS_HEALTH_NEGATIVE_TTL_MS = 3_000;

/**
 * The health result of one KMS provider (v1 and v2 alike, as kube-apiserver's probes keep it): the last
 * result is reused for its TTL, and concurrent callers share the one probe in flight.
 */
export class HealthResultCache {
  private last: { readonly atMs: number; readonly ttlMs: number; readonly error?: AtrestError } | undefined;
  private inFlight: Promise<void> | undefined;

  /** `probe` resolves when healthy and rejects with the AtrestError that says what is wrong. */
  constructor(
    private readonly clock: Clock,
    private readonly probe: () => Promise<void>,
  ) {}

  check(): Promise<void> {
    const last = this.last;
    if (last !== undefined && this.clock.now() - last.atMs < last.ttlMs) {
      return last.error === undefined ? Promise.resolve() : Promise.reject(last.error);
    }
    this.inFlight ??= this.probe().then(
      () => {
        this.last = { atMs: this.clock.now(), ttlMs: KMS_HEALTH_POSITIVE_TTL_MS };
        this.inFlight = undefined;
      },
      (error: AtrestError) => {
        this.last = { atMs: this.clock.now(), ttlMs: KMS_HEALTH_NEGATIVE_TTL_MS, error };
        this.inFlight = undefined;
        throw error;
      },
    );
    return this.inFlight;
  }

  /** undefined before the first result. */
  get healthy(): boolean | undefined {
    return this.last === undefined ? undefined : this.last.error === undefined;
  }
}
