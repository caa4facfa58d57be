import { Counter, Histogram, Registry } from "prom-client";

/** Prometheus metrics with kube-apiserver's names; one registry per server (several run in one test process). */
export class ApiMetrics {
  readonly registry = new Registry();
  readonly requests: Counter<"verb" | "resource" | "code">;
  readonly duration: Histogram<"verb" | "resource">;

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
  }

  observe(verb: string, resource: string, code: number, seconds: number): void {
    this.requests.inc({ verb, resource, code: String(code) });
    // Watches are long-lived by design; kube keeps them out of the latency histogram too.
    if (verb !== "WATCH") this.duration.observe({ verb, resource }, seconds);
  }
}
