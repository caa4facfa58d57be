/**
 * Rendering the configurations an operation moves through, from the configuration the apiservers run
 * now (the base) and the operation's target writer — OpenShift's read-key-first sequence:
 *
 *   base   [p0, p1, …]                     what every apiserver has loaded
 *   read   [p0, p1, …, target]             every apiserver can read the target before any writes it
 *   write  [target, p0, p1, …]             the target writes; every old provider still reads
 *   final  [target]                        only after verify proved no object needs the others
 *
 * The managed resources (the cluster file's `resources`, default Secrets) get one rule of their own at
 * the top; every other rule is kept as it was. Each rendering is checked by the same validation the
 * apiserver runs (with automatic reload on), and its hash is the one kube's
 * apiserver_encryption_config_controller_last_config_info reports for these bytes.
 */
import YAML from "yaml";
import { AtrestError } from "../common/errors.js";
import { formatGoDuration } from "../common/go-duration.js";
import { contentHashOf, parseEncryptionConfiguration } from "../encryption-config/load.js";
import { indexRules, matchResource } from "../encryption-config/matching.js";
import type { EncryptionConfiguration, ProviderConfig, ResourceRule } from "../encryption-config/types.js";
import { parseGoDurationNs } from "../common/go-duration.js";
import { providerLabel } from "../encryption-config/provider-label.js";
import type { ClusterPlugin } from "./cluster-file.js";

/** A configuration as bytes (what the file holds), its hash and its validated form. */
export interface RenderedConfig {
  readonly text: string;
  /** `sha256:<hex>` of `text`: kube's last_config_info hash. */
  readonly hash: string;
  readonly config: EncryptionConfiguration;
}

export type TargetWriter =
  { readonly type: "identity" } | { readonly type: "kms"; readonly plugin: ClusterPlugin };

export interface StagedConfigs {
  readonly base: RenderedConfig;
  readonly read: RenderedConfig;
  readonly write: RenderedConfig;
  readonly final: RenderedConfig;
}

/** `identity`, `kms:v2:<name>`, `aesgcm:<key>`: how providers are told apart (as the scan labels them). */
export const providerId = providerLabel;

export function targetProvider(target: TargetWriter): ProviderConfig {
  if (target.type === "identity") return { type: "identity" };
  const ns = parseGoDurationNs(target.plugin.timeout) ?? 3_000_000_000n;
  return {
    type: "kms",
    apiVersion: "v2",
    name: target.plugin.name,
    endpoint: target.plugin.endpoint,
    timeoutMs: Number(ns / 1_000_000n),
  };
}

/** Parses configuration bytes into a RenderedConfig (validated as an apiserver with reload would). */
export function loadRendered(text: string, source: string): RenderedConfig {
  const { config, contentHash } = parseEncryptionConfiguration(text, { reload: true, source });
  return Object.freeze({ text, hash: contentHash, config });
}

/** The providers an apiserver uses for `resource` under `config` (identity when no rule matches). */
export function providersFor(config: EncryptionConfiguration, resource: string): readonly ProviderConfig[] {
  const match = matchResource(indexRules(config), resource);
  if (match === undefined) return [{ type: "identity" }];
  return match.ruleIndexes.flatMap((i) => config.resources[i]?.providers ?? []);
}

function providerYaml(p: ProviderConfig): Record<string, unknown> {
  switch (p.type) {
    case "identity":
      return { identity: {} };
    case "aescbc":
    case "aesgcm":
    case "secretbox":
      return { [p.type]: { keys: p.keys.map((k) => ({ name: k.name, secret: k.secret })) } };
    case "kms":
      return {
        kms: {
          apiVersion: p.apiVersion,
          name: p.name,
          endpoint: p.endpoint,
          ...(p.apiVersion === "v1" && p.cacheSize !== undefined ? { cachesize: p.cacheSize } : {}),
          timeout: formatGoDuration(BigInt(p.timeoutMs) * 1_000_000n),
        },
      };
  }
}

/** The configuration as kube's file format (the `kind`/`apiVersion` kube-apiserver documents). */
export function renderConfiguration(rules: readonly ResourceRule[]): string {
  return YAML.stringify({
    apiVersion: "apiserver.config.k8s.io/v1",
    kind: "EncryptionConfiguration",
    resources: rules.map((r) => ({ resources: [...r.resources], providers: r.providers.map(providerYaml) })),
  });
}

function sameProviders(a: readonly ProviderConfig[], b: readonly ProviderConfig[]): boolean {
  return a.length === b.length && a.every((p, i) => JSON.stringify(p) === JSON.stringify(b[i]));
}

/**
 * The rules with the managed resources' providers replaced by `providers`: one rule for them, first;
 * every other rule as it was, minus the managed names (rules left empty are dropped). When the base
 * already says exactly this, its own bytes are kept (no reload for nothing).
 */
function withProviders(
  base: RenderedConfig,
  resources: readonly string[],
  providers: readonly ProviderConfig[],
  label: string,
): RenderedConfig {
  if (resources.every((r) => sameProviders(providersFor(base.config, r), providers))) return base;
  const managed = new Set(resources);
  const others: ResourceRule[] = [];
  for (const rule of base.config.resources) {
    const rest = rule.resources.filter((r) => !managed.has(r));
    if (rest.length > 0) others.push({ resources: rest, providers: rule.providers });
  }
  const text = renderConfiguration([{ resources: [...resources], providers: [...providers] }, ...others]);
  try {
    return loadRendered(text, `the ${label} configuration`);
  } catch (err) {
    throw new AtrestError(
      "failed-precondition",
      `cannot render the ${label} configuration: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  }
}

/** The common provider list of the managed resources in the base; they must agree to be managed together. */
export function managedProviders(
  base: RenderedConfig,
  resources: readonly string[],
): readonly ProviderConfig[] {
  const first = providersFor(base.config, resources[0] ?? "secrets");
  for (const r of resources.slice(1)) {
    if (!sameProviders(providersFor(base.config, r), first))
      throw new AtrestError(
        "failed-precondition",
        `the resources ${resources.join(", ")} use different providers today; manage them in separate cluster files`,
      );
  }
  return first;
}

/** The four configurations of an enable / disable / migrate from `base` to `target`. */
export function renderStaged(
  base: RenderedConfig,
  resources: readonly string[],
  target: TargetWriter,
): StagedConfigs {
  const current = managedProviders(base, resources);
  const t = targetProvider(target);
  const tid = providerId(t);
  const clash = current.find(
    (p) =>
      p.type === "kms" && t.type === "kms" && p.name === t.name && JSON.stringify(p) !== JSON.stringify(t),
  );
  if (clash !== undefined)
    throw new AtrestError(
      "failed-precondition",
      `the configuration already has a KMS provider named ${t.type === "kms" ? t.name : ""} with other settings; name the plugin differently in the cluster file`,
    );
  const others = current.filter((p) => providerId(p) !== tid);
  const readList = current.some((p) => providerId(p) === tid) ? current : [...current, t];
  return Object.freeze({
    base,
    read: withProviders(base, resources, readList, "read"),
    write: withProviders(base, resources, [t, ...others], "write"),
    final: withProviders(base, resources, [t], "final"),
  });
}

export { contentHashOf };
