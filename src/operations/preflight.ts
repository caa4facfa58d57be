/**
 * Preflight: everything an operation checks before it changes anything, shared by the real run (any
 * blocker stops it with its typed error) and the dry-run plan (which lists every blocker). It finds the
 * configuration all apiservers run (refusing when they disagree), resolves the target — the KMS key,
 * the plugin that serves it, its canary — renders the staged configurations, and counts what the store
 * holds per provider and key.
 */
import { AtrestError, isAtrestError, type ErrorCode } from "../common/errors.js";
import type { KmsProviderConfig, ProviderConfig } from "../encryption-config/types.js";
import type { KmsClient } from "../kms/client/index.js";
import { kmsV1Canary, kmsV2Canary, pluginKeyId, type CanaryResult } from "./canary.js";
import type { ClusterPlugin, ClusterSpec } from "./cluster-file.js";
import type { ConfigDelivery } from "./config-delivery.js";
import { observeAll, type ApiserverObservation } from "./convergence.js";
import { assertUsable, describeKey, kmsKeyOfKeyId, type KeyInfo } from "./key-checks.js";
import type { KubeClient } from "./kube-client.js";
import type { KeyUse, OperationTarget, OperationType } from "./operation-record.js";
import {
  managedProviders,
  providerId,
  providersFor,
  renderStaged,
  type RenderedConfig,
  type StagedConfigs,
} from "./render.js";
import { scanCluster, underTarget, type ClusterScanner, type StoredObjects } from "./verify.js";

export interface OperationRequest {
  readonly type: OperationType;
  /** enable: the KMS key (id or alias). */
  readonly keyId?: string;
  /** migrate: the KMS API version to move to (only v2). */
  readonly to?: "v2";
}

export interface Blocker {
  readonly code: ErrorCode;
  readonly reason: string;
  readonly message: string;
}

export interface Prepared {
  readonly observations: readonly ApiserverObservation[];
  readonly base?: RenderedConfig;
  /** enable/disable/migrate: all four; rotate/reencrypt: base = final (the configuration does not change). */
  readonly staged?: Partial<StagedConfigs> & {
    readonly base: RenderedConfig;
    readonly final: RenderedConfig;
  };
  readonly target?: OperationTarget;
  readonly targetPlugin?: ClusterPlugin;
  readonly targetKey?: KeyInfo;
  readonly canary?: CanaryResult;
  readonly keys: KeyUse[];
  readonly scan?: StoredObjects;
  /** Per managed resource: objects and how many an update would rewrite (not under the target yet). */
  readonly counts: Record<string, { total: number; toRewrite: number }>;
  readonly blockers: Blocker[];
}

export interface PrepareDeps {
  readonly cluster: ClusterSpec;
  readonly kube: KubeClient;
  readonly kms: KmsClient;
  readonly delivery: ConfigDelivery;
  readonly scanner: ClusterScanner;
}

function blockerOf(err: unknown, fallbackReason: string): Blocker {
  if (err instanceof AtrestError)
    return {
      code: err.code,
      reason: (err.details["reason"] as string | undefined) ?? fallbackReason,
      message: err.message,
    };
  return {
    code: "internal",
    reason: fallbackReason,
    message: err instanceof Error ? err.message : String(err),
  };
}

/** The first blocker as the error the run stops with. */
export function blockerError(b: Blocker): AtrestError {
  return new AtrestError(b.code, b.message, { details: { reason: b.reason } });
}

