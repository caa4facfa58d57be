import { kmsError } from "../kms-error.js";
import { clusterTagKey, clusterUsesOf, describeClusterUses, type ClusterUse } from "./cluster-tags.js";
import { DAY_MS, type CreateKeyInput, type KeyRow, type KeyState, type KeyTag } from "./key-types.js";

/**
 * The rules of a key, in one pure module (Vault keysutil's policy style): every change is planned
 * here from the current row and the request, and the row it would produce is checked as a whole
 * (state, deletion window, rotation schedule, protection) before anything is written. The key store
 * only persists what a plan returns; nothing here reads a clock, a store or a random source.
 */

export const KEY_STATES: readonly KeyState[] = ["Enabled", "Disabled", "PendingDeletion"];
/** RotationInterval bounds (Alibaba: 7 to 730 days). */
export const MIN_ROTATION_S = 7 * 86_400;
export const MAX_ROTATION_S = 730 * 86_400;
/** ScheduleKeyDeletion's PendingWindowInDays bounds (Alibaba: 7 to 366). */
export const MIN_PENDING_WINDOW_DAYS = 7;
export const MAX_PENDING_WINDOW_DAYS = 366;
export const MAX_DESCRIPTION_CHARS = 8192;
/** Tags one key may hold (Alibaba: 20). */
export const MAX_TAGS_PER_KEY = 20;

export type KeyChange =
  | { readonly op: "UpdateKeyDescription"; readonly description: string }
  | { readonly op: "EnableKey" }
  | { readonly op: "DisableKey"; readonly force?: boolean }
  | { readonly op: "ScheduleKeyDeletion"; readonly pendingWindowInDays: number; readonly force?: boolean }
  | { readonly op: "CancelKeyDeletion" }
  | {
      readonly op: "SetDeletionProtection";
      readonly enabled: boolean;
      readonly description: string;
      readonly force?: boolean;
    }
  | { readonly op: "UpdateRotationPolicy"; readonly enabled: boolean; readonly intervalS: number | undefined }
  | { readonly op: "CreateKeyVersion"; readonly versionId: string };

/** What a plan may depend on besides the row: the time of the change and the key's tags. */
export interface PlanContext {
  readonly now: number;
  readonly tags: readonly KeyTag[];
}

/** The columns a change sets (never `generation`: the store bumps it with its compare-and-set). */
export type KeyPatch = Partial<Omit<KeyRow, "generation" | "key_id">>;

export interface KeyPlan {
  readonly patch: KeyPatch;
  /** The clusters whose use of the key a Force=true overrode (empty when nothing was overridden). */
  readonly overrode: readonly ClusterUse[];
}

function pendingDeletion(keyId: string) {
  return kmsError(
    "Rejected.PendingDeletion",
    `The key ${keyId} is pending deletion; cancel the deletion first`,
  );
}

/** Only Enabled keys do cryptography or get new versions. */
export function assertCryptoAllowed(row: Pick<KeyRow, "key_id" | "key_state">): void {
  if (row.key_state === "Disabled")
    throw kmsError("Rejected.Disabled", `The key ${row.key_id} is disabled; enable it with EnableKey`);
  if (row.key_state === "PendingDeletion") throw pendingDeletion(row.key_id);
}

/** Whether the scheduler should rotate the key at `now`. */
export function isRotationDue(row: KeyRow, now: number): boolean {
  return (
    row.key_state === "Enabled" &&
    row.automatic_rotation === "Enabled" &&
    row.next_rotation_at !== null &&
    row.next_rotation_at <= now
  );
}

function nextRotationAt(enabled: boolean, intervalS: number | null | undefined, from: number): number | null {
  return enabled && intervalS !== null && intervalS !== undefined ? from + intervalS * 1000 : null;
}

