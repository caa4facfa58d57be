/**
 * KMS health checks named and combined as kube-apiserver's (`/healthz/kms-provider-N`, or one
 * `/healthz/kms-providers`). Each check is its provider's own (src/envelope: KMS v1 encrypts and decrypts
 * "ping", KMS v2 is the runtime's Status check); results are reused 20 s / 3 s there.
 */
import { AtrestError } from "../common/errors.js";

export interface HealthCheck {
  /** `kms-provider-0`, `kms-provider-1`, … or `kms-providers`. */
  readonly name: string;
  /** Resolves when healthy; rejects with an AtrestError ("unavailable") saying what is wrong. */
  check(): Promise<void>;
}

/** The automatic-reload check's name, also used when only KMS v2 providers are configured. */
export const KMS_RELOAD_HEALTH_CHECK_NAME = "kms-providers";

/** One named check per KMS provider: `kms-provider-<index>`, in file order. */
export function namedCheck(index: number, check: () => Promise<void>): HealthCheck {
  return { name: `kms-provider-${index}`, check };
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
      const lines = failures.map(
        (f) => `${f.name}: ${f.err instanceof Error ? f.err.message : String(f.err)}`,
      );
      const message = lines.length === 1 ? lines[0]! : `[${lines.join(", ")}]`;
      const first = failures[0]!.err;
      throw new AtrestError(first instanceof AtrestError ? first.code : "unavailable", message, {
        cause: first,
      });
    },
  };
}
