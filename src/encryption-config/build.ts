/**
 * Turns a validated configuration into an EncryptionState as kube-apiserver's
 * getTransformerOverridesAndKMSPluginProbes does: per rule, one provider per element in file order; per
 * resource, the providers of every rule that names it, in file order, composed into one prefix chain
 * (the first writes, all read); lookup by exact name, `*.<group>`, `*.*`, else identity. Each KMS
 * provider's health check is the provider's own (src/envelope); KMS clients come from injectable
 * factories (kube's EnvelopeKMSv2ServiceFactory), so tests can put in-process fakes behind the real
 * providers.
 */
import { systemClock, type Clock } from "../common/clock.js";
import { wrapError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import {
  KMS_V1_DEFAULT_CACHE_SIZE,
  newIdentityTransformer,
  newPrefixChain,
  type Closeable,
  type EnvelopeProvider,
  type KmsV1Service,
  type KmsV2Service,
} from "../envelope/index.js";
import type { Transformer } from "../envelope/transformer.js";
import { EnvelopeProviders } from "./envelope-providers.js";
import type { EncryptionState } from "./encryption-state.js";
import { groupResourceKey, parseGroupResource } from "./group-resource.js";
import { combinedCheck, namedCheck, type HealthCheck } from "./health.js";
import { matchResource, toGroupResource } from "./matching.js";
import type { EncryptionConfiguration, KmsProviderConfig, ProviderConfig } from "./types.js";

export interface KmsClientOptions {
  /** `unix:///path` or `unix:///@abstract`. */
  readonly endpoint: string;
  readonly timeoutMs: number;
  /** The provider's name in the configuration (for logs and metrics). */
  readonly providerName: string;
}

export interface KmsClientFactories {
  createKmsV1Client(options: KmsClientOptions): KmsV1Service & Closeable;
  createKmsV2Client(options: KmsClientOptions): KmsV2Service & Closeable;
}

export interface BuildDeps {
  readonly clients: KmsClientFactories;
  /** The real providers with the process's randomness, logger and metrics hooks. Default: plain ones. */
  readonly providers?: EnvelopeProviders;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Automatic reload is on: the checks collapse into one `kms-providers`. */
  readonly reload?: boolean;
  readonly contentHash?: string;
  /**
   * Run each KMS v2 provider's health check once before returning (kube primes the seed this way; reads
   * fail before the first good Status). Default true.
   */
  readonly prime?: boolean;
  /** Keep polling KMS v2 providers' Status (60 s while healthy, 10 s while not). Default true. */
  readonly background?: boolean;
}

interface KmsEntry {
  readonly config: KmsProviderConfig;
  readonly client: Closeable;
  /** The provider's own health check (result reused 20 s / 3 s). */
  readonly check: () => Promise<void>;
  /** KMS v2: prime with one check, then poll Status; resolves to whether the first check passed. */
  readonly start?: () => Promise<boolean>;
  readonly stop?: () => void;
}

export async function buildEncryptionState(
  config: EncryptionConfiguration,
  deps: BuildDeps,
): Promise<EncryptionState> {
  const clock = deps.clock ?? systemClock;
  const providers = deps.providers ?? new EnvelopeProviders();
  const kms: KmsEntry[] = [];
  const closeAll = () => {
    for (const k of kms) {
      try {
        k.stop?.();
      } finally {
        k.client.close();
      }
    }
  };

  const byResource = new Map<string, EnvelopeProvider[]>();
  try {
    for (const rule of config.resources) {
      const built = rule.providers.map((p) => buildProvider(p, providers, deps, clock, kms));
      for (const text of rule.resources) {
        const key = groupResourceKey(parseGroupResource(text));
        byResource.set(key, [...(byResource.get(key) ?? []), ...built]);
      }
    }
  } catch (err) {
    closeAll();
    throw wrapError(err, "error while building transformers", "invalid-argument");
  }

  const transformers = new Map<string, Transformer>();
  for (const [key, chain] of byResource) transformers.set(key, newPrefixChain(chain));
  const fallback = newIdentityTransformer();

  const kmsChecks: HealthCheck[] = kms.map((k, i) => namedCheck(i, k.check));
  const v1Used = kms.some((k) => k.config.apiVersion === "v1");
  const v2Used = kms.some((k) => k.config.apiVersion === "v2");
  const healthChecks = deps.reload === true || (v2Used && !v1Used) ? [combinedCheck(kmsChecks)] : kmsChecks;
  // v1 health checks do Encrypt then Decrypt: twice the timeout.
  const timeoutSumMs = kms.reduce(
    (sum, k) => sum + (k.config.apiVersion === "v1" ? 2 : 1) * k.config.timeoutMs,
    0,
  );

  // kube's primeAndProbeKMSv2: one check inline (a failure is not fatal: the plugin may start later),
  // then the provider's own Status polling.
  const v2 = kms.filter((k) => k.start !== undefined);
  const prime = deps.prime !== false;
  if (deps.background !== false) {
    const started = Promise.all(v2.map((k) => k.start!()));
    if (prime) await started;
  } else if (prime) {
    await Promise.all(v2.map((k) => k.check().catch(() => undefined)));
  }

  let closed = false;
  return {
    transformerFor(resource) {
      return matchResource(transformers, toGroupResource(resource)) ?? fallback;
    },
    healthChecks,
    kmsChecks,
    kmsProviders: kms.map((k, i) => ({
      name: k.config.name,
      apiVersion: k.config.apiVersion,
      check: kmsChecks[i]!,
    })),
    contentHash: deps.contentHash ?? "",
    closeGracePeriodMs: 2 * timeoutSumMs,
    close() {
      if (closed) return;
      closed = true;
      closeAll();
    },
  };
}

function buildProvider(
  p: ProviderConfig,
  providers: EnvelopeProviders,
  deps: BuildDeps,
  clock: Clock,
  kms: KmsEntry[],
): EnvelopeProvider {
  switch (p.type) {
    case "identity":
      return providers.identity();
    case "aesgcm":
    case "aescbc":
    case "secretbox":
      return providers.keyed(
        p.type,
        p.keys.map((k) => ({ name: k.name, key: Buffer.from(k.secret, "base64") })),
      );
    case "kms": {
      const options = { endpoint: p.endpoint, timeoutMs: p.timeoutMs, providerName: p.name };
      if (p.apiVersion === "v1") {
        const service = deps.clients.createKmsV1Client(options);
        try {
          const provider = providers.kmsV1({
            name: p.name,
            service,
            cacheSize: p.cacheSize ?? KMS_V1_DEFAULT_CACHE_SIZE,
            clock,
          });
          kms.push({ config: p, client: service, check: () => provider.healthCheck() });
          return provider;
        } catch (err) {
          service.close();
          throw err;
        }
      }
      const service = deps.clients.createKmsV2Client(options);
      try {
        const provider = providers.kmsV2({
          name: p.name,
          service,
          clock,
          ...(deps.logger === undefined ? {} : { logger: deps.logger }),
        });
        kms.push({
          config: p,
          client: service,
          check: () => provider.healthCheck(),
          start: () => provider.start(),
          stop: () => provider.stop(),
        });
        return provider;
      } catch (err) {
        service.close();
        throw err;
      }
    }
  }
}
