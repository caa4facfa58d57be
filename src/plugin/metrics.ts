/** Prometheus metrics of one plugin instance (its own registry, so tests can run several). */
import { Counter, Gauge, Histogram, Registry } from "prom-client";
import { keyIdHash } from "../common/key-id-hash.js";

export class PluginMetrics {
  readonly registry = new Registry();
  private readonly calls = new Counter({
    name: "atrest_plugin_grpc_calls_total",
    help: "KMS plugin gRPC calls by method and gRPC status code",
    labelNames: ["method", "code"] as const,
    registers: [this.registry],
  });
  private readonly kmsLatency = new Histogram({
    name: "atrest_plugin_kms_request_duration_seconds",
    help: "Latency of requests from the plugin to the KMS, by action and outcome",
    labelNames: ["action", "outcome"] as const,
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });
  private readonly keyInfo = new Gauge({
    name: "atrest_plugin_key_id_info",
    help: "The key_id reported in Status (as a sha256: hash); 1 for the current one",
    labelNames: ["key_id_hash"] as const,
    registers: [this.registry],
  });
  private readonly healthy = new Gauge({
    name: "atrest_plugin_healthy",
    help: "1 when the last KMS check (Encrypt + Decrypt round trip) succeeded, else 0",
    registers: [this.registry],
  });
  private readonly lastCheck = new Gauge({
    name: "atrest_plugin_last_check_timestamp_seconds",
    help: "When the last KMS check finished",
    registers: [this.registry],
  });

  constructor() {
    this.healthy.set(0);
  }

  observeCall(method: string, code: string): void {
    this.calls.inc({ method, code });
  }

  observeKms(action: string, outcome: "ok" | "error", durationMs: number): void {
    this.kmsLatency.observe({ action, outcome }, durationMs / 1000);
  }

  setHealth(healthy: boolean, keyId: string, checkedAtMs: number | undefined): void {
    this.healthy.set(healthy ? 1 : 0);
    if (checkedAtMs !== undefined) this.lastCheck.set(checkedAtMs / 1000);
    this.keyInfo.reset();
    if (keyId !== "") this.keyInfo.set({ key_id_hash: keyIdHash(keyId) }, 1);
  }
}
