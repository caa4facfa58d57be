/**
 * Encryption at rest for the apiserver, as kube-apiserver's `--encryption-provider-config`: the file's
 * per-resource provider chains become the object store's transformers, its KMS checks join /healthz and
 * /readyz (never /livez: a restart does not fix a KMS), and its activity feeds kube's metrics.
 */
import type { Clock } from "../common/clock.js";
import type { Logger } from "../common/logger.js";
import {
  envelopeProviders,
  resourceFromStorageKey,
  startEncryptionRuntime,
  type KmsClientFactories,
} from "../encryption-config/index.js";
import type { Transformer } from "../envelope/transformer.js";
import type { EncryptionMetrics } from "./encryption-metrics.js";
import type { HealthCheck } from "./health.js";
import type { TransformerForKey } from "../storage/transforming-store.js";

export interface EncryptionAtRestOptions {
  /** The EncryptionConfiguration file. */
  readonly configPath: string;
  /** The storage prefix (kube's --etcd-prefix, no trailing slash). */
  readonly prefix: string;
  readonly automaticReload: boolean;
  readonly reloadIntervalMs?: number;
  readonly clock: Clock;
  readonly logger: Logger;
  readonly metrics: EncryptionMetrics;
  /** The gRPC clients to KMS plugins (default: real ones over unix sockets). */
  readonly clients?: KmsClientFactories;
  /**
   * Called when reads may now be judged stale differently: a new configuration, or a KMS v2 provider
   * that moved to a new key_id (values under the old one are stale from now on).
   */
  readonly onStaleVerdictsChanged?: () => void;
}

export interface EncryptionAtRest {
  readonly transformerFor: TransformerForKey;
  readonly healthChecks: readonly HealthCheck[];
  close(): void;
}

export async function startEncryptionAtRest(options: EncryptionAtRestOptions): Promise<EncryptionAtRest> {
  const { clock, logger, metrics } = options;
  const changed = options.onStaleVerdictsChanged ?? (() => undefined);
  const runtime = await startEncryptionRuntime({
    path: options.configPath,
    reload: options.automaticReload,
    clock,
    logger,
    providers: envelopeProviders({
      logger,
      kmsV2Hooks: { ...metrics.kmsV2Hooks(() => clock.now()), dekRotated: () => changed() },
    }),
    onReload: (event) => {
      metrics.onReload(event);
      if (event.status === "success") {
        changed();
        logger.info({ contentHash: event.contentHash }, "encryption configuration reloaded");
      } else {
        logger.warn(
          { contentHash: event.contentHash, err: event.error?.message },
          "encryption configuration reload failed; the previous configuration stays",
        );
      }
    },
    ...(options.reloadIntervalMs === undefined ? {} : { reloadIntervalMs: options.reloadIntervalMs }),
    ...(options.clients === undefined ? {} : { clients: options.clients }),
  });

  metrics.configLoaded(runtime.dynamic.state.contentHash);

  // Storage keys are `<prefix>/<resource>/…`: one dynamic transformer per storage path segment, found
  // once, so the hot path does no parsing (the transformer itself follows reloads).
  const bySegment = new Map<string, Transformer>();
  const start = options.prefix.length + 1;
  const transformerFor: TransformerForKey = (storageKey) => {
    const end = storageKey.indexOf("/", start);
    const segment = storageKey.slice(start, end < 0 ? undefined : end);
    let t = bySegment.get(segment);
    if (t === undefined) {
      t = runtime.transformerFor(resourceFromStorageKey(storageKey));
      bySegment.set(segment, t);
    }
    return t;
  };

  const healthChecks: HealthCheck[] = runtime.healthChecks().map((c) => ({
    name: c.name,
    check: () => c.check(),
    endpoints: ["readyz", "healthz"],
  }));
  return { transformerFor, healthChecks, close: () => runtime.close() };
}
