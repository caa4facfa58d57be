/**
 * The scan report: per resource, counts by how objects are stored, and — with a configuration — which
 * are stale and which fail to authenticate; plus the list of object keys behind every finding. Keys
 * are not secret; nothing here ever holds a value's bytes or plaintext. The JSON form (`-o json`) is
 * this structure as is, with sorted map keys, so automation can rely on it.
 */
import { keyIdHash } from "../common/key-id-hash.js";
import { providerLabel, type PlaintextEncoding, type ValueClass } from "./classify.js";
import type { ResourcePolicy } from "./policy.js";

/** The report format's version; bump it when a field changes meaning. */
export const SCAN_REPORT_API_VERSION = "atrest.io/v1alpha1";
export const SCAN_REPORT_KIND = "ScanReport";

/**
 * Exit statuses of `atrest scan` (documented in its --help). When several findings apply, the first
 * in this order wins: failed, malformed, plaintext, unverified, stale.
 */
export const SCAN_EXIT = Object.freeze({
  ok: 0,
  /** A dependency (the KMS plugin) was unavailable, so some objects could not be checked. */
  unverified: 3,
  /** Objects in plaintext that should be encrypted. */
  plaintext: 10,
  /** Values that do not parse. */
  malformed: 11,
  /** Values that fail to decrypt or authenticate through the configuration (wrong key, moved, unknown provider). */
  failed: 12,
  /** Stale objects, only with --fail-on-stale. */
  stale: 13,
});

export type Finding = "failed" | "malformed" | "plaintext" | "unverified" | "stale";

export interface KeyIdCount {
  readonly count: number;
  /** `sha256:<hex>` of the key id, as kube's metrics show it. */
  readonly keyIdHash: string;
  /** `kms:v2:<providerName>` of the providers that stored values under this key id. */
  readonly providers: string[];
}

export interface ObjectProblem {
  readonly key: string;
  readonly reason: string;
}

export interface ResourceObjects {
  /** Plaintext objects of a resource that should be encrypted. */
  readonly plaintext: string[];
  readonly malformed: ObjectProblem[];
  readonly stale: string[];
  readonly failed: ObjectProblem[];
  readonly unverified: ObjectProblem[];
}

export interface ResourceReport {
  readonly total: number;
  readonly plaintext: number;
  readonly encrypted: number;
  readonly malformed: number;
  /** Plaintext objects where encryption is expected (the configuration encrypts the resource; without one: Secrets). */
  readonly plaintextViolations: number;
  readonly encryptionExpected: boolean;
  /** The provider that writes this resource under the configuration; null without one. */
  readonly writer: string | null;
  /** The configuration's pattern that matched; null when none (identity) or without a configuration. */
  readonly rule: string | null;
  /** `identity` (plaintext), `aescbc`, `aesgcm`, `secretbox`, `kms:v1`, `kms:v2`, `malformed`. */
  readonly byProvider: Record<string, number>;
  readonly byPlaintextEncoding: Partial<Record<PlaintextEncoding, number>>;
  /** `<provider>:<keyName>` for aescbc / aesgcm / secretbox. */
  readonly byKeyName: Record<string, number>;
  /** `kms:v1:<name>`, `kms:v2:<name>`. */
  readonly byKmsProvider: Record<string, number>;
  /** KMS v2 key_id as stored → count and hash. */
  readonly byKeyId: Record<string, KeyIdCount>;
  /** KMS v2: AES_GCM_KEY / HKDF_SHA256_XNONCE_AES_GCM_SEED; KMS v1 (after a read): AES_GCM / AES_CBC. */
  readonly byDekSourceType: Record<string, number>;
  /** With a configuration: objects that decrypted and authenticated; null without one. */
  readonly verified: number | null;
  /** With a configuration: objects an update would rewrite (other provider, key or key_id than the writer). */
  readonly stale: number | null;
  /** With a configuration: objects that fail to decrypt or authenticate. */
  readonly failed: number | null;
  /** With a configuration: objects not checked because the KMS plugin was unavailable. */
  readonly unverified: number | null;
  readonly objects: ResourceObjects;
}