/** Checks the preconditions of `change` on `row` and returns what it sets; throws the KMS error otherwise. */
export function planKeyChange(row: KeyRow, change: KeyChange, context: PlanContext): KeyPlan {
  const overrode = checkKeyInUse(row, change, context);
  const patch = patchFor(row, change, context);
  assertKeyInvariants({ ...row, ...patch });
  return { patch, overrode };
}

/** Whether `change` would take the key away from a cluster: disabling, deleting, unprotecting it. */
function endsUse(change: KeyChange): change is Extract<KeyChange, { force?: boolean }> {
  return (
    change.op === "DisableKey" ||
    change.op === "ScheduleKeyDeletion" ||
    (change.op === "SetDeletionProtection" && !change.enabled)
  );
}

/**
 * The key in use is protected (cluster-tags.ts): while a cluster's tag is on the key, a change that
 * would take it away is refused with Rejected.KeyInUse, naming the clusters and the tags to remove;
 * Force=true overrides it, and the plan says whose use it overrode (so the audit record says forced).
 */
function checkKeyInUse(row: KeyRow, change: KeyChange, { tags }: PlanContext): ClusterUse[] {
  if (!endsUse(change)) return [];
  const uses = clusterUsesOf(tags);
  if (uses.length === 0) return [];
  if (change.force === true) return uses;
  const tagKeys = uses.map((u) => clusterTagKey(u.cluster)).join(", ");
  throw kmsError(
    "Rejected.KeyInUse",
    `The key ${row.key_id} is in use by cluster(s) ${describeClusterUses(uses)}; ${change.op} would take it away. ` +
      `Remove the tag ${tagKeys} (UntagResource) once no cluster needs the key, or pass Force=true to override.`,
    { details: { clusters: uses.map((u) => u.cluster) } },
  );
}

function patchFor(row: KeyRow, change: KeyChange, { now }: PlanContext): KeyPatch {
  switch (change.op) {
    case "UpdateKeyDescription":
      return { description: change.description };
    case "EnableKey":
      if (row.key_state === "PendingDeletion") throw pendingDeletion(row.key_id);
      return { key_state: "Enabled" };
    case "DisableKey":
      if (row.key_state === "PendingDeletion") throw pendingDeletion(row.key_id);
      return { key_state: "Disabled" };
    case "ScheduleKeyDeletion":
      if (row.deletion_protection === 1) {
        throw kmsError(
          "Forbidden.ResourceProtected",
          `The key ${row.key_id} has deletion protection enabled; disable it with SetDeletionProtection first`,
        );
      }
      if (row.key_state === "PendingDeletion") throw pendingDeletion(row.key_id);
      checkPendingWindow(change.pendingWindowInDays);
      return { key_state: "PendingDeletion", delete_at: now + change.pendingWindowInDays * DAY_MS };
    case "CancelKeyDeletion":
      if (row.key_state !== "PendingDeletion")
        throw kmsError("Rejected.NotPendingDeletion", `The key ${row.key_id} is not pending deletion`);
      return { key_state: "Enabled", delete_at: null };
    case "SetDeletionProtection":
      return {
        deletion_protection: change.enabled ? 1 : 0,
        deletion_protection_description: change.enabled ? change.description : "",
      };
    case "UpdateRotationPolicy": {
      const interval = change.intervalS ?? row.rotation_interval_s ?? undefined;
      if (change.enabled && interval === undefined) {
        throw kmsError(
          "MissingParameter",
          'The input parameter "RotationInterval" that is mandatory when EnableAutomaticRotation is true is not supplied.',
        );
      }
      return {
        automatic_rotation: change.enabled ? "Enabled" : "Disabled",
        rotation_interval_s: interval ?? null,
        next_rotation_at: nextRotationAt(change.enabled, interval, row.last_rotation_at ?? row.created_at),
      };
    }
    case "CreateKeyVersion":
      assertCryptoAllowed(row);
      return {
        primary_version_id: change.versionId,
        last_rotation_at: now,
        next_rotation_at:
          row.automatic_rotation === "Enabled" && row.rotation_interval_s !== null
            ? now + row.rotation_interval_s * 1000
            : row.next_rotation_at,
      };
  }
}

