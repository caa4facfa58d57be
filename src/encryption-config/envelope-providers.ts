/** The real providers (src/envelope) behind the build's factory seam. */
import type { Logger } from "../common/logger.js";
import type { Random } from "../common/random.js";
import {
  envelopeProviderFactories,
  newKmsV2Transformer,
  type EnvelopeProvider,
  type KmsV2Hooks,
} from "../envelope/index.js";
import type { ProviderFactories } from "./build.js";

export interface EnvelopeProviderOptions {
  readonly random?: Random;
  readonly logger?: Logger;
  readonly kmsV2Hooks?: KmsV2Hooks;
}

/**
 * src/envelope's providers. KMS v2 uses the provider's own DEK/seed state for its health check (Status,
 * kube's checks, rotation on a new key_id, 20 s / 3 s result reuse) and for the 60 s / 10 s Status polling.
 */
export function envelopeProviders(
  options: EnvelopeProviderOptions = {},
): ProviderFactories<EnvelopeProvider> {
  const base = envelopeProviderFactories(options);
  return {
    ...base,
    kmsV2: ({ name, service, clock, logger }) => {
      const provider = newKmsV2Transformer({
        providerName: name,
        service,
        clock,
        ...(options.random === undefined ? {} : { random: options.random }),
        ...(options.kmsV2Hooks === undefined ? {} : { hooks: options.kmsV2Hooks }),
        ...((logger ?? options.logger) === undefined ? {} : { logger: (logger ?? options.logger)! }),
      });
      return {
        provider,
        check: () => provider.healthCheck(),
        startPolling: () => void provider.start(),
        close: () => provider.stop(),
      };
    },
  };
}

export const defaultProviderFactories: ProviderFactories<EnvelopeProvider> = envelopeProviders();
