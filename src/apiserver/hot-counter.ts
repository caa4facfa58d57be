import { Counter, Gauge, type Registry } from "prom-client";

/**
 * A Prometheus counter (and optionally a last-seen timestamp gauge) for the storage hot path: every
 * object read or written bumps one, and prom-client's per-call label validation and hashing cost as
 * much as decrypting a small value. Here a call is one Map lookup; the totals are handed to prom-client
 * when /metrics is scraped.
 */
export class HotCounter<L extends string> {
  private readonly counts = new Map<string, { labels: Record<L, string>; n: number; lastMs: number }>();

  constructor(
    registry: Registry,
    options: {
      readonly name: string;
      readonly help: string;
      readonly labelNames: readonly L[];
      /** Also publish `<timestampName>` = seconds of the last increment per label set. */
      readonly timestamp?: { readonly name: string; readonly help: string };
    },
  ) {
    const counts = this.counts;
    new Counter<L>({
      name: options.name,
      help: options.help,
      labelNames: options.labelNames,
      registers: [registry],
      collect() {
        this.reset();
        for (const { labels, n } of counts.values()) this.inc(labels, n);
      },
    });
    if (options.timestamp !== undefined) {
      new Gauge<L>({
        name: options.timestamp.name,
        help: options.timestamp.help,
        labelNames: options.labelNames,
        registers: [registry],
        collect() {
          this.reset();
          for (const { labels, lastMs } of counts.values()) this.set(labels, lastMs / 1000);
        },
      });
    }
  }

  /** `key` must identify the label set; `labels` is called only the first time a key is seen. */
  inc(key: string, labels: () => Record<L, string>, nowMs = 0): void {
    const entry = this.counts.get(key);
    if (entry !== undefined) {
      entry.n++;
      entry.lastMs = nowMs;
    } else this.counts.set(key, { labels: labels(), n: 1, lastMs: nowMs });
  }

  /** The count for a label set (tests). */
  value(key: string): number {
    return this.counts.get(key)?.n ?? 0;
  }
}
