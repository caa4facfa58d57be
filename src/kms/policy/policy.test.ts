import { test } from "node:test";
import assert from "node:assert/strict";
import type { AtrestError } from "../../common/errors.js";
import { isAtrestError } from "../../common/errors.js";
import {
  BUILTIN_POLICIES,
  evaluatePolicies,
  isBuiltinPolicyName,
  kmsResourceArn,
  parsePolicyDocument,
  wildcardMatch,
  type PolicyDocument,
} from "./index.js";

const KEY = "acs:kms:cn-hangzhou:1234567890:key/key-hzz6a1b2c3";
const OTHER_KEY = "acs:kms:cn-hangzhou:1234567890:key/key-other";
const ALIAS = "acs:kms:cn-hangzhou:1234567890:alias/alias/app";

function doc(...statements: unknown[]): PolicyDocument {
  return parsePolicyDocument(JSON.stringify({ Version: "1", Statement: statements }));
}

/** Asserts an invalid-argument error whose problems include one at `path`. */
function rejects(json: string, path: string, fragment?: string): void {
  assert.throws(
    () => parsePolicyDocument(json),
    (e: unknown) => {
      assert.ok(isAtrestError(e, "invalid-argument"), String(e));
      const problems = e.details["problems"] as string[];
      const hit = problems.find((p) => p.startsWith(`${path}:`));
      assert.ok(hit, `no problem at ${path} in ${JSON.stringify(problems)}`);
      if (fragment !== undefined) assert.ok(hit.includes(fragment), hit);
      return true;
    },
  );
}

// ---- parsing: one fixture per rule ----

test("a valid document parses into a frozen value with Action/Resource normalised to arrays", () => {
  const d = doc({ Effect: "Allow", Action: "kms:Encrypt", Resource: KEY });
  assert.deepEqual(d, {
    Version: "1",
    Statement: [{ Effect: "Allow", Action: ["kms:Encrypt"], Resource: [KEY] }],
  });
  assert.ok(Object.isFrozen(d) && Object.isFrozen(d.Statement) && Object.isFrozen(d.Statement[0]));
  assert.ok(Object.isFrozen(d.Statement[0]?.Action));
});

test("rule: the document must be JSON", () => rejects("{not json", "(document)", "JSON"));
test("rule: the document must be an object", () => rejects("[]", "(document)"));
test("rule: the document must not exceed 6144 characters", () =>
  rejects(
    JSON.stringify({
      Version: "1",
      Statement: [{ Effect: "Allow", Action: "kms:*", Resource: "*" }],
      x: "a".repeat(6200),
    }),
    "(document)",
    "6144",
  ));
test('rule: Version must be "1"', () =>
  rejects('{"Version":"2","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}]}', "Version"));
test("rule: Statement must be present", () => rejects('{"Version":"1"}', "Statement"));
test("rule: Statement must not be empty", () =>
  rejects('{"Version":"1","Statement":[]}', "Statement", "at least one"));
test("rule: unknown top-level fields are rejected", () =>
  rejects(
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"}],"Id":"x"}',
    "(document)",
  ));
test("rule: Effect must be Allow or Deny", () =>
  rejects(
    '{"Version":"1","Statement":[{"Effect":"allow","Action":"kms:*","Resource":"*"}]}',
    "Statement[0].Effect",
  ));
test("rule: Action is required", () =>
  rejects('{"Version":"1","Statement":[{"Effect":"Allow","Resource":"*"}]}', "Statement[0].Action"));
test("rule: Action must look like service:Name", () =>
  rejects(
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":["kms:Encrypt","Encrypt"],"Resource":"*"}]}',
    "Statement[0].Action[1]",
    "service",
  ));
test("rule: an Action list must not be empty", () =>
  rejects(
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":[],"Resource":"*"}]}',
    "Statement[0].Action",
    "empty",
  ));
test("rule: Resource is required", () =>
  rejects('{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*"}]}', "Statement[0].Resource"));
