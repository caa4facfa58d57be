import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, it } from "node:test";
import { KmsClient } from "../kms/client/index.js";
import { initKmsDataDir, startKmsServer, type KmsServer } from "../kms/index.js";
import { ensurePluginPrincipal, pluginPolicy, UP_PLUGIN_PRINCIPAL } from "./plugin-principal.js";

let dir: string;
let server: KmsServer;
let admin: KmsClient;
let keyId: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "atrest-up-principal-"));
  const init = await initKmsDataDir({ dataDir: join(dir, "kms"), accountId: "1234567890" });
  server = await startKmsServer({ dataDir: join(dir, "kms"), schedulerIntervalMs: 0, cacheTtlMs: 0 });
  const creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as {
    accessKeyId: string;
    accessKeySecret: string;
  };
  admin = new KmsClient({ endpoint: server.url, regionId: "cn-hangzhou", ...creds, caFile: init.caCertFile });
  keyId = String(((await admin.call("CreateKey")).KeyMetadata as { KeyId: string }).KeyId);
});

after(async () => {
  admin.close();
  await server.close();
  rmSync(dir, { recursive: true, force: true });
});

const accessKeys = async () =>
  (
    (await admin.call("ListAccessKeys", { PrincipalName: UP_PLUGIN_PRINCIPAL })).AccessKeys as {
      AccessKey: Array<{ AccessKeyId: string }>;
    }
  ).AccessKey.map((k) => k.AccessKeyId);

it("creates the principal, its one-key policy and an access key once; later calls reuse them", async () => {
  const options = {
    keyId,
    region: "cn-hangzhou",
    accountId: "1234567890",
    credentialsFile: join(dir, "p.json"),
  };
  const first = await ensurePluginPrincipal(admin, options);
  const second = await ensurePluginPrincipal(admin, options);
  assert.deepEqual(second, first);
  assert.deepEqual(await accessKeys(), [first.accessKeyId]);
  const policies = (await admin.call("ListPolicies")).Policies as { Policy: Array<{ PolicyName: string }> };
  assert.equal(policies.Policy.filter((p) => p.PolicyName === pluginPolicy(options).name).length, 1);

  // The file lost (or a start that died before writing it): a new key, and the orphan is deleted.
  rmSync(options.credentialsFile);
  const third = await ensurePluginPrincipal(admin, options);
  assert.notEqual(third.accessKeyId, first.accessKeyId);
  assert.deepEqual(await accessKeys(), [third.accessKeyId]);

  // What the principal may do: cryptography on its key only.
  const plugin = new KmsClient({
    endpoint: server.url,
    regionId: "cn-hangzhou",
    ...third,
    caPem: server.caCertPem ?? "",
  });
  try {
    const sealed = await plugin.call("Encrypt", { KeyId: keyId, Plaintext: "eA==" });
    assert.equal(
      (await plugin.call("Decrypt", { CiphertextBlob: String(sealed.CiphertextBlob) })).Plaintext,
      "eA==",
    );
    const other = String(((await admin.call("CreateKey")).KeyMetadata as { KeyId: string }).KeyId);
    for (const [action, params] of [
      ["Encrypt", { KeyId: other, Plaintext: "eA==" }],
      ["DisableKey", { KeyId: keyId }],
      ["CreateKey", {}],
      ["CreateAccessKey", { PrincipalName: UP_PLUGIN_PRINCIPAL }],
    ] as const) {
      await assert.rejects(plugin.call(action, params), (e: { details?: { kmsCode?: string } }) => {
        assert.equal(e.details?.kmsCode, "Forbidden.RAM", action);
        return true;
      });
    }
  } finally {
    plugin.close();
  }
});

it("a policy of that name with another document is refused, not trusted", async () => {
  const options = {
    keyId: "not-the-key",
    region: "cn-hangzhou",
    accountId: "1234567890",
    credentialsFile: join(dir, "q.json"),
  };
  await admin.call("CreatePolicy", {
    PolicyName: pluginPolicy(options).name,
    PolicyDocument: JSON.stringify({
      Version: "1",
      Statement: [{ Effect: "Allow", Action: "kms:*", Resource: "*" }],
    }),
  });
  await assert.rejects(ensurePluginPrincipal(admin, options), /is not the one atrest up wrote/);
});
