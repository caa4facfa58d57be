/**
 * Turns a validated configuration into an EncryptionState: per rule, one provider per element in file
 * order composed into a prefix chain (the first writes, all read); per resource, the rules that name it
 * (matching: exact, `*.<group>`, `*.*`, else identity). KMS clients come from injectable factories so tests
 * can use in-process fakes, and each KMS provider gets kube-apiserver's probe and health check.
 */
import { systemClock, type Clock, type Timer } from "../common/clock.js";
import { wrapError } from "../common/errors.js";
import type { Logger } from "../common/logger.js";
import type { Transformer } from "../envelope/transformer.js";
import type { Closeable, KmsV1Service, KmsV2Service, StatusResponse } from "../envelope/kms-service.js";
import type { EncryptionState } from "./encryption-state.js";
import { KmsV1Probe, KmsV2Probe, combinedCheck, namedCheck, type HealthCheck } from "./health.js";
import { groupResourceKey, parseGroupResource } from "./group-resource.js";
import { matchResource, toGroupResource } from "./matching.js";
import type { EncryptionConfiguration, KmsProviderConfig, ProviderConfig } from "./types.js";

export interface NamedKey {
  readonly name: string;
  /** Key material: never log it. */
  readonly key: Buffer;
}

/** What the KMS v2 provider hands back besides its transformer. */
export interface KmsV2ProviderParts<P> {
  readonly provider: P;
  /**
   * The provider's own health check (Status + its DEK/seed state, with kube's 20 s / 3 s result reuse).
   * Without one, the build probes Status itself and feeds `onHealthyStatus`.
   */
  readonly check?: () => Promise<void>;
  /** Fed every healthy Status when the build probes (the DEK/seed state: a new key_id means a new seed). */
  readonly onHealthyStatus?: (status: StatusResponse) => Promise<void> | void;
  /** Starts the provider's own Status polling (60 s healthy / 10 s not); without it the build polls. */
  readonly startPolling?: () => void;
  /** Stops the provider's own timers, if any. */
  readonly close?: () => void;
}

/**
 * How each provider element becomes a transformer. `P` is opaque here: whatever the envelope package's
 * prefix chain composes. The default implementation wires src/envelope.
 */
export interface ProviderFactories<P = unknown> {
  identity(): P;
  aesgcm(keys: readonly NamedKey[]): P;
  aescbc(keys: readonly NamedKey[]): P;
  secretbox(keys: readonly NamedKey[]): P;
  kmsV1(options: { name: string; service: KmsV1Service; cacheSize: number; clock: Clock }): P;
  kmsV2(options: {
    name: string;
    service: KmsV2Service;
    clock: Clock;
    logger?: Logger;
  }): KmsV2ProviderParts<P>;
  /** The prefix chain: the first provider writes, all read, reads by a later one are stale. */
  chain(providers: readonly P[]): Transformer;
  /** What a resource no rule names gets: identity that refuses encrypted-looking data. */
  fallback(): Transformer;
}

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

export interface BuildDeps<P = unknown> {
  readonly providers: ProviderFactories<P>;
  readonly clients: KmsClientFactories;
  readonly clock?: Clock;
  readonly logger?: Logger;
  /** Automatic reload is on: the checks collapse into one `kms-providers`. */
  readonly reload?: boolean;
  readonly contentHash?: string;
  /**
   * Run each KMS v2 probe once before returning (kube primes the DEK this way; reads fail before the
   * first good Status). Default true.
   */
  readonly prime?: boolean;
  /** Keep probing KMS v2 providers (60 s while healthy, 10 s while not). Default true. */
  readonly background?: boolean;
}

// kube-apiserver's kmsv2PluginHealthzPositiveInterval / NegativeInterval.
export const KMS_V2_STATUS_POSITIVE_INTERVAL_MS = 60_000;
export const KMS_V2_STATUS_NEGATIVE_INTERVAL_MS = 10_000;

interface KmsEntry {
  readonly config: KmsProviderConfig;
  readonly probe: { check(): Promise<void> };
  readonly client: Closeable;
  readonly startPolling?: () => void;
  readonly close?: () => void;
}