test("rule: Resource must be * or an acs: ARN", () =>
  rejects(
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"key/abc"}]}',
    "Statement[0].Resource",
  ));
test("rule: Condition is rejected (it would otherwise be silently ignored)", () =>
  rejects(
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Condition":{"IpAddress":{"acs:SourceIp":"10.0.0.0/8"}}}]}',
    "Statement[0].Condition",
    "not supported",
  ));
test("rule: NotAction, NotResource and Principal are rejected", () => {
  rejects(
    '{"Version":"1","Statement":[{"Effect":"Allow","NotAction":"kms:*","Action":"kms:*","Resource":"*"}]}',
    "Statement[0].NotAction",
  );
  rejects(
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","NotResource":"*"}]}',
    "Statement[0].NotResource",
  );
  rejects(
    '{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*","Principal":"*"}]}',
    "Statement[0].Principal",
  );
});
test("rule: every problem is reported, each with its path", () => {
  assert.throws(
    () =>
      parsePolicyDocument(
        '{"Version":"0","Statement":[{"Effect":"Allow","Action":"kms:*","Resource":"*"},{"Effect":"X","Action":"bad","Resource":"bad"}]}',
      ),
    (e: unknown) => {
      const problems = (e as AtrestError).details["problems"] as string[];
      const paths = problems.map((p) => p.slice(0, p.indexOf(":")));
      assert.deepEqual(
        new Set(paths),
        new Set(["Version", "Statement[1].Effect", "Statement[1].Action", "Statement[1].Resource"]),
      );
      return true;
    },
  );
});

// ---- wildcards ----

test("wildcard: * matches any run, ? exactly one character, other characters literally", () => {
  assert.ok(wildcardMatch("kms:List*", "kms:ListKeys"));
  assert.ok(wildcardMatch("kms:List*", "kms:List"));
  assert.ok(wildcardMatch("key/key-???", "key/key-abc"));
  assert.ok(!wildcardMatch("key/key-???", "key/key-abcd"));
  assert.ok(!wildcardMatch("a.c", "abc"), "a dot is literal");
  assert.ok(!wildcardMatch("kms:Encrypt", "kms:EncryptX"), "anchored at both ends");
  assert.ok(wildcardMatch("*", ""));
});

// ---- evaluation: one test per rule ----

test("evaluate: with no matching statement the decision is implicit-deny", () => {
  assert.equal(evaluatePolicies([], { action: "kms:Encrypt", resource: KEY }), "implicit-deny");
  assert.equal(
    evaluatePolicies([doc({ Effect: "Allow", Action: "kms:Decrypt", Resource: KEY })], {
      action: "kms:Encrypt",
      resource: KEY,
    }),
    "implicit-deny",
  );
  assert.equal(
    evaluatePolicies([doc({ Effect: "Allow", Action: "kms:Encrypt", Resource: KEY })], {
      action: "kms:Encrypt",
      resource: OTHER_KEY,
    }),
    "implicit-deny",
  );
});

test("evaluate: a matching Allow allows", () => {
  assert.equal(
    evaluatePolicies([doc({ Effect: "Allow", Action: "kms:Encrypt", Resource: KEY })], {
      action: "kms:Encrypt",
      resource: KEY,
    }),
    "allow",
  );
});

test("evaluate: an explicit Deny wins over any Allow, in the same or another policy, in any order", () => {
  const allowAll = doc({ Effect: "Allow", Action: "kms:*", Resource: "*" });
  const denyDecrypt = doc({ Effect: "Deny", Action: "kms:Decrypt", Resource: KEY });
  assert.equal(evaluatePolicies([allowAll, denyDecrypt], { action: "kms:Decrypt", resource: KEY }), "deny");
  assert.equal(evaluatePolicies([denyDecrypt, allowAll], { action: "kms:Decrypt", resource: KEY }), "deny");
  const both = doc(
    { Effect: "Allow", Action: "kms:*", Resource: "*" },
    { Effect: "Deny", Action: "kms:Decrypt", Resource: "*" },
  );
  assert.equal(evaluatePolicies([both], { action: "kms:Decrypt", resource: KEY }), "deny");
  // the Deny does not reach other actions
  assert.equal(evaluatePolicies([allowAll, denyDecrypt], { action: "kms:Encrypt", resource: KEY }), "allow");
  // a non-matching Deny alone is still implicit-deny, not deny
  assert.equal(evaluatePolicies([denyDecrypt], { action: "kms:Encrypt", resource: KEY }), "implicit-deny");
});