export interface ScanSummary {
  readonly resources: number;
  readonly total: number;
  readonly plaintext: number;
  readonly plaintextViolations: number;
  readonly encrypted: number;
  readonly malformed: number;
  readonly verified: number | null;
  readonly stale: number | null;
  readonly failed: number | null;
  readonly unverified: number | null;
  /** The findings present, most severe first. */
  readonly findings: Finding[];
  readonly exitCode: number;
}

export interface ScanReport {
  readonly apiVersion: typeof SCAN_REPORT_API_VERSION;
  readonly kind: typeof SCAN_REPORT_KIND;
  readonly prefix: string;
  /** The store revision the scan read at (one consistent snapshot). */
  readonly revision: number;
  /** The configuration the objects were checked against; null when none was given. */
  readonly configuration: { readonly contentHash: string } | null;
  /** Resources asked for (null: every resource under the prefix). */
  readonly resourceFilter: string[] | null;
  readonly failOnStale: boolean;
  readonly resources: Record<string, ResourceReport>;
  readonly summary: ScanSummary;
}

/** What reading one object through the configuration gave. */
export type VerifyOutcome =
  | { readonly kind: "verified"; readonly stale: boolean; readonly dekSourceType?: string }
  | { readonly kind: "failed"; readonly reason: string }
  | { readonly kind: "unverified"; readonly reason: string };

function bump(map: Record<string, number>, key: string): void {
  map[key] = (map[key] ?? 0) + 1;
}

function sortedRecord<V>(map: Record<string, V>): Record<string, V> {
  const out: Record<string, V> = {};
  for (const k of Object.keys(map).sort()) out[k] = map[k]!;
  return out;
}

function byKey(a: { key: string }, b: { key: string }): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Collects one resource's counts as objects stream by. */
export class ResourceTally {
  private total = 0;
  private plaintext = 0;
  private encrypted = 0;
  private malformed = 0;
  private plaintextViolations = 0;
  private verified = 0;
  private stale = 0;
  private failed = 0;
  private unverified = 0;
  private readonly byProvider: Record<string, number> = {};
  private readonly byPlaintextEncoding: Record<string, number> = {};
  private readonly byKeyName: Record<string, number> = {};
  private readonly byKmsProvider: Record<string, number> = {};
  private readonly byKeyId: Record<string, { count: number; providers: Set<string> }> = {};
  private readonly byDekSourceType: Record<string, number> = {};
  private readonly objects = {
    plaintext: [] as string[],
    malformed: [] as ObjectProblem[],
    stale: [] as string[],
    failed: [] as ObjectProblem[],
    unverified: [] as ObjectProblem[],
  };

  constructor(
    private readonly policy: ResourcePolicy,
    private readonly verifying: boolean,
  ) {}

  add(key: string, c: ValueClass, outcome: VerifyOutcome | undefined): void {
    this.total++;
    bump(this.byProvider, providerLabel(c));
    switch (c.kind) {
      case "plaintext":
        this.plaintext++;
        bump(this.byPlaintextEncoding, c.encoding);
        if (this.policy.encryptionExpected) {
          this.plaintextViolations++;
          this.objects.plaintext.push(key);
        }
        break;
      case "malformed":
        this.malformed++;
        this.objects.malformed.push({ key, reason: c.reason });
        break;
      case "encrypted":
        this.encrypted++;
        if (c.provider === "kms") {
          bump(this.byKmsProvider, `kms:${c.kmsApiVersion}:${c.providerName}`);
          if (c.kmsApiVersion === "v2") {
            const entry = (this.byKeyId[c.keyId] ??= { count: 0, providers: new Set() });
            entry.count++;
            entry.providers.add(`kms:v2:${c.providerName}`);
            bump(this.byDekSourceType, c.dekSourceType);
          } else if (outcome?.kind === "verified" && outcome.dekSourceType !== undefined) {
            // KMS v1's payload (GCM or legacy CBC) only shows once it is decrypted.
            bump(this.byDekSourceType, outcome.dekSourceType);
          }
        } else {
          bump(this.byKeyName, `${c.provider}:${c.keyName}`);
        }
        break;
    }
    if (outcome === undefined) return;
    switch (outcome.kind) {
      case "verified":
        this.verified++;
        if (outcome.stale) {
          this.stale++;
          this.objects.stale.push(key);
        }
        break;
      case "failed":
        this.failed++;
        this.objects.failed.push({ key, reason: outcome.reason });
        break;
      case "unverified":
        this.unverified++;
        this.objects.unverified.push({ key, reason: outcome.reason });
        break;
    }
  }

