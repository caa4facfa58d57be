import { test } from "node:test";
import assert from "node:assert/strict";
import { AUTO_REENCRYPT_TAG, MAX_TAGS, autoReencryptOf, tagProblems } from "./cluster-tags.js";

test("automatic re-encryption is on unless the tag says false", () => {
  assert.equal(autoReencryptOf([]), true);
  assert.equal(autoReencryptOf([{ key: "team", value: "a" }]), true);
  assert.equal(autoReencryptOf([{ key: AUTO_REENCRYPT_TAG, value: "true" }]), true);
  assert.equal(autoReencryptOf([{ key: AUTO_REENCRYPT_TAG, value: "false" }]), false);
});

test("Alibaba's tag rules: every problem named with its index, a valid list has none", () => {
  assert.deepEqual(
    tagProblems([
      { key: "team", value: "payments" },
      { key: AUTO_REENCRYPT_TAG, value: "false" },
    ]),
    [],
  );
  assert.deepEqual(tagProblems([{ key: "k" }]), [], "a value may be left out (empty)");
  const problems = tagProblems([
    { key: "", value: "x" },
    { key: "aliyun-thing", value: "x" },
    { key: "ACS:owner", value: "x" },
    { key: "see https://example.com", value: "x" },
    { key: "v", value: "acs:x" },
    { key: "w", value: "x".repeat(129) },
    { key: "v", value: "again" },
    { key: AUTO_REENCRYPT_TAG, value: "yes" },
  ]);
  assert.deepEqual(problems, [
    "tags[0].key: 1-128 characters",
    "tags[1].key: must not start with aliyun or acs:",
    "tags[2].key: must not start with aliyun or acs:",
    "tags[3].key: must not contain http:// or https://",
    "tags[4].value: must not start with acs:",
    "tags[5].value: at most 128 characters",
    "tags[6].key: v is given twice",
    `tags[7].value: ${AUTO_REENCRYPT_TAG} is true or false`,
  ]);
  const many = Array.from({ length: MAX_TAGS + 1 }, (_, i) => ({ key: `k${i}`, value: "v" }));
  assert.deepEqual(tagProblems(many), [`tags: at most ${MAX_TAGS} tags per cluster`]);
});
