import type { Clock, Timer } from "../../common/clock.js";
import { KMS_V2_POLL_HEALTHY_INTERVAL_MS, KMS_V2_POLL_UNHEALTHY_INTERVAL_MS } from "./constants.js";

/**
 * kube-apiserver's primeAndProbeKMSv2 loop: one check at start (awaited: it primes the seed), then a
 * check every 60 s while healthy and every 10 s while not, on the injected clock. A check never runs
 * while the previous one is in flight: the next is scheduled when it has answered.
 */
export class StatusPoller {
  private timer: Timer | undefined;
  private polling = false;
  private last: Promise<boolean> = Promise.resolve(false);

  /** `check` resolves to whether the provider is healthy; it must not reject. */
  constructor(
    private readonly clock: Clock,
    private readonly check: () => Promise<boolean>,
  ) {}

  /** Starts polling with one check now; resolves to its outcome. Started twice: the last outcome. */
  start(): Promise<boolean> {
    if (this.polling) return this.last;
    this.polling = true;
    return this.poll();
  }

  /** Stops polling (a check in flight finishes but schedules nothing). */
  stop(): void {
    this.polling = false;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Resolves when the check started by the last timer tick has answered (for tests on a ManualClock). */
  async settled(): Promise<void> {
    await this.last;
  }

  private poll(): Promise<boolean> {
    this.last = this.check().then((healthy) => {
      if (this.polling) {
        this.timer = this.clock.setTimeout(
          () => {
            this.timer = undefined;
            void this.poll();
          },
          healthy ? KMS_V2_POLL_HEALTHY_INTERVAL_MS : KMS_V2_POLL_UNHEALTHY_INTERVAL_MS,
        );
        this.timer.unref?.();
      }
      return healthy;
    });
    return this.last;
  }
}
