/**
 * How each provider element of a configuration becomes a real provider (src/envelope), with the
 * process's randomness, logger and metrics hooks. There is one implementation of each provider: the
 * one that ships is the one the build and its tests use.
 */
import type { Clock } from "../common/clock.js";
import type { Logger } from "../common/logger.js";
import type { Random } from "../common/random.js";
import {
  newAesCbcTransformer,
  newAesGcmTransformer,
  newIdentityTransformer,
  newKmsV1Transformer,
  newKmsV2Transformer,
  newSecretboxTransformer,
  type EnvelopeKey,
  type EnvelopeProvider,
  type KmsV1Hooks,
  type KmsV1Provider,
  type KmsV1Service,
  type KmsV2Hooks,
  type KmsV2Provider,
  type KmsV2Service,
} from "../envelope/index.js";

export interface EnvelopeProviderOptions {
  readonly random?: Random;
  readonly logger?: Logger;
  readonly kmsV1Hooks?: KmsV1Hooks;
  readonly kmsV2Hooks?: KmsV2Hooks;
}

export class EnvelopeProviders {
  constructor(private readonly options: EnvelopeProviderOptions = {}) {}

  identity(): EnvelopeProvider {
    return newIdentityTransformer();
  }

  keyed(type: "aesgcm" | "aescbc" | "secretbox", keys: readonly EnvelopeKey[]): EnvelopeProvider {
    const random = this.options.random === undefined ? {} : { random: this.options.random };
    if (type === "aesgcm") return newAesGcmTransformer(keys, random);
    if (type === "aescbc") return newAesCbcTransformer(keys, random);
    return newSecretboxTransformer(keys, random);
  }

  kmsV1(o: { name: string; service: KmsV1Service; cacheSize: number; clock: Clock }): KmsV1Provider {
    const { random, kmsV1Hooks } = this.options;
    return newKmsV1Transformer({
      providerName: o.name,
      service: o.service,
      cacheSize: o.cacheSize,
      clock: o.clock,
      ...(random === undefined ? {} : { random }),
      ...(kmsV1Hooks === undefined ? {} : { hooks: kmsV1Hooks }),
    });
  }

  kmsV2(o: { name: string; service: KmsV2Service; clock: Clock; logger?: Logger }): KmsV2Provider {
    const { random, kmsV2Hooks } = this.options;
    const logger = o.logger ?? this.options.logger;
    return newKmsV2Transformer({
      providerName: o.name,
      service: o.service,
      clock: o.clock,
      ...(random === undefined ? {} : { random }),
      ...(kmsV2Hooks === undefined ? {} : { hooks: kmsV2Hooks }),
      ...(logger === undefined ? {} : { logger }),
    });
  }
}

/** The real providers with these options (randomness, logger, metrics hooks). */
export function envelopeProviders(options: EnvelopeProviderOptions = {}): EnvelopeProviders {
  return new EnvelopeProviders(options);
}
