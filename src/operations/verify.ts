/**
 * Verify: the gate before a provider leaves the configuration. A read-only scan of the store (src/scan,
 * straight from etcd or SQLite — the one place an operation reads below the Kubernetes API) reads every
 * managed object through the providers that will remain, and requires each to be stored by the target
 * (with the target's current KMS key_id) and to decrypt and authenticate. Any object that does not —
 * missed by a partial rewrite, written by a lagging apiserver, unreadable — fails the gate.
 */
import { AtrestError } from "../common/errors.js";
import type { VerifyResult } from "./operation-record.js";
import type { RenderedConfig } from "./render.js";

/** What the store holds for one resource (the scan's report, the fields the operation reads). */
export interface StoredResource {
  readonly total: number;
  readonly plaintext: number;
  readonly encrypted: number;
  readonly malformed: number;
  /** With a configuration to read with: values that fail to decrypt / could not be read (KMS down). */
  readonly failed: number | null;
  readonly unverified: number | null;
  readonly byProvider: Readonly<Record<string, number>>;
  /** `kms:v2:<name>` → count. */
  readonly byKmsProvider: Readonly<Record<string, number>>;
  /** KMS v2 key_id as stored → count, hash, the providers that stored it. */
  readonly byKeyId: Readonly<
    Record<string, { count: number; keyIdHash: string; providers: readonly string[] }>
  >;
  readonly objects: {
    readonly stale: readonly string[];
    readonly failed: ReadonlyArray<{ key: string; reason: string }>;
    readonly unverified: ReadonlyArray<{ key: string; reason: string }>;
  };
}

export interface StoredObjects {
  /** The store revision the scan read at. */
  readonly revision: number;
  readonly resources: Readonly<Record<string, StoredResource>>;
}

/**
 * The port to the store: the engine never opens one itself (src/scan's storeScanner implements it,
 * wired by the CLI). `readWith`: read every value through that configuration's providers.
 */
export interface ClusterScanner {
  scan(readWith?: RenderedConfig): Promise<StoredObjects>;
}

/** Runs a scan, naming the store as the cause when it fails. */
export async function scanCluster(
  scanner: ClusterScanner,
  readWith?: RenderedConfig,
): Promise<StoredObjects> {
  try {
    return await scanner.scan(readWith);
  } catch (err) {
    throw new AtrestError(
      "unavailable",
      `cannot scan the store: ${err instanceof Error ? err.message : String(err)}`,
      { cause: err, details: { reason: "StoreUnreachable" } },
    );
  }
}

export interface VerifyTarget {
  /** `identity` or `kms:v2:<name>`. */
  readonly provider: string;
  /** For a KMS target: the key_id every object must be stored under. */
  readonly keyId?: string;
}

/** How many of a resource's objects are stored by the target. */
export function underTarget(r: StoredResource, target: VerifyTarget): number {
  if (target.provider === "identity") return r.plaintext;
  if (target.keyId === undefined) return r.byKmsProvider[target.provider] ?? 0;
  const k = r.byKeyId[target.keyId];
  return k !== undefined && k.providers.includes(target.provider) ? k.count : 0;
}

export function judge(
  report: StoredObjects,
  target: VerifyTarget,
  finalHash: string,
  nowIso: string,
): VerifyResult {
  let total = 0;
  let good = 0;
  let problems = 0;
  let unreadable = 0;
  const reasons: string[] = [];
  for (const [name, r] of Object.entries(report.resources)) {
    total += r.total;
    const under = underTarget(r, target);
    good += under;
    const bad = (r.failed ?? 0) + (r.unverified ?? 0) + r.malformed;
    unreadable += r.unverified ?? 0;
    problems += Math.max(r.total - under, 0) + bad;
    if (r.total - under > 0) {
      const stale = r.objects.stale.slice(0, 3).join(", ");
      reasons.push(
        `${r.total - under} of ${r.total} ${name} are not stored by ${target.provider}${target.keyId === undefined ? "" : " with the current key_id"}${stale === "" ? "" : ` (e.g. ${stale})`}`,
      );
    }
    if ((r.failed ?? 0) > 0)
      reasons.push(
        `${r.failed} ${name} fail to decrypt with the remaining providers (${r.objects.failed[0]?.key ?? ""}: ${r.objects.failed[0]?.reason ?? ""})`,
      );
    if ((r.unverified ?? 0) > 0)
      reasons.push(
        `${r.unverified} ${name} could not be read: ${r.objects.unverified[0]?.reason ?? "KMS unavailable"}`,
      );
    if (r.malformed > 0) reasons.push(`${r.malformed} ${name} do not parse`);
  }
  return {
    passed: problems === 0,
    at: nowIso,
    revision: report.revision,
    configHash: finalHash,
    total,
    underTarget: good,
    problems,
    unreadable,
    ...(reasons.length === 0 ? {} : { reason: reasons.join("; ") }),
  };
}
