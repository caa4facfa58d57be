import { test } from "node:test";
import assert from "node:assert/strict";
import { keyIdHash } from "../../common/key-id-hash.js";
import type { ApiserverObservation, ClusterStatus } from "../../operations/index.js";
import { decide } from "./decide.js";

const K1 = "key-a:v1";
const K2 = "key-a:v2";

function status(over: Partial<ClusterStatus> = {}, byKeyId: Record<string, number> = { [K1]: 3, [K2]: 1 }) {
  return {
    operation: null,
    lease: null,
    resources: {
      secrets: {
        writer: "kms:v2:atrest",
        keyId: K2,
        keyIdHash: keyIdHash(K2),
        total: 4,
        underWriter: byKeyId[K2] ?? 0,
        byProvider: {},
        byKeyId: Object.fromEntries(
          Object.entries(byKeyId).map(([k, count]) => [k, { count, keyIdHash: keyIdHash(k) }]),
        ),
      },
    },
    ...over,
  } as unknown as ClusterStatus;
}

function apiserver(
  url: string,
  samples: Array<[string, string, number]>,
  healthy = true,
): ApiserverObservation {
  return {
    url,
    reachable: true,
    healthy,
    statusKeyIds: samples.map(([provider, keyId, atSeconds]) => ({
      provider,
      keyIdHash: keyIdHash(keyId),
      atSeconds,
    })),
  };
}

const onK2 = [
  apiserver("https://a", [
    ["atrest", K1, 100],
    ["atrest", K2, 200],
  ]),
  apiserver("https://b", [["atrest", K2, 150]]),
];
const base = { settleMs: 0, convergedSinceMs: undefined, nowMs: 1_000 };
const reason = (d: ReturnType<typeof decide>) => (d.action === "wait" ? d.reason : d.action);

test("every apiserver's latest Status on the new key_id and older versions stored: re-encrypt", () => {
  const d = decide({ ...base, status: status(), observations: onK2 });
  assert.equal(d.action, "reencrypt");
  if (d.action === "reencrypt") {
    assert.equal(d.keyId, K2);
    assert.deepEqual(d.stale, { [K1]: 3 });
  }
});

test("one apiserver still on the old key_id (its latest sample): wait", () => {
  const behind = [
    onK2[0]!,
    apiserver("https://b", [
      ["atrest", K2, 100],
      ["atrest", K1, 300],
    ]),
  ];
  const d = decide({ ...base, status: status(), observations: behind });
  assert.equal(reason(d), "KeyIdNotConverged");
  assert.match(d.message, /https:\/\/b/);
});

test("the settle period holds it back until it has passed", () => {
  const input = { status: status(), observations: onK2, settleMs: 60_000, convergedSinceMs: 0 };
  assert.equal(reason(decide({ ...input, nowMs: 59_999 })), "Settling");
  assert.equal(reason(decide({ ...input, nowMs: 60_000 })), "reencrypt");
});

test("objects under another key (not a version of this one) are not a rotation's business", () => {
  const d = decide({ ...base, status: status({}, { "key-b:v9": 2, [K2]: 1 }), observations: onK2 });
  assert.equal(reason(d), "UpToDate");
});

test("an operation running or unfinished, an unready apiserver, a non-KMS writer: wait", () => {
  const running = status({ lease: { owner: "x", expiresAt: "", live: true } });
  assert.equal(reason(decide({ ...base, status: running, observations: onK2 })), "OperationInProgress");
  const failed = status({
    operation: { id: "op1", type: "enable", state: "Failed", stage: "rewrite" },
  } as unknown as Partial<ClusterStatus>);
  assert.equal(reason(decide({ ...base, status: failed, observations: onK2 })), "OperationUnfinished");
  const unready = [onK2[0]!, { ...onK2[1]!, healthy: false }];
  assert.equal(reason(decide({ ...base, status: status(), observations: unready })), "ApiserversNotReady");
  const identity = status();
  (identity.resources["secrets"] as { writer: string }).writer = "identity";
  assert.equal(reason(decide({ ...base, status: identity, observations: onK2 })), "NotKmsV2");
});
