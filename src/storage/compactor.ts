import { systemClock, type Clock, type Timer } from "../common/clock.js";
import type { Store } from "./store.js";

/**
 * kube-apiserver's compactor (`--etcd-compaction-interval`, default 5 min): every interval, compact the
 * store at the revision seen one interval earlier, so watchers and paginated lists always have at least
 * one interval of history. SQLite needs it to keep its table small; etcd needs it too (its own
 * auto-compaction is usually off under Kubernetes).
 */
export interface CompactorOptions {
  /** Default 5 minutes, as kube-apiserver. 0 turns compaction off. */
  readonly intervalMs?: number;
  readonly clock?: Clock;
  /** Told about each compaction and each failure (failures are retried at the next tick). */
  readonly onCompacted?: (revision: number) => void;
  readonly onError?: (err: unknown) => void;
}

export interface Compactor {
  /** Runs one tick now (tests, shutdown); resolves when it is done. */
  tick(): Promise<void>;
  stop(): void;
}

export const DEFAULT_COMPACTION_INTERVAL_MS = 5 * 60_000;

export function startCompactor(store: Store, options: CompactorOptions = {}): Compactor {
  const clock = options.clock ?? systemClock;
  const intervalMs = options.intervalMs ?? DEFAULT_COMPACTION_INTERVAL_MS;
  let seen = 0;
  let compactedAt = 0;
  let timer: Timer | undefined;
  let stopped = false;
  let running: Promise<void> | undefined;

  const tick = (): Promise<void> => {
    running ??= (async () => {
      try {
        const current = await store.currentRevision();
        if (seen > compactedAt) {
          await store.compact(seen);
          compactedAt = seen;
          options.onCompacted?.(seen);
        }
        seen = current;
      } catch (err) {
        options.onError?.(err);
      } finally {
        running = undefined;
      }
    })();
    return running;
  };

  const schedule = (): void => {
    if (stopped || intervalMs <= 0) return;
    timer = clock.setTimeout(() => {
      void tick().finally(schedule);
    }, intervalMs);
    timer.unref?.();
  };
  schedule();

  return {
    tick,
    stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
    },
  };
}
