/**
 * What a loaded configuration becomes: a transformer per resource plus the KMS health checks, and the
 * clients to close when it is replaced. `DynamicEncryptionState` is kube-apiserver's DynamicTransformers:
 * callers hold per-resource transformers that always use the current state, so a reload swaps everything
 * at once without anyone re-fetching.
 */
import type { Clock } from "../common/clock.js";
import type { ReadResult, TransformContext, Transformer } from "../envelope/transformer.js";
import type { GroupResource } from "./group-resource.js";
import { KMS_RELOAD_HEALTH_CHECK_NAME, combinedCheck, type HealthCheck } from "./health.js";
import type { KmsApiVersion } from "./types.js";

export interface EncryptionState {
  /** The prefix chain for `resource` (`<resource>.<group>`, or `secrets` for core); identity when no rule matches. */
  transformerFor(resource: string | GroupResource): Transformer;
  /** `kms-provider-N` per KMS provider, or the single `kms-providers` check (reload on, or only v2). */
  readonly healthChecks: readonly HealthCheck[];
  /** Every KMS provider's check (`kms-provider-N`), uncollapsed: what reload verifies before switching. */
  readonly kmsChecks: readonly HealthCheck[];
  /** The KMS providers in file order (index N is `kms-provider-N`). */
  readonly kmsProviders: ReadonlyArray<{
    readonly name: string;
    readonly apiVersion: KmsApiVersion;
    readonly check: HealthCheck;
  }>;
  /** `sha256:<hex>` of the file this state came from ("" when built from a value). */
  readonly contentHash: string;
  /** How long in-flight KMS calls may still need the clients after a swap (kube: 2 × the sum of timeouts). */
  readonly closeGracePeriodMs: number;
  /** Stops background probes and closes the KMS clients. Idempotent. */
  close(): void;
}

/** Holds the current state; hands out transformers and a health check that follow every swap. */
export class DynamicEncryptionState {
  private current: EncryptionState;
  private readonly closeTimers = new Set<{
    timer: ReturnType<Clock["setTimeout"]>;
    state: EncryptionState;
  }>();

  constructor(
    initial: EncryptionState,
    private readonly clock: Clock,
  ) {
    this.current = initial;
  }

  get state(): EncryptionState {
    return this.current;
  }

  /** A transformer that resolves `resource` against whichever state is current at each call. */
  transformerFor(resource: string | GroupResource): Transformer {
    return {
      transformFromStorage: (data: Uint8Array, ctx: TransformContext): Promise<ReadResult> =>
        this.current.transformerFor(resource).transformFromStorage(data, ctx),
      transformToStorage: (plaintext: Uint8Array, ctx: TransformContext): Promise<Buffer> =>
        this.current.transformerFor(resource).transformToStorage(plaintext, ctx),
    };
  }

  /** The `kms-providers` check of the current state (present even with no KMS provider, as in kube). */
  readonly healthCheck: HealthCheck = {
    name: KMS_RELOAD_HEALTH_CHECK_NAME,
    check: () => combinedCheck(this.current.kmsChecks).check(),
  };

  /** Switches to `next` atomically; the old state is closed after its grace period. */
  swap(next: EncryptionState): void {
    const old = this.current;
    this.current = next;
    if (old === next) return;
    const entry = {
      timer: this.clock.setTimeout(() => this.closeNow(entry), old.closeGracePeriodMs),
      state: old,
    };
    entry.timer.unref?.();
    this.closeTimers.add(entry);
  }

  private closeNow(entry: { timer: ReturnType<Clock["setTimeout"]>; state: EncryptionState }): void {
    this.closeTimers.delete(entry);
    entry.state.close();
  }

  /** Closes the current state and any old state still waiting for its grace period. */
  close(): void {
    for (const entry of [...this.closeTimers]) {
      this.clock.clearTimeout(entry.timer);
      this.closeNow(entry);
    }
    this.current.close();
  }
}
