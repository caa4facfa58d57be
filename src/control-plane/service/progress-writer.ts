import type { Clock, Timer } from "../../common/clock.js";

/**
 * How often a running task's stages and progress reach the database at most: often enough for a live
 * progress bar (the console polls every second), never a write per Secret — changes in between are
 * coalesced into the next write.
 */
export const PROGRESS_PERSIST_MS = 1_000;

/**
 * Coalesces a task's changes into at most one write per `intervalMs`: `touch()` marks it changed; the
 * first touch after a quiet period writes at once, later ones within the interval are written together
 * when it ends. One write at a time; a failed write is tried again an interval later.
 */
export class CoalescingWriter {
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #write: () => Promise<void>;
  readonly #onError: (err: unknown) => void;
  #dirty = false;
  #lastWriteAt = Number.NEGATIVE_INFINITY;
  #timer: Timer | undefined;
  #inFlight: Promise<void> | undefined;
  #closed = false;

  constructor(options: {
    clock: Clock;
    intervalMs?: number;
    write: () => Promise<void>;
    onError: (err: unknown) => void;
  }) {
    this.#clock = options.clock;
    this.#intervalMs = options.intervalMs ?? PROGRESS_PERSIST_MS;
    this.#write = options.write;
    this.#onError = options.onError;
  }

  /** Something changed: written now, or at the end of the current interval. */
  touch(): void {
    if (this.#closed) return;
    this.#dirty = true;
    this.#schedule();
  }

  /** Writes what is pending now (the lease renewal, the end of the task) and waits for it. */
  async flush(): Promise<void> {
    await this.#inFlight;
    if (!this.#dirty) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#run();
  }

  /** Stops writing; what is pending stays unwritten (the caller writes the final state itself). */
  close(): void {
    this.#closed = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(): void {
    if (this.#timer !== undefined || this.#inFlight !== undefined) return;
    const wait = Math.max(0, this.#lastWriteAt + this.#intervalMs - this.#clock.now());
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (!this.#closed) void this.#run();
    }, wait);
    this.#timer.unref?.();
  }

  #run(): Promise<void> {
    this.#dirty = false;
    this.#lastWriteAt = this.#clock.now();
    const run = this.#write()
      .catch((err: unknown) => {
        this.#dirty = true;
        this.#onError(err);
      })
      .finally(() => {
        this.#inFlight = undefined;
        if (this.#dirty && !this.#closed) this.#schedule();
      });
    this.#inFlight = run;
    return run;
  }
}
