import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { HotCounter } from "./hot-counter.js";
import type { TransformationObserver, TransformationRecord } from "../storage/transformation-record.js";

/** Prometheus metrics with kube-apiserver's names; one registry per server (several run in one test process). */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"verb" | "resource" | "code">;
  readonly duration: Histogram<"verb" | "resource">;
  readonly transformations: HotCounter<"transformation_type" | "transformer_prefix" | "status">;
  readonly transformationDuration: Histogram<"transformation_type" | "transformer_prefix">;

  constructor() {
    this.requests = new Counter({
      name: "apiserver_request_total",
      help: "Counter of apiserver requests broken out for each verb, resource and HTTP response code.",
      labelNames: ["verb", "resource", "code"],
      registers: [this.registry],
    });
    this.duration = new Histogram({
      name: "apiserver_request_duration_seconds",
      help: "Response latency distribution in seconds for each verb and resource.",
      labelNames: ["verb", "resource"],
      buckets: [0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 5, 10, 30, 60],
      registers: [this.registry],
    });
    this.transformations = new HotCounter(this.registry, {
      name: "apiserver_storage_transformation_operations_total",
      help: "Total number of transformations (encryption at rest), by type, provider prefix and status.",
      labelNames: ["transformation_type", "transformer_prefix", "status"],
    });
    this.transformationDuration = new Histogram({
      name: "apiserver_storage_transformation_duration_seconds",
      help: "Latencies in seconds of value transformation operations.",
      labelNames: ["transformation_type", "transformer_prefix"],
      buckets: [0.000005, 0.00001, 0.00005, 0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
      registers: [this.registry],
    });
  }

  /** kube's apiserver_current_inflight_requests, read from the in-flight limiter when scraped. */
  observeInflight(current: () => { readonly readonly: number; readonly mutating: number }): void {
    new Gauge({
      name: "apiserver_current_inflight_requests",
      help: "Maximal number of currently used inflight request limit of this apiserver per request kind in last second.",
      labelNames: ["request_kind"],
      registers: [this.registry],
      collect() {
        const now = current();
        this.set({ request_kind: "readOnly" }, now.readonly);
        this.set({ request_kind: "mutating" }, now.mutating);
      },
    });
  }

  /** Feeds the transformation metrics (prefixes name providers and keys, never key material). */
  transformationObserver(next?: TransformationObserver): TransformationObserver {
    return {
      observe: (op: TransformationRecord) => {
        const labels = {
          transformation_type: op.transformationType,
          transformer_prefix: op.transformerPrefix,
        };
        this.transformations.inc(`${op.transformationType}\0${op.transformerPrefix}\0${op.status}`, () => ({
          ...labels,
          status: op.status,
        }));
        this.transformationDuration.observe(labels, op.durationMs / 1000);
        next?.observe(op);
      },
    };
  }

  observe(verb: string, resource: string, code: number, seconds: number): void {
    this.requests.inc({ verb, resource, code: String(code) });
    // Watches are long-lived by design; kube keeps them out of the latency histogram too.
    if (verb !== "WATCH") this.duration.observe({ verb, resource }, seconds);
  }
}
