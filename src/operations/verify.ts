/**
 * Verify: the gate before a provider leaves the configuration. A read-only scan of the store (src/scan,
 * straight from etcd or SQLite — the one place an operation reads below the Kubernetes API) reads every
 * managed object through the providers that will remain, and requires each to be stored by the target
 * (with the target's current KMS key_id) and to decrypt and authenticate. Any object that does not —
 * missed by a partial rewrite, written by a lagging apiserver, unreadable — fails the gate.
 */
import { AtrestError } from "../common/errors.js";
import { buildEncryptionState } from "../encryption-config/build.js";
import { defaultProviderFactories } from "../encryption-config/envelope-providers.js";
import { grpcKmsClients } from "../encryption-config/grpc-clients.js";
import { scanStore, type ResourceReport, type ScanReport } from "../scan/index.js";
import { openStore, type StoreEndpoint } from "../storage/open-store.js";
import { readFileSync } from "node:fs";
import type { ClusterSpec } from "./cluster-file.js";
import type { VerifyResult } from "./operation-record.js";
import type { RenderedConfig } from "./render.js";

export function storeEndpointOf(cluster: ClusterSpec): StoreEndpoint {
  const s = cluster.store;
  if (s.kind === "sqlite") return { sqlitePath: s.path };
  const read = (f: string | undefined, what: string): Buffer | undefined => {
    if (f === undefined) return undefined;
    try {
      return readFileSync(f);
    } catch (err) {
      throw new AtrestError("invalid-argument", `store.etcd.${what}: cannot read ${f}`, { cause: err });
    }
  };
  const ca = read(s.caFile, "caFile");
  const cert = read(s.certFile, "certFile");
  const key = read(s.keyFile, "keyFile");
  return {
    etcdServers: s.endpoints,
    ...(ca === undefined
      ? {}
      : {
          tls: {
            caCertPem: ca,
            ...(cert === undefined ? {} : { clientCertPem: cert }),
            ...(key === undefined ? {} : { clientKeyPem: key }),
          },
        }),
  };
}

/** Scans the managed resources; with `readWith`, every value is read through that configuration. */
export async function scanCluster(cluster: ClusterSpec, readWith?: RenderedConfig): Promise<ScanReport> {
  const store = openStore(storeEndpointOf(cluster));
  const state =
    readWith === undefined
      ? undefined
      : await buildEncryptionState(readWith.config, {
          providers: defaultProviderFactories,
          clients: grpcKmsClients,
          contentHash: readWith.hash,
          background: false,
        });
  try {
    return await scanStore(store, {
      prefix: cluster.store.prefix,
      resources: cluster.resources,
      ...(state === undefined ? {} : { verifier: state, configurationHash: readWith!.hash }),
    });
  } catch (err) {
    throw new AtrestError(
      "unavailable",
      `cannot scan the store (${cluster.store.kind}): ${err instanceof Error ? err.message : String(err)}`,
      { cause: err },
    );
  } finally {
    state?.close();
    await store.close();
  }
}

export interface VerifyTarget {
  /** `identity` or `kms:v2:<name>`. */
  readonly provider: string;
  /** For a KMS target: the key_id every object must be stored under. */
  readonly keyId?: string;
}

/** How many of a resource's objects are stored by the target. */
export function underTarget(r: ResourceReport, target: VerifyTarget): number {
  if (target.provider === "identity") return r.plaintext;
  if (target.keyId === undefined) return r.byKmsProvider[target.provider] ?? 0;
  const k = r.byKeyId[target.keyId];
  return k !== undefined && k.providers.includes(target.provider) ? k.count : 0;
}

export function judge(
  report: ScanReport,
  target: VerifyTarget,
  finalHash: string,
  nowIso: string,
): VerifyResult {
  let total = 0;
  let good = 0;
  let problems = 0;
  const reasons: string[] = [];
  for (const [name, r] of Object.entries(report.resources)) {
    total += r.total;
    const under = underTarget(r, target);
    good += under;
    const bad = (r.failed ?? 0) + (r.unverified ?? 0) + r.malformed;
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
    ...(reasons.length === 0 ? {} : { reason: reasons.join("; ") }),
  };
}
