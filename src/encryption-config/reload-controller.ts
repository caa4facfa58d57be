/**
 * Automatic reload (kube-apiserver's `--encryption-provider-config-automatic-reload`): poll the file's
 * content hash; when it differs from the last *loaded* one, validate, build the new state, health-check its
 * KMS providers, and only then switch. An invalid or unhealthy file leaves the old configuration in place
 * and counts a failure (retried at every poll while the file stays that way, as kube does).
 */
import { readFile as fsReadFile } from "node:fs/promises";
import type { Clock, Timer } from "../common/clock.js";
import { wrapError, type AtrestError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { DynamicEncryptionState, EncryptionState } from "./encryption-state.js";
import { combinedCheck } from "./health.js";
import { contentHashOf, parseEncryptionConfiguration } from "./load.js";
import type { EncryptionConfiguration } from "./types.js";

/** kube-apiserver polls the file once a minute. */
export const DEFAULT_RELOAD_INTERVAL_MS = 60_000;
/** kube-apiserver keeps probing a new configuration's KMS providers for at least 10 s before giving up. */
export const DEFAULT_RELOAD_HEALTH_TIMEOUT_MS = 10_000;
export const DEFAULT_RELOAD_HEALTH_RETRY_MS = 100;

export type ReloadOutcome = "unchanged" | "success" | "failure";

export interface ReloadEvent {
  readonly status: "success" | "failure";
  /** Milliseconds since the epoch (the injected clock). */
  readonly atMs: number;
  readonly contentHash: string;
  readonly error?: AtrestError;
}

/** Counters for apiserver_encryption_config_controller_automatic_reloads_total{status} and …_last_timestamp_seconds{status}. */
export interface ReloadStats {
  readonly successTotal: number;
  readonly failureTotal: number;
  readonly lastSuccessTimestampSeconds?: number;
  readonly lastFailureTimestampSeconds?: number;
}

export interface ReloadControllerOptions {
  readonly path: string;
  readonly dynamic: DynamicEncryptionState;
  /** Turns a validated configuration into a state (clients created, probes started). */
  readonly build: (config: EncryptionConfiguration, contentHash: string) => Promise<EncryptionState>;
  readonly clock: Clock;
  readonly intervalMs?: number;
  readonly healthTimeoutMs?: number;
  readonly healthRetryMs?: number;
  readonly readFile?: (path: string) => Promise<Uint8Array>;
  readonly logger?: Logger;
  /** Called after every attempt that was not "unchanged" (the metrics wiring hooks in here). */
  readonly onReload?: (event: ReloadEvent) => void;
}

export class EncryptionConfigReloadController {
  private successTotal = 0;
  private failureTotal = 0;
  private lastSuccessMs: number | undefined;
  private lastFailureMs: number | undefined;
  private timer: Timer | undefined;
  private running: Promise<ReloadOutcome> | undefined;
  private stopped = true;

  constructor(private readonly options: ReloadControllerOptions) {}

  stats(): ReloadStats {
    return {
      successTotal: this.successTotal,
      failureTotal: this.failureTotal,
      ...(this.lastSuccessMs === undefined ? {} : { lastSuccessTimestampSeconds: this.lastSuccessMs / 1000 }),
      ...(this.lastFailureMs === undefined ? {} : { lastFailureTimestampSeconds: this.lastFailureMs / 1000 }),
    };
  }

  /** Starts polling every `intervalMs` on the injected clock. */
  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    this.schedule();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.options.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.stopped) return;
    this.timer = this.options.clock.setTimeout(() => {
      this.timer = undefined;
      void this.checkNow().finally(() => this.schedule());
    }, this.options.intervalMs ?? DEFAULT_RELOAD_INTERVAL_MS);
    this.timer.unref?.();
  }

  /** One poll: compare the hash, and reload when it changed. Concurrent calls share one attempt. */
  checkNow(): Promise<ReloadOutcome> {
    this.running ??= this.attempt().finally(() => {
      this.running = undefined;
    });
    return this.running;
  }

  private async attempt(): Promise<ReloadOutcome> {
    const { path, dynamic, clock, logger } = this.options;
    let data: Uint8Array;
    try {
      data = await (this.options.readFile ?? fsReadFile)(path);
    } catch (err) {
      return this.fail(
        "",
        wrapError(err, `error reading encryption provider configuration file "${path}"`, "invalid-argument"),
      );
    }
    const contentHash = contentHashOf(data);
    if (contentHash === dynamic.state.contentHash) return "unchanged";

    let next: EncryptionState;
    try {
      const { config } = parseEncryptionConfiguration(data, { reload: true, source: path });
      next = await this.options.build(config, contentHash);
    } catch (err) {
      return this.fail(contentHash, wrapError(err, "error while building transformers", "invalid-argument"));
    }

    const healthy = await this.waitHealthy(next);
    if (healthy !== undefined) {
      next.close();
      return this.fail(contentHash, healthy);
    }

    dynamic.swap(next);
    this.successTotal++;
    this.lastSuccessMs = clock.now();
    logger?.info({ contentHash }, "encryption configuration reloaded");
    this.notify({ status: "success", atMs: this.lastSuccessMs, contentHash });
    return "success";
  }

  /** Probes the new state's KMS providers until healthy or the timeout; returns the last error. */
  private async waitHealthy(state: EncryptionState): Promise<AtrestError | undefined> {
    const { clock } = this.options;
    const check = combinedCheck(state.kmsChecks);
    const deadline = clock.now() + (this.options.healthTimeoutMs ?? DEFAULT_RELOAD_HEALTH_TIMEOUT_MS);
    for (;;) {
      try {
        await check.check();
        return undefined;
      } catch (err) {
        const error = wrapError(err, "new encryption configuration is not healthy", "unavailable");
        if (clock.now() + (this.options.healthRetryMs ?? DEFAULT_RELOAD_HEALTH_RETRY_MS) > deadline)
          return error;
      }
      await new Promise<void>((resolve) =>
        clock.setTimeout(resolve, this.options.healthRetryMs ?? DEFAULT_RELOAD_HEALTH_RETRY_MS),
      );
    }
  }

  private fail(contentHash: string, error: AtrestError): ReloadOutcome {
    this.failureTotal++;
    this.lastFailureMs = this.options.clock.now();
    this.options.logger?.warn(
      { contentHash, code: error.code, err: error.message },
      "encryption configuration reload failed",
    );
    this.notify({ status: "failure", atMs: this.lastFailureMs, contentHash, error });
    return "failure";
  }

  private notify(event: ReloadEvent): void {
    try {
      this.options.onReload?.(event);
    } catch (err) {
      // A broken hook must not stop the controller.
      this.options.logger?.error(
        { err: err instanceof Error ? err.message : String(err) },
        "encryption configuration reload hook failed",
      );
    }
  }
}
