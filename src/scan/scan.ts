/**
 * The scan loop: lists every key under the prefix (paginated, at one revision, as an operator's
 * read-only check of a cluster), classifies each value by its bytes and — given a configuration's
 * transformers — reads it through the resource's provider chain with the storage key as AAD, keeping
 * only whether it authenticated and whether it is stale. Plaintext is dropped as soon as it is read;
 * the store is never written.
 */
import { AtrestError, isAtrestError } from "../common/errors.js";
import { mapLimited } from "../common/map-limited.js";
import { contextForKey, type Transformer } from "../envelope/transformer.js";
import type { Store } from "../storage/store.js";
import { classifyValue, type ValueClass } from "./classify.js";
import { defaultScanPolicy, type ScanPolicy } from "./policy.js";
import {
  ResourceTally,
  SCAN_REPORT_API_VERSION,
  SCAN_REPORT_KIND,
  summarize,
  type ResourceReport,
  type ScanReport,
  type VerifyOutcome,
} from "./report.js";
import { DEFAULT_ETCD_PREFIX, listPrefixesFor, normalizePrefix, resourceOfKey } from "./storage-path.js";

export const DEFAULT_SCAN_PAGE_SIZE = 500;
export const DEFAULT_SCAN_CONCURRENCY = 8;
/** Error messages kept in the report are clipped: they name a rule, a long one is noise. */
const MAX_REASON_CHARS = 300;

/** Reads values through an encryption configuration (an EncryptionState fits). */
export interface ScanVerifier {
  transformerFor(resource: string): Transformer;
}

export interface ScanOptions {
  /** kube-apiserver's --etcd-prefix (default `/registry`). */
  readonly prefix?: string;
  /** Only these resources (`secrets`, `deployments.apps`); default every resource under the prefix. */
  readonly resources?: readonly string[];
  /** Decrypt every value through these transformers (stale + authentication); omit to classify only. */
  readonly verifier?: ScanVerifier;
  /** Which resources should be encrypted; default: Secrets only (see policy.ts). */
  readonly policy?: ScanPolicy;
  /** `sha256:…` of the configuration file, for the report. */
  readonly configurationHash?: string;
  /** Stale objects make the exit status non-zero. */
  readonly failOnStale?: boolean;
  readonly pageSize?: number;
  /** Values read through the configuration at once. */
  readonly concurrency?: number;
}

function clip(reason: string): string {
  return reason.length > MAX_REASON_CHARS ? `${reason.slice(0, MAX_REASON_CHARS)}…` : reason;
}

async function verify(transformer: Transformer, key: string, value: Uint8Array): Promise<VerifyOutcome> {
  try {
    const result = await transformer.transformFromStorage(value, contextForKey(key));
    // Only the verdict leaves this function; the plaintext is garbage from here on.
    return {
      kind: "verified",
      stale: result.stale,
      ...(result.origin.provider === "kms" &&
      result.origin.kmsApiVersion === "v1" &&
      result.origin.dekSourceType !== undefined
        ? { dekSourceType: result.origin.dekSourceType }
        : {}),
    };
  } catch (err) {
    const reason = clip(err instanceof Error ? err.message : String(err));
    if (isAtrestError(err) && err.retryable) return { kind: "unverified", reason };
    return { kind: "failed", reason };
  }
}

function positive(name: string, value: number | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value <= 0)
    throw new AtrestError("invalid-argument", `${name} must be a positive integer, got ${value}`);
  return value;
}

/** Scans the store; never writes to it. Throws only when the store itself fails (listing). */
export async function scanStore(store: Store, options: ScanOptions = {}): Promise<ScanReport> {
  const prefix = normalizePrefix(options.prefix ?? DEFAULT_ETCD_PREFIX);
  const pageSize = positive("pageSize", options.pageSize, DEFAULT_SCAN_PAGE_SIZE);
  const concurrency = positive("concurrency", options.concurrency, DEFAULT_SCAN_CONCURRENCY);
  const policy = options.policy ?? defaultScanPolicy;
  const verifier = options.verifier;
  const wanted =
    options.resources === undefined || options.resources.length === 0
      ? undefined
      : new Set(options.resources);
  const failOnStale = options.failOnStale ?? false;

  const tallies = new Map<string, ResourceTally>();
  const transformers = new Map<string, Transformer>();
  const tallyFor = (resource: string): ResourceTally => {
    let t = tallies.get(resource);
    if (t === undefined) {
      t = new ResourceTally(policy.forResource(resource), verifier !== undefined);
      tallies.set(resource, t);
    }
    return t;
  };
  // Resources asked for by name appear in the report even when they have no objects.
  for (const r of wanted ?? []) tallyFor(r);

  let revision = 0;
  for (const listPrefix of listPrefixesFor(prefix, options.resources)) {
    let startAfter: string | undefined;
    for (;;) {
      const page = await store.list(listPrefix, {
        limit: pageSize,
        ...(startAfter === undefined ? {} : { startAfter }),
        ...(revision === 0 ? {} : { revision }),
      });
      if (revision === 0) revision = page.revision;
      const items = page.items
        .map((kv) => ({ kv, resource: resourceOfKey(prefix, kv.key) }))
        .filter((x) => wanted === undefined || wanted.has(x.resource));
      const classes: ValueClass[] = items.map((x) => classifyValue(x.kv.value));
      const outcomes = await mapLimited(
        items,
        concurrency,
        async (x, i): Promise<VerifyOutcome | undefined> => {
          if (verifier === undefined) return undefined;
          const c = classes[i];
          // Bytes that do not parse are reported as malformed, not read.
          if (c?.kind === "malformed") return undefined;
          let transformer = transformers.get(x.resource);
          if (transformer === undefined) {
            transformer = verifier.transformerFor(x.resource);
            transformers.set(x.resource, transformer);
          }
          return verify(transformer, x.kv.key, x.kv.value);
        },
      );
      items.forEach((x, i) => tallyFor(x.resource).add(x.kv.key, classes[i]!, outcomes[i]));
      const last = page.items[page.items.length - 1];
      if (!page.more || last === undefined) break;
      startAfter = last.key;
    }
  }

  const resources: Record<string, ResourceReport> = {};
  for (const name of [...tallies.keys()].sort()) resources[name] = tallies.get(name)!.report();
  return {
    apiVersion: SCAN_REPORT_API_VERSION,
    kind: SCAN_REPORT_KIND,
    prefix,
    revision,
    configuration:
      options.configurationHash === undefined ? null : { contentHash: options.configurationHash },
    resourceFilter: wanted === undefined ? null : [...wanted].sort(),
    failOnStale,
    resources,
    summary: summarize(resources, verifier !== undefined, failOnStale),
  };
}
