/**
 * Convergence: has every apiserver loaded a configuration, and is it healthy? Read from each
 * apiserver's own /metrics — kube-apiserver's (≥ 1.34) and atrest apiserver's
 * `apiserver_encryption_config_controller_last_config_info{apiserver_id_hash,hash}` — and /readyz,
 * exactly as for a real cluster; plus, after a key rotation, which KMS key_id each apiserver's
 * Status calls returned (`apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds`).
 */
import { AtrestError } from "../common/errors.js";
import type { Clock } from "../common/clock.js";
import type { ClusterApiserver } from "./cluster-file.js";
import type { KubeClient } from "./kube-client.js";
import { samplesOf } from "./metrics-text.js";

export const LAST_CONFIG_INFO = "apiserver_encryption_config_controller_last_config_info";
export const KEY_ID_STATUS_TIMESTAMP =
  "apiserver_envelope_encryption_key_id_hash_status_last_timestamp_seconds";

export interface ApiserverObservation {
  readonly url: string;
  readonly reachable: boolean;
  /** `/readyz` answered 200. */
  readonly healthy: boolean;
  /** The hash of the configuration the apiserver runs (undefined: the metric is absent). */
  readonly loadedConfigHash?: string;
  readonly apiserverIdHash?: string;
  /** key_id hash → the last time (s) a Status call returned it, per KMS provider. */
  readonly statusKeyIds: ReadonlyArray<{ provider: string; keyIdHash: string; atSeconds: number }>;
  readonly error?: string;
}

export async function observeApiserver(
  kube: KubeClient,
  apiserver: ClusterApiserver,
): Promise<ApiserverObservation> {
  const client = kube.forServer(apiserver.metricsUrl);
  let healthy = false;
  let reachable = false;
  let error: string | undefined;
  try {
    const r = await client.request("GET", "/readyz", { accept: "text/plain", timeoutMs: 10_000 });
    reachable = true;
    healthy = r.status === 200;
  } catch (err) {
    const status = err instanceof AtrestError ? err.details["httpStatus"] : undefined;
    reachable = typeof status === "number";
    error = `/readyz: ${err instanceof Error ? err.message : String(err)}`;
  }
  let loadedConfigHash: string | undefined;
  let apiserverIdHash: string | undefined;
  const statusKeyIds: Array<{ provider: string; keyIdHash: string; atSeconds: number }> = [];
  if (reachable) {
    try {
      const body = (await client.request("GET", "/metrics", { accept: "text/plain", timeoutMs: 10_000 }))
        .text;
      const info = samplesOf(body, LAST_CONFIG_INFO).filter((s) => s.value === 1);
      // One series per apiserver; a few kube versions briefly keep the previous one at 0.
      const latest = info[info.length - 1];
      loadedConfigHash = latest?.labels["hash"];
      apiserverIdHash = latest?.labels["apiserver_id_hash"];
      for (const s of samplesOf(body, KEY_ID_STATUS_TIMESTAMP))
        statusKeyIds.push({
          provider: s.labels["provider_name"] ?? "",
          keyIdHash: s.labels["key_id_hash"] ?? "",
          atSeconds: s.value,
        });
      if (loadedConfigHash === undefined)
        error = `/metrics has no ${LAST_CONFIG_INFO} (kube-apiserver ≥ 1.34 or atrest apiserver, with --encryption-provider-config)`;
    } catch (err) {
      error = `/metrics: ${err instanceof Error ? err.message : String(err)}`;
    }
  }
  return {
    url: apiserver.url,
    reachable,
    healthy,
    ...(loadedConfigHash === undefined ? {} : { loadedConfigHash }),
    ...(apiserverIdHash === undefined ? {} : { apiserverIdHash }),
    statusKeyIds,
    ...(error === undefined ? {} : { error }),
  };
}

export async function observeAll(
  kube: KubeClient,
  apiservers: readonly ClusterApiserver[],
): Promise<ApiserverObservation[]> {
  return Promise.all(apiservers.map((a) => observeApiserver(kube, a)));
}

