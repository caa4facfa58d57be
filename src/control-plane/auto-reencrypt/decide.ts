/**
 * Whether a cluster needs re-encrypting after its KMS key rotated, decided from what the cluster
 * itself reports (pure: the inputs are read by the watcher). A re-encrypt is due when:
 *   - no operation runs or is unfinished (the engine would refuse one anyway);
 *   - the writer of each managed resource is a KMS v2 provider whose plugin serves key_id K now;
 *   - every apiserver's latest Status call returned K for that provider — so every apiserver writes
 *     with K and a rewrite will not be undone by a straggler (OpenShift's and KEP-3299's rule);
 *   - the store holds objects under another version of the same KMS key (`<key>:<older version>`);
 *   - and this has held for `settleMs` (a rotation seen by all, not a flapping plugin).
 * Objects under another provider or key are left alone: moving between keys is UpdateKMSEncryption's.
 */
import { keyIdHash } from "../../common/key-id-hash.js";
import { kmsKeyOfKeyId, type ApiserverObservation, type ClusterStatus } from "../../operations/index.js";

export type WaitReason =
  | "AutoReencryptDisabled"
  | "ClusterNotRunning"
  | "ChangeNotAllowed"
  | "OperationInProgress"
  | "OperationUnfinished"
  | "ApiserversNotReady"
  | "StatusUnavailable"
  | "NotKmsV2"
  | "KeyIdNotConverged"
  | "UpToDate"
  | "Settling";

export type Decision =
  | { readonly action: "wait"; readonly reason: WaitReason; readonly message: string }
  | {
      readonly action: "reencrypt";
      /** The key_id every apiserver writes with now. */
      readonly keyId: string;
      readonly keyIdHash: string;
      /** Older key_ids of the same key still in the store → object count. */
      readonly stale: Readonly<Record<string, number>>;
      readonly message: string;
    };

/** The provider name → key_id hash of the latest Status call, per apiserver. */
export function latestKeyIds(o: ApiserverObservation): Map<string, string> {
  const best = new Map<string, { hash: string; at: number }>();
  for (const s of o.statusKeyIds) {
    const b = best.get(s.provider);
    if (b === undefined || s.atSeconds >= b.at) best.set(s.provider, { hash: s.keyIdHash, at: s.atSeconds });
  }
  return new Map([...best].map(([p, v]) => [p, v.hash]));
}

const wait = (reason: WaitReason, message: string): Decision => ({ action: "wait", reason, message });

/**
 * `convergedSinceMs`: when the watcher first saw this same converged key_id (it keeps that memory);
 * `nowMs` the clock. Both only matter for the settle period.
 */
export function decide(input: {
  readonly status: ClusterStatus;
  readonly observations: readonly ApiserverObservation[];
  readonly settleMs: number;
  readonly convergedSinceMs: number | undefined;
  readonly nowMs: number;
}): Decision {
  const { status, observations } = input;
  const op = status.operation;
  if (status.lease?.live === true || op?.state === "Running")
    return wait("OperationInProgress", `operation ${op?.id ?? ""} (${op?.type ?? "?"}) is running`);
  if (op !== null && op.state !== "Succeeded")
    return wait(
      "OperationUnfinished",
      `operation ${op.id} (${op.type}) is ${op.state} at stage ${op.stage}; resume it first`,
    );
  const notReady = observations.filter((o) => !o.reachable || !o.healthy);
  if (notReady.length > 0)
    return wait("ApiserversNotReady", `not ready: ${notReady.map((o) => o.url).join(", ")}`);
  if (status.resourcesError !== undefined) return wait("StatusUnavailable", status.resourcesError);

  const latest = observations.map((o) => ({ url: o.url, keys: latestKeyIds(o) }));
  let target: { keyId: string; hash: string } | undefined;
  const stale: Record<string, number> = {};
  for (const [resource, r] of Object.entries(status.resources)) {
    if (!r.writer.startsWith("kms:v2:")) return wait("NotKmsV2", `${resource} is written by ${r.writer}`);
    const provider = r.writer.slice("kms:v2:".length);
    if (r.keyId === null)
      return wait("StatusUnavailable", `the plugin of ${r.writer} did not report its key_id`);
    const hash = keyIdHash(r.keyId);
    const behind = latest.filter((a) => a.keys.get(provider) !== hash);
    if (behind.length > 0)
      return wait(
        "KeyIdNotConverged",
        `${behind.map((a) => a.url).join(", ")} not yet on ${hash} for ${provider}`,
      );
    const key = kmsKeyOfKeyId(r.keyId);
    for (const [keyId, c] of Object.entries(r.byKeyId))
      if (keyId !== r.keyId && key !== undefined && kmsKeyOfKeyId(keyId) === key)
        stale[keyId] = (stale[keyId] ?? 0) + c.count;
    target ??= { keyId: r.keyId, hash };
  }
  if (target === undefined || Object.keys(stale).length === 0)
    return wait("UpToDate", "no object is under an older version of the cluster's key");
  const since = input.convergedSinceMs ?? input.nowMs;
  if (input.nowMs - since < input.settleMs)
    return wait(
      "Settling",
      `every apiserver is on ${target.hash}; re-encrypting ${Math.ceil((input.settleMs - (input.nowMs - since)) / 1000)} s after that holds`,
    );
  const count = Object.values(stale).reduce((a, b) => a + b, 0);
  return {
    action: "reencrypt",
    keyId: target.keyId,
    keyIdHash: target.hash,
    stale,
    message: `the key rotated to ${target.hash} and every apiserver writes with it; ${count} objects are under older versions`,
  };
}
