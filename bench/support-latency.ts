/**
 * Latency and throughput measurement shared by the request benchmarks (identity.ts,
 * control-plane.ts): sequential timings, a closed loop of N workers for a duration, and
 * p50/p99/max summaries in milliseconds. run.ts skips support-* files.
 */

function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

const ms = (v: number) => Math.round(v * 100) / 100;

export interface LatencySummary {
  readonly count: number;
  readonly p50Ms: number;
  readonly p99Ms: number;
  readonly maxMs: number;
}

export function summary(latencies: readonly number[]): LatencySummary {
  const s = [...latencies].sort((a, b) => a - b);
  return {
    count: s.length,
    p50Ms: ms(percentile(s, 50)),
    p99Ms: ms(percentile(s, 99)),
    maxMs: ms(s.at(-1) ?? 0),
  };
}

/** Runs f(0..n-1) one after another; resolves to each call's milliseconds. */
export async function timed(n: number, f: (i: number) => Promise<void>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await f(i);
    out.push(performance.now() - t0);
  }
  return out;
}

/** `concurrency` workers call f back to back for `durationMs`; calls per second, errors, latencies. */
export async function throughput(concurrency: number, durationMs: number, f: () => Promise<void>) {
  let n = 0;
  let errors = 0;
  let firstError: string | undefined;
  const latencies: number[] = [];
  const end = performance.now() + durationMs;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        const t0 = performance.now();
        try {
          await f();
          n++;
        } catch (err) {
          errors++;
          firstError ??= err instanceof Error ? err.message.slice(0, 200) : String(err);
        }
        latencies.push(performance.now() - t0);
      }
    }),
  );
  return {
    concurrency,
    perSec: Math.round(n / ((performance.now() - started) / 1000)),
    errors,
    ...(firstError === undefined ? {} : { firstError }),
    ...summary(latencies),
  };
}