/** Why an apiserver is not converged on `hash` (undefined when it is). */
export function behind(o: ApiserverObservation, hash: string): string | undefined {
  if (!o.reachable) return `${o.url} is unreachable (${o.error ?? "no answer"})`;
  if (o.loadedConfigHash === undefined) return `${o.url}: ${o.error ?? "no loaded configuration hash"}`;
  if (o.loadedConfigHash !== hash) return `${o.url} runs ${o.loadedConfigHash}, not ${hash}`;
  if (!o.healthy) return `${o.url} has loaded it but /readyz fails`;
  return undefined;
}

export interface WaitOptions {
  readonly timeoutMs: number;
  readonly intervalMs?: number;
  readonly clock: Clock;
  /** Called on each poll with who is behind (for progress output). */
  readonly onWaiting?: (behind: readonly string[]) => void;
  /** Throws to abort (the lease was lost). */
  readonly check?: () => void;
}

async function sleep(clock: Clock, ms: number): Promise<void> {
  await new Promise<void>((r) => clock.setTimeout(r, ms));
}

/**
 * Waits until every apiserver has loaded `hash` and is healthy. Fails (deadline-exceeded, naming the
 * apiservers behind) after `timeoutMs`.
 */
export async function waitConverged(
  kube: KubeClient,
  apiservers: readonly ClusterApiserver[],
  hash: string,
  options: WaitOptions,
): Promise<ApiserverObservation[]> {
  const deadline = options.clock.now() + options.timeoutMs;
  for (;;) {
    options.check?.();
    const seen = await observeAll(kube, apiservers);
    const lagging = seen.map((o) => behind(o, hash)).filter((b): b is string => b !== undefined);
    if (lagging.length === 0) return seen;
    options.onWaiting?.(lagging);
    if (options.clock.now() >= deadline)
      throw new AtrestError(
        "deadline-exceeded",
        `apiservers not converged on configuration ${hash} after ${Math.round(options.timeoutMs / 1000)}s: ${lagging.join("; ")}`,
        { details: { reason: "APIServerNotConverged", behind: lagging } },
      );
    await sleep(options.clock, options.intervalMs ?? 500);
  }
}

/**
 * Waits until every apiserver's Status calls for `provider` returned `keyIdHash` after `sinceSeconds`
 * (a new seed is made on that Status: writes use the new key from then on). Each poll asks
 * /readyz/kms-providers, which runs a Status once the previous result's 20 s reuse has passed.
 */
export async function waitKeyIdConverged(
  kube: KubeClient,
  apiservers: readonly ClusterApiserver[],
  provider: string,
  keyIdHash: string,
  sinceSeconds: number,
  options: WaitOptions,
): Promise<void> {
  const deadline = options.clock.now() + options.timeoutMs;
  for (;;) {
    options.check?.();
    await Promise.all(
      apiservers.map((a) =>
        kube
          .forServer(a.metricsUrl)
          .request("GET", "/readyz/kms-providers", { accept: "text/plain", timeoutMs: 10_000 })
          .catch(() => undefined),
      ),
    );
    const seen = await observeAll(kube, apiservers);
    const lagging = seen
      .filter((o) => {
        const mine = o.statusKeyIds.filter((k) => k.provider === provider);
        const latest = mine.reduce<{ keyIdHash: string; atSeconds: number } | undefined>(
          (best, k) => (best === undefined || k.atSeconds > best.atSeconds ? k : best),
          undefined,
        );
        return latest === undefined || latest.keyIdHash !== keyIdHash || latest.atSeconds < sinceSeconds;
      })
      .map((o) => `${o.url} has not reported key_id ${keyIdHash} for ${provider} yet`);
    if (lagging.length === 0) return;
    options.onWaiting?.(lagging);
    if (options.clock.now() >= deadline)
      throw new AtrestError(
        "deadline-exceeded",
        `apiservers did not pick up the new KMS key version after ${Math.round(options.timeoutMs / 1000)}s: ${lagging.join("; ")}`,
        { details: { reason: "KeyIdNotConverged", behind: lagging } },
      );
    await sleep(options.clock, options.intervalMs ?? 1_000);
  }
}