export async function buildEncryptionState<P>(
  config: EncryptionConfiguration,
  deps: BuildDeps<P>,
): Promise<EncryptionState> {
  const clock = deps.clock ?? systemClock;
  const kms: KmsEntry[] = [];
  const closeAll = () => {
    for (const k of kms) {
      try {
        k.close?.();
      } finally {
        k.client.close();
      }
    }
  };

  const byResource = new Map<string, P[]>();
  try {
    for (const rule of config.resources) {
      const providers = rule.providers.map((p) => buildProvider(p, deps, clock, kms));
      for (const text of rule.resources) {
        const key = groupResourceKey(parseGroupResource(text));
        byResource.set(key, [...(byResource.get(key) ?? []), ...providers]);
      }
    }
  } catch (err) {
    closeAll();
    throw wrapError(err, "error while building transformers", "invalid-argument");
  }

  const transformers = new Map<string, Transformer>();
  for (const [key, providers] of byResource) transformers.set(key, deps.providers.chain(providers));
  const fallback = deps.providers.fallback();

  const kmsChecks: HealthCheck[] = kms.map((k, i) => namedCheck(i, k.probe));
  const v1Used = kms.some((k) => k.config.apiVersion === "v1");
  const v2Used = kms.some((k) => k.config.apiVersion === "v2");
  const healthChecks = deps.reload === true || (v2Used && !v1Used) ? [combinedCheck(kmsChecks)] : kmsChecks;
  // v1 health checks do Encrypt then Decrypt: twice the timeout.
  const timeoutSumMs = kms.reduce(
    (sum, k) => sum + (k.config.apiVersion === "v1" ? 2 : 1) * k.config.timeoutMs,
    0,
  );

  const pollers: Array<{ stop(): void }> = [];
  const v2 = kms.filter((k) => k.config.apiVersion === "v2");
  const primed = await Promise.all(
    v2.map((k) =>
      deps.prime === false
        ? Promise.resolve(false)
        : k.probe.check().then(
            () => true,
            (err: unknown) => {
              deps.logger?.warn(
                { provider: k.config.name, err: (err as Error).message },
                "kms plugin failed health check probe",
              );
              return false;
            },
          ),
    ),
  );
  if (deps.background !== false) {
    v2.forEach((k, i) => {
      if (k.startPolling !== undefined) k.startPolling();
      // After a failed (or skipped) first probe, retry quickly, as kube does.
      else pollers.push(startStatusPoller(k, clock, deps.logger, primed[i] === true));
    });
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
      for (const p of pollers) p.stop();
      closeAll();
    },
  };
}

function buildProvider<P>(p: ProviderConfig, deps: BuildDeps<P>, clock: Clock, kms: KmsEntry[]): P {
  const f = deps.providers;
  switch (p.type) {
    case "identity":
      return f.identity();
    case "aesgcm":
    case "aescbc":
    case "secretbox": {
      const keys = p.keys.map((k) => ({ name: k.name, key: Buffer.from(k.secret, "base64") }));
      return p.type === "aesgcm" ? f.aesgcm(keys) : p.type === "aescbc" ? f.aescbc(keys) : f.secretbox(keys);
    }
    case "kms": {
      const options = { endpoint: p.endpoint, timeoutMs: p.timeoutMs, providerName: p.name };
      if (p.apiVersion === "v1") {
        const service = deps.clients.createKmsV1Client(options);
        kms.push({ config: p, client: service, probe: new KmsV1Probe(p.name, service, clock) });
        return f.kmsV1({ name: p.name, service, cacheSize: p.cacheSize ?? 1000, clock });
      }
      const service = deps.clients.createKmsV2Client(options);
      let parts: KmsV2ProviderParts<P>;
      try {
        parts = f.kmsV2({ name: p.name, service, clock, ...(deps.logger ? { logger: deps.logger } : {}) });
      } catch (err) {
        service.close();
        throw err;
      }
      const probe =
        parts.check !== undefined
          ? { check: parts.check }
          : new KmsV2Probe(
              p.name,
              service,
              clock,
              parts.onHealthyStatus ? { onHealthyStatus: parts.onHealthyStatus } : {},
            );
      kms.push({
        config: p,
        client: service,
        probe,
        ...(parts.startPolling ? { startPolling: parts.startPolling } : {}),
        ...(parts.close ? { close: parts.close } : {}),
      });
      return parts.provider;
    }
  }
}

/** kube's primeAndProbeKMSv2 loop: Status every 60 s while healthy, every 10 s while not. */
function startStatusPoller(
  k: KmsEntry,
  clock: Clock,
  logger: Logger | undefined,
  healthy: boolean,
): { stop(): void } {
  let timer: Timer | undefined;
  let stopped = false;
  const schedule = (ms: number) => {
    if (stopped) return;
    timer = clock.setTimeout(() => {
      k.probe.check().then(
        () => schedule(KMS_V2_STATUS_POSITIVE_INTERVAL_MS),
        (err: unknown) => {
          logger?.warn(
            { provider: k.config.name, err: (err as Error).message },
            "kms plugin failed health check probe",
          );
          schedule(KMS_V2_STATUS_NEGATIVE_INTERVAL_MS);
        },
      );
    }, ms);
    timer.unref?.();
  };
  schedule(healthy ? KMS_V2_STATUS_POSITIVE_INTERVAL_MS : KMS_V2_STATUS_NEGATIVE_INTERVAL_MS);
  return {
    stop() {
      stopped = true;
      if (timer !== undefined) clock.clearTimeout(timer);
    },
  };
}