test("evaluate: action names match case-insensitively, with wildcards", () => {
  const p = [doc({ Effect: "Allow", Action: ["kms:list*", "KMS:ENCRYPT"], Resource: "*" })];
  assert.equal(evaluatePolicies(p, { action: "kms:Encrypt", resource: KEY }), "allow");
  assert.equal(
    evaluatePolicies(p, { action: "kms:ListKeys", resource: "acs:kms:cn-hangzhou:1:key" }),
    "allow",
  );
  assert.equal(evaluatePolicies(p, { action: "kms:Decrypt", resource: KEY }), "implicit-deny");
  assert.equal(
    evaluatePolicies([doc({ Effect: "Allow", Action: "kms:*", Resource: "*" })], {
      action: "kms:CreateKey",
      resource: KEY,
    }),
    "allow",
  );
  assert.equal(
    evaluatePolicies([doc({ Effect: "Allow", Action: "ecs:*", Resource: "*" })], {
      action: "kms:CreateKey",
      resource: KEY,
    }),
    "implicit-deny",
  );
});

test("evaluate: resources match key ARNs, alias ARNs and wildcards, case-sensitively", () => {
  const keyOnly = [doc({ Effect: "Allow", Action: "kms:*", Resource: "acs:kms:*:*:key/key-hzz6*" })];
  assert.equal(evaluatePolicies(keyOnly, { action: "kms:Encrypt", resource: KEY }), "allow");
  assert.equal(evaluatePolicies(keyOnly, { action: "kms:Encrypt", resource: OTHER_KEY }), "implicit-deny");
  assert.equal(
    evaluatePolicies(keyOnly, { action: "kms:Encrypt", resource: KEY.toUpperCase() }),
    "implicit-deny",
  );
  const aliasOnly = [
    doc({ Effect: "Allow", Action: "kms:*", Resource: "acs:kms:cn-hangzhou:1234567890:alias/alias/app" }),
  ];
  assert.equal(evaluatePolicies(aliasOnly, { action: "kms:UpdateAlias", resource: ALIAS }), "allow");
  assert.equal(evaluatePolicies(aliasOnly, { action: "kms:Encrypt", resource: KEY }), "implicit-deny");
  const everything = [doc({ Effect: "Allow", Action: "kms:*", Resource: "acs:kms:*:*:*" })];
  assert.equal(evaluatePolicies(everything, { action: "kms:Encrypt", resource: KEY }), "allow");
  assert.equal(
    evaluatePolicies(everything, { action: "kms:Encrypt", resource: "acs:ecs:cn-hangzhou:1:instance/i-1" }),
    "implicit-deny",
  );
});

test("kmsResourceArn builds key, alias and container ARNs", () => {
  assert.equal(kmsResourceArn("cn-hangzhou", "1234567890", { keyId: "key-hzz6a1b2c3" }), KEY);
  assert.equal(kmsResourceArn("cn-hangzhou", "1234567890", { alias: "alias/app" }), ALIAS);
  assert.equal(kmsResourceArn("cn-hangzhou", "1234567890", { alias: "app" }), ALIAS);
  assert.equal(kmsResourceArn("r", "a", "key"), "acs:kms:r:a:key");
});

// ---- built-in policies ----

test("built-in AliyunKMSFullAccess allows everything in kms", () => {
  const p = [BUILTIN_POLICIES.AliyunKMSFullAccess];
  for (const action of [
    "kms:CreateKey",
    "kms:Encrypt",
    "kms:ScheduleKeyDeletion",
    "kms:CreatePrincipal",
    "kms:AttachPolicy",
  ]) {
    assert.equal(evaluatePolicies(p, { action, resource: KEY }), "allow", action);
  }
});