/** Finds the configuration every apiserver runs; blockers when they disagree or it cannot be found. */
export async function findBase(
  deps: PrepareDeps,
  observations: readonly ApiserverObservation[],
): Promise<{ base?: RenderedConfig; blockers: Blocker[] }> {
  const blockers: Blocker[] = [];
  for (const o of observations) {
    if (!o.reachable)
      blockers.push({
        code: "unavailable",
        reason: "APIServerUnreachable",
        message: `apiserver ${o.url} is unreachable: ${o.error ?? ""}`,
      });
    else if (o.loadedConfigHash === undefined)
      blockers.push({
        code: "failed-precondition",
        reason: "APIServerConfigUnknown",
        message: `apiserver ${o.url}: ${o.error ?? "no loaded configuration"}`,
      });
    else if (!o.healthy)
      blockers.push({
        code: "unavailable",
        reason: "APIServerUnhealthy",
        message: `apiserver ${o.url} is not ready (/readyz fails)`,
      });
  }
  if (blockers.length > 0) return { blockers };
  const hashes = [...new Set(observations.map((o) => o.loadedConfigHash!))];
  if (hashes.length > 1)
    return {
      blockers: [
        {
          code: "failed-precondition",
          reason: "APIServerRevisionNotConverged",
          message: `the apiservers run different encryption configurations: ${observations.map((o) => `${o.url} ${o.loadedConfigHash}`).join(", ")}`,
        },
      ],
    };
  const hash = hashes[0]!;
  const stored = await deps.delivery.read();
  if (stored.current?.hash === hash) return { base: stored.current, blockers };
  const local = deps.delivery.localFiles().find((f) => f.config?.hash === hash);
  if (local?.config !== undefined) return { base: local.config, blockers };
  return {
    blockers: [
      {
        code: "failed-precondition",
        reason: "ConfigurationNotFound",
        message: `no copy of the configuration the apiservers run (${hash}): not in the cluster's Secret, not in any apiserver's file (did the file change since it was loaded? is an agent publishing it?)`,
      },
    ],
  };
}

function kmsProviders(list: readonly ProviderConfig[]): KmsProviderConfig[] {
  return list.filter((p): p is KmsProviderConfig => p.type === "kms");
}

/** The KMS keys the store's objects are under (from their key_ids), for the managed resources. */
function keysInStore(scan: StoredObjects | undefined): Set<string> {
  const out = new Set<string>();
  for (const r of Object.values(scan?.resources ?? {}))
    for (const keyId of Object.keys(r.byKeyId)) {
      const k = kmsKeyOfKeyId(keyId);
      if (k !== undefined) out.add(k);
    }
  return out;
}