function checkPendingWindow(days: number): void {
  if (!Number.isInteger(days) || days < MIN_PENDING_WINDOW_DAYS || days > MAX_PENDING_WINDOW_DAYS) {
    throw kmsError(
      "InvalidParameter",
      `PendingWindowInDays: must be between ${MIN_PENDING_WINDOW_DAYS} and ${MAX_PENDING_WINDOW_DAYS}`,
    );
  }
}

/** Checks a rotation interval in seconds (the parsed RotationInterval). */
export function checkRotationInterval(seconds: number, name = "RotationInterval"): void {
  if (!Number.isInteger(seconds) || seconds < MIN_ROTATION_S || seconds > MAX_ROTATION_S)
    throw kmsError("InvalidParameter", `${name}: must be between 7 and 730 days`);
}

/** The row of a new key (its first version is `versionId`), checked like any other change. */
export function newKeyRow(
  input: CreateKeyInput,
  ids: { keyId: string; versionId: string },
  now: number,
): KeyRow {
  if (input.automaticRotation && input.rotationIntervalS === undefined) {
    throw kmsError(
      "MissingParameter",
      'The input parameter "RotationInterval" is mandatory when EnableAutomaticRotation is true.',
    );
  }
  const row: KeyRow = {
    key_id: ids.keyId,
    description: input.description,
    key_spec: input.keySpec,
    key_usage: input.keyUsage,
    origin: input.origin,
    protection_level: input.protectionLevel,
    key_state: "Enabled",
    creator: input.creator,
    created_at: now,
    primary_version_id: ids.versionId,
    last_rotation_at: now,
    automatic_rotation: input.automaticRotation ? "Enabled" : "Disabled",
    rotation_interval_s: input.rotationIntervalS ?? null,
    next_rotation_at: nextRotationAt(input.automaticRotation, input.rotationIntervalS, now),
    delete_at: null,
    deletion_protection: 0,
    deletion_protection_description: "",
    generation: 1,
  };
  assertKeyInvariants(row);
  return row;
}

/**
 * The invariants every stored key row holds, checked together on the row a change would produce: a
 * known state; a deletion date exactly while PendingDeletion; deletion protection 0/1 with a
 * description only while on; a rotation interval within bounds; automatic rotation only with an
 * interval and a next date; a primary version; a description within its limit.
 */
export function assertKeyInvariants(row: KeyRow): void {
  const broken = (rule: string) =>
    kmsError("InvalidParameter", `The change would break a rule of key ${row.key_id}: ${rule}`);
  if (!KEY_STATES.includes(row.key_state as KeyState)) throw broken(`unknown state ${row.key_state}`);
  if ((row.key_state === "PendingDeletion") !== (row.delete_at !== null))
    throw broken("a deletion date is set exactly while the key is PendingDeletion");
  if (row.deletion_protection !== 0 && row.deletion_protection !== 1)
    throw broken("deletion protection is on or off");
  if (row.deletion_protection === 0 && row.deletion_protection_description !== "")
    throw broken("a deletion protection description needs deletion protection");
  if (row.rotation_interval_s !== null) checkRotationInterval(row.rotation_interval_s);
  if (row.automatic_rotation !== "Enabled" && row.automatic_rotation !== "Disabled")
    throw broken("automatic rotation is Enabled or Disabled");
  if (
    row.automatic_rotation === "Enabled" &&
    (row.rotation_interval_s === null || row.next_rotation_at === null)
  )
    throw broken("automatic rotation needs a rotation interval and a next rotation date");
  if (row.primary_version_id === "") throw broken("a key has a primary version");
  if (row.description.length > MAX_DESCRIPTION_CHARS)
    throw kmsError("InvalidParameter", `Description: at most ${MAX_DESCRIPTION_CHARS} characters`);
}