test("built-in AliyunKMSCryptoAdminAccess manages keys and aliases but not other resources", () => {
  const p = [BUILTIN_POLICIES.AliyunKMSCryptoAdminAccess];
  assert.equal(evaluatePolicies(p, { action: "kms:ScheduleKeyDeletion", resource: KEY }), "allow");
  assert.equal(
    evaluatePolicies(p, { action: "kms:CreateKey", resource: "acs:kms:cn-hangzhou:1:key" }),
    "allow",
  );
  assert.equal(evaluatePolicies(p, { action: "kms:DeleteAlias", resource: ALIAS }), "allow");
  assert.equal(
    evaluatePolicies(p, { action: "kms:CreatePrincipal", resource: "acs:kms:cn-hangzhou:1:principal/bob" }),
    "implicit-deny",
  );
});

test("built-in AliyunKMSCryptoUserAccess does cryptography only", () => {
  const p = [BUILTIN_POLICIES.AliyunKMSCryptoUserAccess];
  for (const action of [
    "kms:Encrypt",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "kms:GenerateDataKeyWithoutPlaintext",
  ]) {
    assert.equal(evaluatePolicies(p, { action, resource: KEY }), "allow", action);
  }
  for (const action of [
    "kms:CreateKey",
    "kms:DisableKey",
    "kms:ScheduleKeyDeletion",
    "kms:ListKeys",
    "kms:CreatePrincipal",
  ]) {
    assert.equal(evaluatePolicies(p, { action, resource: KEY }), "implicit-deny", action);
  }
});

test("built-in AliyunKMSReadOnlyAccess lists and describes only", () => {
  const p = [BUILTIN_POLICIES.AliyunKMSReadOnlyAccess];
  assert.equal(evaluatePolicies(p, { action: "kms:DescribeKey", resource: KEY }), "allow");
  assert.equal(evaluatePolicies(p, { action: "kms:ListKeys", resource: "acs:kms:r:a:key" }), "allow");
  assert.equal(evaluatePolicies(p, { action: "kms:Encrypt", resource: KEY }), "implicit-deny");
});

test("built-in policies are frozen and recognised by name", () => {
  assert.ok(Object.isFrozen(BUILTIN_POLICIES));
  assert.ok(isBuiltinPolicyName("AliyunKMSCryptoUserAccess"));
  assert.ok(!isBuiltinPolicyName("toString"));
  assert.ok(!isBuiltinPolicyName("Custom"));
});

// ---- wildcard matching: the semantics, and linear time ----