export async function prepare(deps: PrepareDeps, request: OperationRequest): Promise<Prepared> {
  const { cluster, kms } = deps;
  const blockers: Blocker[] = [];
  const keys: KeyUse[] = [];
  const counts: Record<string, { total: number; toRewrite: number }> = {};
  const observations = await observeAll(deps.kube, cluster.apiservers);
  const found = await findBase(deps, observations).catch((err: unknown) => ({
    blockers: [blockerOf(err, "ConfigurationUnreadable")],
    base: undefined,
  }));
  blockers.push(...found.blockers);
  const base = found.base;
  if (base === undefined) return { observations, keys, counts, blockers };

  let current: readonly ProviderConfig[];
  try {
    current = managedProviders(base, cluster.resources);
  } catch (err) {
    return { observations, base, keys, counts, blockers: [...blockers, blockerOf(err, "ResourcesDiffer")] };
  }
  let scan: StoredObjects | undefined;
  try {
    scan = await scanCluster(deps.scanner);
  } catch (err) {
    blockers.push(blockerOf(err, "StoreUnreachable"));
  }

  const pluginByEndpoint = (endpoint: string): ClusterPlugin | undefined =>
    cluster.plugins.find((p) => p.endpoint === endpoint);
  const checkKey = async (keyIdOrAlias: string): Promise<KeyInfo | undefined> => {
    try {
      const key = await describeKey(kms, keyIdOrAlias);
      assertUsable(key, cluster.region);
      return key;
    } catch (err) {
      blockers.push(blockerOf(err, "KmsKeyUnusable"));
      return undefined;
    }
  };
  const canary = async (plugin: ClusterPlugin): Promise<CanaryResult | undefined> => {
    try {
      return await kmsV2Canary(plugin);
    } catch (err) {
      blockers.push(blockerOf(err, "KmsPluginCanaryFailed"));
      return undefined;
    }
  };

  let target: OperationTarget | undefined;
  let targetPlugin: ClusterPlugin | undefined;
  let targetKey: KeyInfo | undefined;
  let result: CanaryResult | undefined;
  let staged: Prepared["staged"];
  const writer = current[0] ?? { type: "identity" as const };

  switch (request.type) {
    case "enable": {
      if (request.keyId === undefined) throw new AtrestError("invalid-argument", "enable needs --key-id");
      targetKey = await checkKey(request.keyId);
      if (targetKey === undefined) break;
      const served: string[] = [];
      for (const p of cluster.plugins) {
        try {
          const keyId = await pluginKeyId(p);
          served.push(`${p.name} (${p.endpoint}) serves key ${kmsKeyOfKeyId(keyId) ?? keyId}`);
          if (kmsKeyOfKeyId(keyId) === targetKey.keyId) {
            targetPlugin = p;
            break;
          }
        } catch (err) {
          served.push(
            `${p.name} (${p.endpoint}) is unreachable: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
      if (targetPlugin === undefined) {
        blockers.push({
          code: "failed-precondition",
          reason: "KmsPluginNotFound",
          message: `no KMS plugin in the cluster file serves key ${targetKey.keyId}: ${served.join("; ")}; start a plugin with --key-id ${targetKey.keyId} and list it under plugins`,
        });
        break;
      }
      result = await canary(targetPlugin);
      target = {
        provider: `kms:v2:${targetPlugin.name}`,
        pluginName: targetPlugin.name,
        pluginEndpoint: targetPlugin.endpoint,
        keyId: targetKey.keyId,
        requestedKey: request.keyId,
      };
      break;
    }
    case "disable": {
      target = { provider: "identity" };
      for (const p of kmsProviders(current)) {
        try {
          if (p.apiVersion === "v2") await kmsV2Canary({ endpoint: p.endpoint, timeout: `${p.timeoutMs}ms` });
          else await kmsV1Canary(p.endpoint, p.timeoutMs);
        } catch (err) {
          blockers.push({
            ...blockerOf(err, "KmsPluginCanaryFailed"),
            message: `the KMS provider ${p.name} cannot read the stored objects it encrypted: ${err instanceof Error ? err.message : String(err)}`,
          });
        }
      }
      break;
    }
    case "migrate": {
      if (writer.type !== "kms" || writer.apiVersion !== "v1") {
        blockers.push({
          code: "failed-precondition",
          reason: "NothingToMigrate",
          message: `the writer of ${cluster.resources.join(", ")} is ${providerId(writer)}, not a KMS v1 provider: nothing to migrate`,
        });
        break;
      }
      targetPlugin = pluginByEndpoint(writer.endpoint) ??
        cluster.plugins[0] ?? {
          name: writer.name,
          endpoint: writer.endpoint,
          timeout: `${writer.timeoutMs}ms`,
        };
      result = await canary(targetPlugin);
      const key = result === undefined ? undefined : kmsKeyOfKeyId(result.keyId);
      if (key !== undefined) targetKey = await checkKey(key);
      target = {
        provider: `kms:v2:${targetPlugin.name}`,
        pluginName: targetPlugin.name,
        pluginEndpoint: targetPlugin.endpoint,
        ...(targetKey === undefined ? {} : { keyId: targetKey.keyId }),
      };
      break;
    }
    case "rotate":
    case "reencrypt": {
      if (writer.type === "kms" && writer.apiVersion === "v2") {
        targetPlugin = pluginByEndpoint(writer.endpoint) ?? {
          name: writer.name,
          endpoint: writer.endpoint,
          timeout: `${writer.timeoutMs}ms`,
        };
        result = await canary(targetPlugin);
        const key = result === undefined ? undefined : kmsKeyOfKeyId(result.keyId);
        if (key !== undefined) targetKey = await checkKey(key);
        target = {
          provider: providerId(writer),
          pluginName: writer.name,
          pluginEndpoint: writer.endpoint,
          ...(targetKey === undefined ? {} : { keyId: targetKey.keyId }),
        };
      } else if (request.type === "rotate") {
        blockers.push({
          code: "failed-precondition",
          reason: "NoKmsWriter",
          message: `the writer of ${cluster.resources.join(", ")} is ${providerId(writer)}: only a KMS v2 writer's key can be rotated (enable first)`,
        });
      } else {
        target = { provider: providerId(writer) };
      }
      if (request.type === "rotate" && result !== undefined && scan !== undefined) {
        // HyperShift's guard: a second rotation before the first one's re-encryption finished leaves
        // objects two versions behind; finish that first.
        const behindCount = Object.values(scan.resources).reduce(
          (n, r) =>
            n +
            Object.entries(r.byKeyId)
              .filter(([k, v]) => k !== result!.keyId && v.providers.includes(providerId(writer)))
              .reduce((m, [, v]) => m + v.count, 0),
          0,
        );
        if (behindCount > 0)
          blockers.push({
            code: "failed-precondition",
            reason: "ReencryptionPending",
            message: `${behindCount} objects are still under an older key version than the current one; run \`atrest encryption reencrypt\` before rotating again`,
          });
      }
      staged = { base, final: base };
      break;
    }
  }

  if (target !== undefined && staged === undefined && blockers.length === 0) {
    try {
      const t =
        target.provider === "identity"
          ? ({ type: "identity" } as const)
          : ({ type: "kms", plugin: targetPlugin! } as const);
      staged = renderStaged(base, cluster.resources, t);
    } catch (err) {
      blockers.push(blockerOf(err, "RenderFailed"));
    }
  }

  // The staged configurations are kept in a Secret: when they hold static keys (aescbc, aesgcm,
  // secretbox) and Secrets are stored in the clear at any stage, those keys would be too.
  if (staged !== undefined && cluster.resources.includes("secrets")) {
    const all = [staged.base, staged.read, staged.write, staged.final].filter((r) => r !== undefined);
    const hasStaticKeys = all.some((r) =>
      r.config.resources.some((rule) => rule.providers.some((p) => "keys" in p)),
    );
    const plainSecrets = all.some((r) => providersFor(r.config, "secrets")[0]?.type === "identity");
    if (hasStaticKeys && plainSecrets)
      blockers.push({
        code: "failed-precondition",
        reason: "StaticKeysWouldBeExposed",
        message:
          "the configuration holds static aescbc/aesgcm/secretbox keys and Secrets are stored in plaintext at some stage: the operation's Secret kube-system/atrest-encryption-config would expose them; move those resources to KMS first",
      });
  }

  // The keys this operation will protect and, once verified, release.
  if (targetKey !== undefined && request.type !== "disable")
    keys.push({ keyId: targetKey.keyId, role: "target", tag: "none" });
  const oldKeys = keysInStore(scan);
  for (const p of kmsProviders(current)) {
    if (p.apiVersion !== "v2") continue;
    try {
      const k = kmsKeyOfKeyId(await pluginKeyId({ endpoint: p.endpoint, timeout: `${p.timeoutMs}ms` }));
      if (k !== undefined) oldKeys.add(k);
    } catch (err) {
      if (!isAtrestError(err)) throw err;
    }
  }
  for (const k of oldKeys)
    if (!keys.some((u) => u.keyId === k)) keys.push({ keyId: k, role: "old", tag: "none" });

  for (const [name, r] of Object.entries(scan?.resources ?? {})) {
    const under =
      target === undefined
        ? 0
        : underTarget(r, {
            provider: target.provider,
            ...(result === undefined || target.provider === "identity" ? {} : { keyId: result.keyId }),
          });
    counts[name] = { total: r.total, toRewrite: Math.max(r.total - under, 0) };
  }

  return {
    observations,
    base,
    ...(staged === undefined ? {} : { staged }),
    ...(target === undefined ? {} : { target }),
    ...(targetPlugin === undefined ? {} : { targetPlugin }),
    ...(targetKey === undefined ? {} : { targetKey }),
    ...(result === undefined ? {} : { canary: result }),
    keys,
    ...(scan === undefined ? {} : { scan }),
    counts,
    blockers,
  };
}
