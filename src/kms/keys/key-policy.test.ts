import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { isAtrestError } from "../../common/errors.js";
import {
  assertCryptoAllowed,
  assertKeyInvariants,
  isRotationDue,
  newKeyRow,
  planKeyChange,
  type KeyChange,
  type PlanContext,
} from "./key-policy.js";
import { DAY_MS, type CreateKeyInput, type KeyRow } from "./key-types.js";

const NOW = Date.UTC(2026, 0, 1);
const context: PlanContext = { now: NOW, tags: [] };

const input: CreateKeyInput = {
  description: "",
  protectionLevel: "SOFTWARE",
  keySpec: "Aliyun_AES_256",
  keyUsage: "ENCRYPT/DECRYPT",
  origin: "Aliyun_KMS",
  automaticRotation: false,
  rotationIntervalS: undefined,
  creator: "t",
};

function key(overrides: Partial<KeyRow> = {}): KeyRow {
  return { ...newKeyRow(input, { keyId: "k1", versionId: "v1" }, NOW - DAY_MS), ...overrides };
}
const pending = () => key({ key_state: "PendingDeletion", delete_at: NOW + 7 * DAY_MS });
const disabled = () => key({ key_state: "Disabled" });
const protectedKey = () => key({ deletion_protection: 1, deletion_protection_description: "prod" });

function kmsCode(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (err) {
    assert.ok(isAtrestError(err), String(err));
    return String(err.details.kmsCode);
  }
}

describe("planKeyChange: state transitions", () => {
  // [name, row, change, expected: patch subset or the KMS error code]
  const table: Array<[string, () => KeyRow, KeyChange, Partial<KeyRow> | string]> = [
    ["enable a disabled key", disabled, { op: "EnableKey" }, { key_state: "Enabled" }],
    ["enable an enabled key (idempotent)", key, { op: "EnableKey" }, { key_state: "Enabled" }],
    ["enable a key pending deletion", pending, { op: "EnableKey" }, "Rejected.PendingDeletion"],
    ["disable an enabled key", key, { op: "DisableKey" }, { key_state: "Disabled" }],
    ["disable a key pending deletion", pending, { op: "DisableKey" }, "Rejected.PendingDeletion"],
    [
      "schedule deletion of an enabled key",
      key,
      { op: "ScheduleKeyDeletion", pendingWindowInDays: 7 },
      { key_state: "PendingDeletion", delete_at: NOW + 7 * DAY_MS },
    ],
    [
      "schedule deletion of a disabled key",
      disabled,
      { op: "ScheduleKeyDeletion", pendingWindowInDays: 366 },
      { key_state: "PendingDeletion", delete_at: NOW + 366 * DAY_MS },
    ],
    [
      "schedule deletion twice",
      pending,
      { op: "ScheduleKeyDeletion", pendingWindowInDays: 7 },
      "Rejected.PendingDeletion",
    ],
    [
      "schedule deletion of a protected key",
      protectedKey,
      { op: "ScheduleKeyDeletion", pendingWindowInDays: 7 },
      "Forbidden.ResourceProtected",
    ],
    [
      "a deletion window of 6 days",
      key,
      { op: "ScheduleKeyDeletion", pendingWindowInDays: 6 },
      "InvalidParameter",
    ],
    [
      "a deletion window of 367 days",
      key,
      { op: "ScheduleKeyDeletion", pendingWindowInDays: 367 },
      "InvalidParameter",
    ],
    ["cancel a deletion", pending, { op: "CancelKeyDeletion" }, { key_state: "Enabled", delete_at: null }],
    ["cancel without a deletion", key, { op: "CancelKeyDeletion" }, "Rejected.NotPendingDeletion"],
    [
      "turn deletion protection on",
      key,
      { op: "SetDeletionProtection", enabled: true, description: "prod" },
      { deletion_protection: 1, deletion_protection_description: "prod" },
    ],
    [
      "turn deletion protection off (its description goes with it)",
      protectedKey,
      { op: "SetDeletionProtection", enabled: false, description: "ignored" },
      { deletion_protection: 0, deletion_protection_description: "" },
    ],
    [
      "rotate an enabled key",
      key,
      { op: "CreateKeyVersion", versionId: "v2" },
      { primary_version_id: "v2", last_rotation_at: NOW },
    ],
    ["rotate a disabled key", disabled, { op: "CreateKeyVersion", versionId: "v2" }, "Rejected.Disabled"],
    [
      "rotate a key pending deletion",
      pending,
      { op: "CreateKeyVersion", versionId: "v2" },
      "Rejected.PendingDeletion",
    ],
    [
      "a description over 8192 characters",
      key,
      { op: "UpdateKeyDescription", description: "x".repeat(8193) },
      "InvalidParameter",
    ],
  ];
  for (const [name, row, change, expected] of table) {
    it(name, () => {
      if (typeof expected === "string") {
        const before = row();
        const copy = structuredClone(before);
        assert.equal(
          kmsCode(() => planKeyChange(before, change, context)),
          expected,
        );
        assert.deepEqual(before, copy, "a refused plan changes nothing");
      } else {
        const { patch } = planKeyChange(row(), change, context);
        for (const [k, v] of Object.entries(expected)) assert.deepEqual(patch[k as keyof typeof patch], v, k);
      }
    });
  }
});