  report(): ResourceReport {
    const byKeyId: Record<string, KeyIdCount> = {};
    for (const [keyId, e] of Object.entries(this.byKeyId)) {
      byKeyId[keyId] = { count: e.count, keyIdHash: keyIdHash(keyId), providers: [...e.providers].sort() };
    }
    const v = this.verifying;
    return {
      total: this.total,
      plaintext: this.plaintext,
      encrypted: this.encrypted,
      malformed: this.malformed,
      plaintextViolations: this.plaintextViolations,
      encryptionExpected: this.policy.encryptionExpected,
      writer: this.policy.writer ?? null,
      rule: this.policy.rule ?? null,
      byProvider: sortedRecord(this.byProvider),
      byPlaintextEncoding: sortedRecord(this.byPlaintextEncoding),
      byKeyName: sortedRecord(this.byKeyName),
      byKmsProvider: sortedRecord(this.byKmsProvider),
      byKeyId: sortedRecord(byKeyId),
      byDekSourceType: sortedRecord(this.byDekSourceType),
      verified: v ? this.verified : null,
      stale: v ? this.stale : null,
      failed: v ? this.failed : null,
      unverified: v ? this.unverified : null,
      objects: {
        plaintext: [...this.objects.plaintext].sort(),
        malformed: [...this.objects.malformed].sort(byKey),
        stale: [...this.objects.stale].sort(),
        failed: [...this.objects.failed].sort(byKey),
        unverified: [...this.objects.unverified].sort(byKey),
      },
    };
  }
}

const FINDING_ORDER: readonly Finding[] = ["failed", "malformed", "plaintext", "unverified", "stale"];

/** Sums the resources and picks the exit status (see SCAN_EXIT). */
export function summarize(
  resources: Readonly<Record<string, ResourceReport>>,
  verifying: boolean,
  failOnStale: boolean,
): ScanSummary {
  const all = Object.values(resources);
  const sum = (f: (r: ResourceReport) => number | null): number => all.reduce((n, r) => n + (f(r) ?? 0), 0);
  const s = {
    resources: all.length,
    total: sum((r) => r.total),
    plaintext: sum((r) => r.plaintext),
    plaintextViolations: sum((r) => r.plaintextViolations),
    encrypted: sum((r) => r.encrypted),
    malformed: sum((r) => r.malformed),
    verified: verifying ? sum((r) => r.verified) : null,
    stale: verifying ? sum((r) => r.stale) : null,
    failed: verifying ? sum((r) => r.failed) : null,
    unverified: verifying ? sum((r) => r.unverified) : null,
  };
  const present: Record<Finding, boolean> = {
    failed: (s.failed ?? 0) > 0,
    malformed: s.malformed > 0,
    plaintext: s.plaintextViolations > 0,
    unverified: (s.unverified ?? 0) > 0,
    stale: failOnStale && (s.stale ?? 0) > 0,
  };
  const findings = FINDING_ORDER.filter((f) => present[f]);
  const first = findings[0];
  return { ...s, findings, exitCode: first === undefined ? SCAN_EXIT.ok : SCAN_EXIT[first] };
}