/** The semantics as a regular expression (the matcher before it was made linear): the reference. */
function referenceMatch(pattern: string, value: string, caseInsensitive: boolean): boolean {
  let source = "^";
  for (const ch of pattern) {
    if (ch === "*") source += "[\\s\\S]*";
    else if (ch === "?") source += "[\\s\\S]";
    else source += ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  return new RegExp(`${source}$`, caseInsensitive ? "iu" : "u").test(value);
}

/** A small deterministic PRNG (mulberry32), so a failure names a reproducible case. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

test("wildcard: agrees with the regular-expression semantics on 20,000 random patterns and values", () => {
  const rand = prng(16);
  const pick = (alphabet: string[], max: number) =>
    Array.from(
      { length: Math.floor(rand() * (max + 1)) },
      () => alphabet[Math.floor(rand() * alphabet.length)]!,
    ).join("");
  const valueChars = ["a", "b", "A", ":", "/", "é", "😀", "-"];
  const patternChars = [...valueChars, "*", "*", "?"];
  for (let i = 0; i < 20_000; i++) {
    const pattern = pick(patternChars, 8);
    const value = pick(valueChars, 10);
    for (const ci of [false, true]) {
      assert.equal(
        wildcardMatch(pattern, value, { caseInsensitive: ci }),
        referenceMatch(pattern, value, ci),
        `pattern ${JSON.stringify(pattern)} value ${JSON.stringify(value)} caseInsensitive ${ci}`,
      );
    }
  }
});

test("wildcard: fixed cases (stars at the ends, runs of stars, ?, code points)", () => {
  const cases: Array<[string, string, boolean]> = [
    ["", "", true],
    ["", "a", false],
    ["**", "", true],
    ["a*", "a", true],
    ["*a", "ba", true],
    ["a*a", "a", false],
    ["a*b*c", "abc", true],
    ["a*b*c", "acb", false],
    ["?", "😀", true],
    ["??", "😀", false],
    ["acs:kms:*:*:key/key-*", "acs:kms:cn-hangzhou:1:key/key-abc", true],
    ["acs:kms:*:*:key/key-*", "acs:kms:cn-hangzhou:1:alias/key-abc", false],
  ];
  for (const [p, v, expected] of cases) assert.equal(wildcardMatch(p, v), expected, `${p} ~ ${v}`);
});

test("wildcard: many stars against long values cost comparisons linear in the value", () => {
  const arn = "acs:kms:cn-hangzhou:1234567890:key/";
  // [pattern, the value of size n, whether it matches]: the audit's pattern (×7 time per extra star
  // with a backtracking regex), and patterns whose middle parts are searched across the whole value.
  const cases: Array<[string, (n: number) => string, boolean]> = [
    [`acs:kms:*:*:key/${"*".repeat(8)}Z`, (n) => `${arn}${"a".repeat(n)}`, false],
    [`acs:kms:*:*:key/${"*".repeat(8)}Z`, (n) => `${arn}${"a".repeat(n)}Z`, true],
    [`acs:kms:*:*:key/${"*a".repeat(40)}*Z`, (n) => `${arn}${"b".repeat(n)}${"a".repeat(39)}Z`, false],
    [`acs:kms:*:*:key/${"*a".repeat(40)}*Z`, (n) => `${arn}${"b".repeat(n)}${"a".repeat(40)}Z`, true],
    [`*${"aaaaaaab*".repeat(10)}Z`, (n) => `${"a".repeat(n)}Z`, false],
    [`${"*?".repeat(10)}*b`, (n) => `${"a".repeat(n)}b`, true],
    [`${"*ab".repeat(20)}*c`, (n) => `${"ab".repeat(19)}${"a".repeat(n)}c`, false],
  ];
  for (const [pattern, valueOf, expected] of cases) {
    // The reference agrees on a small instance (a backtracking regex cannot do the large ones).
    // (A regex that fails backtracks exponentially, so those get a tiny value; 40 fits the 30 `?`.)
    assert.equal(
      referenceMatch(pattern, valueOf(expected ? 40 : 4), false),
      expected,
      `reference: ${pattern}`,
    );
    const costAt = (n: number) => {
      const value = valueOf(n);
      const cost = { steps: 0 };
      assert.equal(wildcardMatch(pattern, value, { cost }), expected, pattern);
      return { steps: cost.steps, length: value.length };
    };
    const small = costAt(2_000);
    const large = costAt(16_000);
    // Linear: 8× the value costs at most ~8× the comparisons (a little more for the fixed parts)...
    assert.ok(large.steps <= 8.5 * small.steps + 100, `${pattern}: ${small.steps} → ${large.steps} steps`);
    // ...and never more than |value| × |pattern| comparisons in all.
    assert.ok(large.steps <= large.length * pattern.length, `${pattern}: ${large.steps} steps`);
  }
});

test("evaluate: a policy whose Resource has many stars is evaluated like any other", () => {
  const p = [doc({ Effect: "Allow", Action: "kms:*", Resource: `acs:kms:*:*:key/${"*".repeat(12)}Z` })];
  assert.equal(
    evaluatePolicies(p, { action: "kms:Encrypt", resource: `${KEY}${"x".repeat(5000)}` }),
    "implicit-deny",
  );
  assert.equal(evaluatePolicies(p, { action: "kms:Encrypt", resource: `${KEY}Z` }), "allow");
});