describe("planKeyChange: rotation policy", () => {
  it("enabling needs an interval (given now or kept from before); the next date counts from the last rotation", () => {
    assert.equal(
      kmsCode(() =>
        planKeyChange(key(), { op: "UpdateRotationPolicy", enabled: true, intervalS: undefined }, context),
      ),
      "MissingParameter",
    );
    const { patch } = planKeyChange(
      key(),
      { op: "UpdateRotationPolicy", enabled: true, intervalS: 30 * 86_400 },
      context,
    );
    assert.equal(patch.next_rotation_at, NOW - DAY_MS + 30 * DAY_MS);
    const kept = key({ rotation_interval_s: 10 * 86_400 });
    assert.equal(
      planKeyChange(kept, { op: "UpdateRotationPolicy", enabled: true, intervalS: undefined }, context).patch
        .next_rotation_at,
      NOW - DAY_MS + 10 * DAY_MS,
    );
    const off = planKeyChange(
      kept,
      { op: "UpdateRotationPolicy", enabled: false, intervalS: undefined },
      context,
    );
    assert.deepEqual(off.patch, {
      automatic_rotation: "Disabled",
      rotation_interval_s: 10 * 86_400,
      next_rotation_at: null,
    });
  });

  it("intervals outside 7 to 730 days are refused", () => {
    for (const days of [6, 731])
      assert.equal(
        kmsCode(() =>
          planKeyChange(
            key(),
            { op: "UpdateRotationPolicy", enabled: true, intervalS: days * 86_400 },
            context,
          ),
        ),
        "InvalidParameter",
        `${days} days`,
      );
  });

  it("a rotation of a key with automatic rotation moves its next date by the interval", () => {
    const row = key({
      automatic_rotation: "Enabled",
      rotation_interval_s: 7 * 86_400,
      next_rotation_at: NOW,
    });
    assert.ok(isRotationDue(row, NOW));
    assert.ok(!isRotationDue(row, NOW - 1));
    assert.ok(!isRotationDue({ ...row, key_state: "Disabled" }, NOW));
    const { patch } = planKeyChange(row, { op: "CreateKeyVersion", versionId: "v2" }, context);
    assert.equal(patch.next_rotation_at, NOW + 7 * DAY_MS);
  });
});

describe("key invariants", () => {
  it("a new key with automatic rotation needs an interval", () => {
    assert.equal(
      kmsCode(() => newKeyRow({ ...input, automaticRotation: true }, { keyId: "k", versionId: "v" }, NOW)),
      "MissingParameter",
    );
    const row = newKeyRow(
      { ...input, automaticRotation: true, rotationIntervalS: 7 * 86_400 },
      { keyId: "k", versionId: "v" },
      NOW,
    );
    assert.equal(row.next_rotation_at, NOW + 7 * DAY_MS);
  });

  it("each broken invariant is refused", () => {
    const broken: Array<Partial<KeyRow>> = [
      { key_state: "Deleted" },
      { key_state: "PendingDeletion", delete_at: null },
      { key_state: "Enabled", delete_at: NOW },
      { deletion_protection: 2 },
      { deletion_protection: 0, deletion_protection_description: "left over" },
      { rotation_interval_s: 3600 },
      { automatic_rotation: "Enabled", rotation_interval_s: null, next_rotation_at: null },
      { automatic_rotation: "Enabled", rotation_interval_s: 7 * 86_400, next_rotation_at: null },
      { automatic_rotation: "Sometimes" },
      { primary_version_id: "" },
    ];
    for (const b of broken)
      assert.equal(
        kmsCode(() => assertKeyInvariants(key(b))),
        "InvalidParameter",
        JSON.stringify(b),
      );
    assert.doesNotThrow(() => assertKeyInvariants(key()));
  });

  it("only Enabled keys do cryptography", () => {
    assert.doesNotThrow(() => assertCryptoAllowed(key()));
    assert.equal(
      kmsCode(() => assertCryptoAllowed(disabled())),
      "Rejected.Disabled",
    );
    assert.equal(
      kmsCode(() => assertCryptoAllowed(pending())),
      "Rejected.PendingDeletion",
    );
  });
});
