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
import { checkAtrestTag } from "./cluster-tags.js";
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

describe("the key in use is protected (atrest:cluster:<name> tags)", () => {
  const inUse: PlanContext = {
    now: NOW,
    tags: [
      { tag_key: "atrest:cluster:staging", tag_value: "read" },
      { tag_key: "team", tag_value: "infra" },
      { tag_key: "atrest:cluster:demo", tag_value: "write" },
    ],
  };
  const takesAway: KeyChange[] = [
    { op: "DisableKey" },
    { op: "ScheduleKeyDeletion", pendingWindowInDays: 7 },
    { op: "SetDeletionProtection", enabled: false, description: "" },
  ];

  it("disabling, scheduling deletion and unprotecting are refused, naming the clusters and the tags", () => {
    for (const change of takesAway) {
      const row = change.op === "SetDeletionProtection" ? protectedKey() : key();
      try {
        planKeyChange(row, change, inUse);
        assert.fail(`${change.op} must be refused`);
      } catch (err) {
        assert.ok(isAtrestError(err));
        assert.equal(err.details.kmsCode, "Rejected.KeyInUse", change.op);
        assert.match(err.message, /in use by cluster\(s\) demo \(write\), staging \(read\)/);
        assert.match(err.message, /atrest:cluster:demo, atrest:cluster:staging/);
        assert.match(err.message, /Force=true/);
        assert.deepEqual(err.details.clusters, ["demo", "staging"]);
      }
    }
  });

  it("Force=true overrides it and the plan says whose use it overrode", () => {
    for (const change of takesAway) {
      const row = change.op === "SetDeletionProtection" ? protectedKey() : key();
      const plan = planKeyChange(row, { ...change, force: true } as KeyChange, inUse);
      assert.deepEqual(
        plan.overrode.map((u) => `${u.cluster}:${u.use}`),
        ["demo:write", "staging:read"],
        change.op,
      );
    }
    // Force overrides the cluster's claim only, not deletion protection.
    assert.equal(
      kmsCode(() =>
        planKeyChange(
          protectedKey(),
          { op: "ScheduleKeyDeletion", pendingWindowInDays: 7, force: true },
          inUse,
        ),
      ),
      "Forbidden.ResourceProtected",
    );
  });

  it("everything else goes on as usual; without cluster tags nothing is refused or forced", () => {
    for (const change of [
      { op: "EnableKey" },
      { op: "SetDeletionProtection", enabled: true, description: "cluster demo" },
      { op: "UpdateKeyDescription", description: "x" },
      { op: "CreateKeyVersion", versionId: "v2" },
    ] as KeyChange[])
      assert.deepEqual(planKeyChange(key(), change, inUse).overrode, [], change.op);
    for (const change of takesAway) {
      const row = change.op === "SetDeletionProtection" ? protectedKey() : key();
      const plan = planKeyChange(row, { ...change, force: true } as KeyChange, {
        now: NOW,
        tags: [{ tag_key: "team", tag_value: "infra" }],
      });
      assert.deepEqual(plan.overrode, [], `${change.op}: nothing to override`);
    }
  });
});

describe("cluster tags: the contract's grammar", () => {
  it("atrest: is reserved for cluster tags with a DNS-label name and write/read", () => {
    assert.doesNotThrow(() => checkAtrestTag("atrest:cluster:demo", "write", "Tags[0]"));
    assert.doesNotThrow(() => checkAtrestTag("atrest:cluster:a-1", "read", "Tags[0]"));
    assert.doesNotThrow(() => checkAtrestTag("team", "anything", "Tags[0]"));
    for (const [k, v] of [
      ["atrest:other", "write"],
      ["atrest:cluster:", "write"],
      ["atrest:cluster:Demo", "write"],
      ["atrest:cluster:-demo", "write"],
      ["atrest:cluster:demo-", "write"],
      [`atrest:cluster:${"a".repeat(64)}`, "write"],
      ["atrest:cluster:demo", "maybe"],
      ["atrest:cluster:demo", ""],
    ] as const)
      assert.equal(
        kmsCode(() => checkAtrestTag(k, v, "Tags[0]")),
        "InvalidParameter",
        `${k}=${v}`,
      );
    assert.doesNotThrow(() => checkAtrestTag(`atrest:cluster:${"a".repeat(63)}`, "read", "Tags[0]"));
  });
});
