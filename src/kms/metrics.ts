import { Counter, Histogram, Registry } from "prom-client";

/**
 * Prometheus metrics of one KMS server (its own registry, so several servers can run in a process).
 * Labels are bounded: known action names (or "unknown") and Alibaba error codes; no key ids.
 */
export class KmsMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"action" | "code">;
  readonly latency: Histogram<"action">;

  constructor() {
    this.requests = new Counter({
      name: "atrest_kms_requests_total",
      help: "KMS API requests by action and result code (OK or the Alibaba error code)",
      labelNames: ["action", "code"],
      registers: [this.registry],
    });
    this.latency = new Histogram({
      name: "atrest_kms_request_duration_seconds",
      help: "KMS API request latency by action, including signature check and audit write",
      labelNames: ["action"],
      buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5],
      registers: [this.registry],
    });
  }
}
