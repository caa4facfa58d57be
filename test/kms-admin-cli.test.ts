import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import type { KmsServer } from "../src/kms/server.js";
import { kmsCli, kmsCliJson, startTestKms, type TestKms } from "./support/kms.js";

// The admin commands not covered by kms-sdk-cli.test.ts (enable-key, cancel-key-deletion,
// list-key-versions, update-rotation-policy, update-key-description, update-alias, delete-alias,
// delete-policy, delete-principal), spawned against a real KMS server over HTTPS. Setup and the
// checks of each command's effect go through the signed API in-process: each spawn costs seconds.

let kms: TestKms | undefined;
let server: KmsServer;
let profile: string;
let creds: TestKms["creds"];
let caFile: string;

before(async () => {
  kms = await startTestKms("kms-admin-cli");
  ({ server, profile, creds, caFile } = kms);
});

after(async () => {
  await kms?.close();
});

const atrest = kmsCli;
const json = (args: string[]) => kmsCliJson(profile, args);

test("the remaining admin commands, each with its effect checked over the API", async () => {
  const api = new KmsRpcTestClient({ url: server.url, ...creds, caCertPem: readFileSync(caFile, "utf8") });
  const meta = async (keyId: string) =>
    (await api.call("DescribeKey", { KeyId: keyId }))["KeyMetadata"] as Record<string, unknown>;
  const aliasesOf = async (keyId: string) =>
    (
      ((await api.call("ListAliasesByKeyId", { KeyId: keyId }))["Aliases"] as Record<string, unknown>)[
        "Alias"
      ] as Array<Record<string, unknown>>
    ).map((a) => a["AliasName"]);
  const fails = async (args: string[]): Promise<string> => {
    const r = await atrest([...args, "--profile", profile]);
    assert.notEqual(r.status, 0, `atrest kms ${args.join(" ")} should fail`);
    return r.stderr;
  };
  try {
    const newKey = async () => {
      const md = (await api.call("CreateKey", {}))["KeyMetadata"] as Record<string, string>;
      return { keyId: md["KeyId"]!, version: md["PrimaryKeyVersion"]! };
    };
    const { keyId: k1, version: firstVersion } = await newKey();
    const { keyId: k2 } = await newKey();
    const v2 = String(
      ((await api.call("CreateKeyVersion", { KeyId: k1 }))["KeyVersion"] as Record<string, unknown>)[
        "KeyVersionId"
      ],
    );
    await api.call("DisableKey", { KeyId: k1 });
    await api.call("ScheduleKeyDeletion", { KeyId: k2, PendingWindowInDays: "7" });
    await api.call("CreateAlias", { AliasName: "alias/cli-moving", KeyId: k1 });
    await api.call("CreatePrincipal", { PrincipalName: "doomed" });
    const ak = await api.call("CreateAccessKey", { PrincipalName: "doomed" });
    await api.call("CreatePolicy", {
      PolicyName: "doomed-policy",
      PolicyDocument:
        '{"Version":"1","Statement":[{"Effect":"Allow","Action":"kms:ListKeys","Resource":"*"}]}',
    });

    // enable-key, cancel-key-deletion, update-key-description, update-rotation-policy, update-alias,
    // list-key-versions: independent of each other, so run side by side.
    const [versions, versionsText] = await Promise.all([
      json(["list-key-versions", "--key-id", k1]),
      atrest([
        "list-key-versions",
        "--key-id",
        k1,
        "--page-size",
        "1",
        "--page-number",
        "2",
        "--profile",
        profile,
      ]),
      json(["enable-key", "--key-id", k1]),
      json(["cancel-key-deletion", "--key-id", k2]),
      json(["update-key-description", "--key-id", k2, "--description", "renamed by the cli"]),
      json([
        "update-rotation-policy",
        "--key-id",
        k2,
        "--enable-automatic-rotation",
        "true",
        "--rotation-interval",
        "30d",
      ]),
      json(["update-alias", "--alias-name", "alias/cli-moving", "--key-id", k2]),
    ]);
    assert.equal(versions["TotalCount"], 2);
    assert.deepEqual(
      (versions["KeyVersions"] as { KeyVersion: { KeyVersionId: string }[] }).KeyVersion.map(
        (v) => v.KeyVersionId,
      ).sort(),
      [firstVersion, v2].sort(),
    );
    assert.equal(versionsText.status, 0, versionsText.stderr);
    assert.match(versionsText.stdout, /^KeyVersionId\s+CreationDate\n\S+\s+\S+\n$/, "a one-row page");

    assert.equal((await meta(k1))["KeyState"], "Enabled");
    assert.equal((await api.call("Encrypt", { KeyId: k1, Plaintext: "eA==" }))["KeyVersionId"], v2);
    let md = await meta(k2);
    assert.equal(md["KeyState"], "Enabled");
    assert.equal(md["DeleteDate"], undefined);
    assert.equal(md["Description"], "renamed by the cli");
    assert.equal(md["AutomaticRotation"], "Enabled");
    assert.equal(md["RotationInterval"], "2592000s");
    assert.deepEqual(await aliasesOf(k1), []);
    assert.deepEqual(await aliasesOf(k2), ["alias/cli-moving"]);

    // Refusals report the KMS code and change nothing; then rotation off, alias and policy deleted.
    await api.call("AttachPolicy", { PolicyName: "doomed-policy", PrincipalName: "doomed" });
    const [badInterval, notPending, inUse] = await Promise.all([
      fails([
        "update-rotation-policy",
        "--key-id",
        k2,
        "--enable-automatic-rotation",
        "true",
        "--rotation-interval",
        "6d",
      ]),
      fails(["cancel-key-deletion", "--key-id", k2]),
      fails(["delete-policy", "--policy-name", "doomed-policy"]),
    ]);
    assert.match(badInterval, /InvalidParameter/);
    assert.match(notPending, /Rejected\.NotPendingDeletion/);
    assert.match(inUse, /Rejected\.ResourceInUse/);
    assert.equal((await meta(k2))["RotationInterval"], "2592000s");

    await api.call("DetachPolicy", { PolicyName: "doomed-policy", PrincipalName: "doomed" });
    await Promise.all([
      json(["update-rotation-policy", "--key-id", k2, "--enable-automatic-rotation", "false"]),
      json(["delete-alias", "--alias-name", "alias/cli-moving"]),
      json(["delete-policy", "--policy-name", "doomed-policy"]),
    ]);
    md = await meta(k2);
    assert.equal(md["AutomaticRotation"], "Disabled");
    assert.equal(md["NextRotationDate"], undefined);
    assert.deepEqual(await aliasesOf(k2), []);
    assert.equal(
      (await api.raw("Encrypt", { KeyId: "alias/cli-moving", Plaintext: "eA==" })).body["Code"],
      "Forbidden.AliasNotFound",
    );
    const policies = (await api.call("ListPolicies", {}))["Policies"] as { Policy: { PolicyName: string }[] };
    assert.ok(!policies.Policy.some((p) => p.PolicyName === "doomed-policy"));

    // delete-principal: the principal is gone and its access key no longer signs anything
    const doomed = new KmsRpcTestClient({
      url: server.url,
      accessKeyId: String(ak["AccessKeyId"]),
      accessKeySecret: String(ak["AccessKeySecret"]),
      caCertPem: readFileSync(caFile, "utf8"),
    });
    try {
      assert.equal((await doomed.raw("ListKeys", {})).body["Code"], "Forbidden.RAM", "signs, but no policy");
      await json(["delete-principal", "--principal-name", "doomed"]);
      const principals = (await api.call("ListPrincipals", {}))["Principals"] as {
        Principal: { PrincipalName: string }[];
      };
      assert.ok(!principals.Principal.some((p) => p.PrincipalName === "doomed"));
      assert.equal(
        (await api.raw("ListAccessKeys", { PrincipalName: "doomed" })).body["Code"],
        "Forbidden.ResourceNotFound",
      );
      assert.equal((await doomed.raw("ListKeys", {})).body["Code"], "InvalidAccessKeyId.NotFound");
    } finally {
      doomed.close();
    }
  } finally {
    api.close();
  }
});
