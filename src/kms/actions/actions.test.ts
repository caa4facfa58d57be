import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { it } from "node:test";
import { ACTIONS, ALIBABA_ACTION_AREAS, ATREST_ACTION_AREAS, actionSpec } from "./index.js";

/** DESIGN.md §7 "Actions to serve", as the handbook lists them. */
const DESIGN_ACTIONS = [
  "CreateKey",
  "DescribeKey",
  "ListKeys",
  "UpdateKeyDescription",
  "EnableKey",
  "DisableKey",
  "ScheduleKeyDeletion",
  "CancelKeyDeletion",
  "SetDeletionProtection",
  "CreateKeyVersion",
  "ListKeyVersions",
  "DescribeKeyVersion",
  "UpdateRotationPolicy",
  "Encrypt",
  "Decrypt",
  "GenerateDataKey",
  "GenerateDataKeyWithoutPlaintext",
  "ReEncrypt",
  "CreateAlias",
  "UpdateAlias",
  "DeleteAlias",
  "ListAliases",
  "ListAliasesByKeyId",
  "TagResource",
  "UntagResource",
  "ListResourceTags",
];

/** atrest's own administration actions (principals, access keys, policies), named one by one. */
const ATREST_ADMIN_ACTIONS = [
  "CreatePrincipal",
  "ListPrincipals",
  "DeletePrincipal",
  "CreateAccessKey",
  "ListAccessKeys",
  "DeleteAccessKey",
  "CreatePolicy",
  "ListPolicies",
  "DeletePolicy",
  "AttachPolicy",
  "DetachPolicy",
];

const names = (areas: Record<string, Record<string, unknown>>) =>
  Object.values(areas).flatMap((a) => Object.keys(a));

it("the Alibaba areas serve exactly DESIGN.md §7's actions, the atrest area exactly its admin actions", () => {
  assert.deepEqual(names(ALIBABA_ACTION_AREAS).sort(), [...DESIGN_ACTIONS].sort());
  assert.deepEqual(names(ATREST_ACTION_AREAS).sort(), [...ATREST_ADMIN_ACTIONS].sort());
  assert.deepEqual(Object.keys(ACTIONS).sort(), [...DESIGN_ACTIONS, ...ATREST_ADMIN_ACTIONS].sort());
});

it("the list above is the handbook's, where the handbook is checked out beside the repository", (t) => {
  const design = fileURLToPath(new URL("../../../../shared/DESIGN.md", import.meta.url));
  if (!existsSync(design)) return t.skip("../shared/DESIGN.md is not present");
  const text = readFileSync(design, "utf8");
  const section = /- Actions to serve:([\s\S]*?)Key states:/.exec(text)?.[1];
  assert.ok(section !== undefined, "DESIGN.md §7 lists the actions to serve");
  // "CreateKey (KeySpec …), DescribeKey, …, ListResourceTags." — drop the parenthesised notes, split.
  const listed = section
    .replace(/\([^)]*\)/g, "")
    .split(/[,.]/)
    .map((w) => w.trim())
    .filter((w) => w !== "");
  assert.deepEqual([...new Set(listed)].sort(), [...DESIGN_ACTIONS].sort());
});

it("no inherited or prototype name resolves to an action", () => {
  for (const name of ["toString", "constructor", "__proto__", "hasOwnProperty", "valueOf"])
    assert.equal(actionSpec(name), undefined, name);
  assert.equal(Object.getPrototypeOf(ACTIONS), null);
  assert.ok(Object.isFrozen(ACTIONS));
});

it("only cryptography, describe and list actions are read-only (everything else is made durable)", () => {
  const readOnly = Object.entries(ACTIONS)
    .filter(([, spec]) => spec.readOnly === true)
    .map(([name]) => name)
    .sort();
  assert.deepEqual(readOnly, [
    "Decrypt",
    "DescribeKey",
    "DescribeKeyVersion",
    "Encrypt",
    "GenerateDataKey",
    "GenerateDataKeyWithoutPlaintext",
    "ListAccessKeys",
    "ListAliases",
    "ListAliasesByKeyId",
    "ListKeyVersions",
    "ListKeys",
    "ListPolicies",
    "ListPrincipals",
    "ListResourceTags",
    "ReEncrypt",
  ]);
});
