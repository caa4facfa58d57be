/**
 * Timers of any length. Node's setTimeout takes at most 2^31 − 1 ms (about 24.8 days): a longer delay
 * (a watch's `timeoutSeconds=3000000`) is taken as 1 ms and fires at once, with only a warning. These
 * helpers wait in hops of at most that much, so a long delay is honoured and Infinity never fires.
 */

/** The longest delay Node's timers honour. */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export interface LongTimer {
  /** Cancels it (idempotent). */
  clear(): void;
  /** Does not keep the process alive (as Timeout.unref). */
  unref(): LongTimer;
}

/** Calls `fn` once after `ms` milliseconds, however long; NaN or negative is as soon as possible. */
export function setLongTimeout(
  fn: () => void,
  ms: number,
  /** The longest single hop (tests shorten it). */
  maxHopMs = MAX_TIMER_DELAY_MS,
): LongTimer {
  let remaining = Number.isNaN(ms) ? 0 : Math.max(0, ms);
  let referenced = true;
  let cleared = false;
  let timer: ReturnType<typeof setTimeout>;
  const arm = (): void => {
    const hop = Math.min(remaining, maxHopMs);
    remaining -= hop;
    timer = setTimeout(() => {
      if (cleared) return;
      if (remaining > 0) arm();
      else fn();
    }, hop);
    if (!referenced) timer.unref();
  };
  arm();
  const handle: LongTimer = {
    clear() {
      cleared = true;
      clearTimeout(timer);
    },
    unref() {
      referenced = false;
      timer.unref();
      return handle;
    },
  };
  return handle;
}
