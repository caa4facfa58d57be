/** The fuzzing campaign's bounded run in `npm test` (issue 16); `npm run fuzz` runs it longer. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { TARGETS } from "./fuzz/targets.js";

/** Cases per target here: enough to catch a regression of a class, small enough for the suite's budget. */
const CASES: Readonly<Record<string, number>> = { "apiserver-bodies": 40, "kms-rpc": 40 };

for (const target of TARGETS) {
  test(`fuzz: ${target.name}`, async () => {
    const findings = await target.run(CASES[target.name] ?? 300);
    assert.deepEqual(findings, [], JSON.stringify(findings, null, 2));
  });
}
