/**
 * The one call an apiserver makes: load the file, build the state with the real providers and gRPC
 * clients, and (with automatic reload) keep it current. Callers use `transformerFor` and `healthChecks`.
 */
import { systemClock, type Clock } from "../common/clock.js";
import type { Logger } from "../common/logger.js";
import type { Transformer } from "../envelope/transformer.js";
import { buildEncryptionState, type KmsClientFactories } from "./build.js";
import { DynamicEncryptionState } from "./encryption-state.js";
import type { EnvelopeProviders } from "./envelope-providers.js";
import type { GroupResource } from "./group-resource.js";
import type { HealthCheck } from "./health.js";
import { grpcKmsClients } from "./grpc-clients.js";
import { loadEncryptionConfigurationFile } from "./load.js";
import { EncryptionConfigReloadController, type ReloadEvent } from "./reload-controller.js";

export interface EncryptionRuntimeOptions {
  /** The EncryptionConfiguration file (`--encryption-provider-config`). */
  readonly path: string;
  /** `--encryption-provider-config-automatic-reload`. */
  readonly reload?: boolean;
  readonly reloadIntervalMs?: number;
  readonly clock?: Clock;
  readonly logger?: Logger;
  readonly clients?: KmsClientFactories;
  /** The real providers with the process's randomness, logger and metrics hooks (`envelopeProviders`). */
  readonly providers?: EnvelopeProviders;
  readonly onReload?: (event: ReloadEvent) => void;
}

export interface EncryptionRuntime {
  /** Follows reloads: hold on to it. `resource` is `<resource>.<group>` or `secrets` (core). */
  transformerFor(resource: string | GroupResource): Transformer;
  /** For /healthz and /readyz (not /livez): `kms-provider-N`, or the single `kms-providers`. */
  healthChecks(): readonly HealthCheck[];
  readonly dynamic: DynamicEncryptionState;
  readonly controller: EncryptionConfigReloadController | undefined;
  close(): void;
}

export async function startEncryptionRuntime(options: EncryptionRuntimeOptions): Promise<EncryptionRuntime> {
  const clock = options.clock ?? systemClock;
  const reload = options.reload === true;
  const clients = options.clients ?? grpcKmsClients;
  const build = async (config: Parameters<typeof buildEncryptionState>[0], contentHash: string) =>
    buildEncryptionState(config, {
      ...(options.providers === undefined ? {} : { providers: options.providers }),
      clients,
      clock,
      reload,
      contentHash,
      ...(options.logger ? { logger: options.logger } : {}),
    });
  const { config, contentHash } = await loadEncryptionConfigurationFile(options.path, { reload });
  const dynamic = new DynamicEncryptionState(await build(config, contentHash), clock);
  let controller: EncryptionConfigReloadController | undefined;
  if (reload) {
    controller = new EncryptionConfigReloadController({
      path: options.path,
      dynamic,
      build,
      clock,
      ...(options.reloadIntervalMs === undefined ? {} : { intervalMs: options.reloadIntervalMs }),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.onReload ? { onReload: options.onReload } : {}),
    });
    controller.start();
  }
  return {
    transformerFor: (resource) => dynamic.transformerFor(resource),
    // With reload the check set is fixed (one `kms-providers`) while the state behind it changes.
    healthChecks: () => (reload ? [dynamic.healthCheck] : dynamic.state.healthChecks),
    dynamic,
    controller,
    close() {
      controller?.stop();
      dynamic.close();
    },
  };
}
