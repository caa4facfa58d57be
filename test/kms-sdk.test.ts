import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import https from "node:https";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { initKmsDataDir } from "../src/kms/init.js";
import { startKmsServer, type KmsServer } from "../src/kms/server.js";
import { repoRoot } from "./support/cli.js";

/**
 * Three official Alibaba Cloud SDK clients, unchanged, driving atrest kms over HTTPS with signatures
 * checked: create a key, encrypt, decrypt, rotate, decrypt the old ciphertext, disable, and the error
 * each SDK reports. Each trusts the server's private CA the way that SDK allows:
 *  - @alicloud/pop-core: an https.Agent with `ca` in the client's `opts`;
 *  - @alicloud/openapi-client: `Config.ca` (PEM text);
 *  - @alicloud/kms20160120@1.2.0: its rpc-client drops `RuntimeOptions.ca`, so it runs in a child
 *    process with NODE_EXTRA_CA_CERTS (Node's documented way to add a CA to the default trust store).
 */

const require = createRequire(import.meta.url);
const execFileAsync = promisify(execFile);

let dir: string;
let server: KmsServer;
let caFile: string;
let caPem: string;
let creds: { accessKeyId: string; accessKeySecret: string };

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "atrest-kms-sdk-"));
  const init = await initKmsDataDir({ dataDir: join(dir, "kms"), accountId: "1234567890" });
  caFile = init.caCertFile;
  caPem = readFileSync(caFile, "utf8");
  creds = JSON.parse(readFileSync(init.credentialsFile, "utf8")) as typeof creds;
  server = await startKmsServer({ dataDir: join(dir, "kms"), schedulerIntervalMs: 0 });
});

after(async () => {
  await server?.close();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

const hostPort = () => new URL(server.url).host;

// ---- @alicloud/pop-core (V1; GET and form-body POST) ----

type PopRpcClient = new (config: Record<string, unknown>) => {
  request(
    action: string,
    params: Record<string, unknown>,
    opts?: Record<string, unknown>,
  ): Promise<Record<string, unknown>>;
};

for (const method of ["GET", "POST"] as const) {
  test(`@alicloud/pop-core RPCClient (${method}) drives the key lifecycle`, async () => {
    const { RPCClient } = require("@alicloud/pop-core") as { RPCClient: PopRpcClient };
    const agent = new https.Agent({ ca: caPem, keepAlive: true });
    const client = new RPCClient({
      endpoint: server.url,
      apiVersion: "2016-01-20",
      accessKeyId: creds.accessKeyId,
      accessKeySecret: creds.accessKeySecret,
      opts: { agent },
    });
    const call = (action: string, params: Record<string, unknown>) =>
      client.request(action, params, { method, timeout: 30_000 });
    try {
      const created = await call("CreateKey", {
        Description: `pop-core ${method}`,
        KeySpec: "Aliyun_AES_256",
      });
      const md = created["KeyMetadata"] as Record<string, string>;
      const keyId = md["KeyId"]!;
      assert.equal(md["KeyState"], "Enabled");
      const context = JSON.stringify({ sdk: "pop-core", method });
      const enc = await call("Encrypt", {
        KeyId: keyId,
        Plaintext: "hello pop-core ✓ *~ +",
        EncryptionContext: context,
      });
      const oldBlob = enc["CiphertextBlob"] as string;
      assert.equal(
        (await call("Decrypt", { CiphertextBlob: oldBlob, EncryptionContext: context }))["Plaintext"],
        "hello pop-core ✓ *~ +",
      );
      const rotated = await call("CreateKeyVersion", { KeyId: keyId });
      const newVersion = (rotated["KeyVersion"] as Record<string, string>)["KeyVersionId"];
      assert.notEqual(newVersion, md["PrimaryKeyVersion"]);
      const enc2 = await call("Encrypt", { KeyId: keyId, Plaintext: "after rotation" });
      assert.equal(enc2["KeyVersionId"], newVersion);
      const old = await call("Decrypt", { CiphertextBlob: oldBlob, EncryptionContext: context });
      assert.equal(old["Plaintext"], "hello pop-core ✓ *~ +");
      assert.equal(old["KeyVersionId"], md["PrimaryKeyVersion"]);
      await call("DisableKey", { KeyId: keyId });
      await assert.rejects(call("Encrypt", { KeyId: keyId, Plaintext: "x" }), (e: unknown) => {
        const err = e as { code?: string; entry?: { response?: { statusCode?: number } } };
        assert.equal(err.code, "Rejected.Disabled");
        assert.equal(err.entry?.response?.statusCode, 409);
        return true;
      });
      // a different encryption context is refused: the blob's authentication fails (400)
      await call("EnableKey", { KeyId: keyId });
      for (const other of ["{}", JSON.stringify({ sdk: "pop-core", method: "other" })]) {
        await assert.rejects(
          call("Decrypt", { CiphertextBlob: oldBlob, EncryptionContext: other }),
          (e: unknown) => {
            const err = e as { code?: string; entry?: { response?: { statusCode?: number } } };
            assert.equal(err.code, "InvalidCiphertext");
            assert.equal(err.entry?.response?.statusCode, 400);
            return true;
          },
        );
      }
    } finally {
      agent.destroy();
    }
  });
}

test("@alicloud/pop-core with a wrong secret gets SignatureDoesNotMatch (400)", async () => {
  const { RPCClient } = require("@alicloud/pop-core") as { RPCClient: PopRpcClient };
  const agent = new https.Agent({ ca: caPem });
  const client = new RPCClient({
    endpoint: server.url,
    apiVersion: "2016-01-20",
    accessKeyId: creds.accessKeyId,
    accessKeySecret: "wrong",
    opts: { agent },
  });
  try {
    await assert.rejects(client.request("ListKeys", {}, { method: "POST" }), (e: unknown) => {
      const err = e as { code?: string; entry?: { response?: { statusCode?: number } } };
      assert.equal(err.code, "SignatureDoesNotMatch");
      assert.equal(err.entry?.response?.statusCode, 400);
      return true;
    });
  } finally {
    agent.destroy();
  }
});

// ---- @alicloud/openapi-client (V3: ACS3-HMAC-SHA256, generic callApi) ----

test("@alicloud/openapi-client callApi (V3 signatures) drives the key lifecycle", async () => {
  const mod = require("@alicloud/openapi-client") as {
    default: new (c: unknown) => {
      callApi(
        p: unknown,
        r: unknown,
        rt: unknown,
      ): Promise<{ body: Record<string, unknown>; statusCode: number }>;
    };
    Config: new (m: Record<string, unknown>) => unknown;
    Params: new (m: Record<string, unknown>) => unknown;
    OpenApiRequest: new (m: Record<string, unknown>) => unknown;
  };
  const { RuntimeOptions } = require("@alicloud/tea-util") as {
    RuntimeOptions: new (m: Record<string, unknown>) => unknown;
  };
  const client = new mod.default(
    new mod.Config({
      accessKeyId: creds.accessKeyId,
      accessKeySecret: creds.accessKeySecret,
      endpoint: hostPort(),
      protocol: "https",
      ca: caPem,
    }),
  );
  const call = async (action: string, query: Record<string, string>) => {
    const res = await client.callApi(
      new mod.Params({
        action,
        version: "2016-01-20",
        protocol: "HTTPS",
        pathname: "/",
        method: "POST",
        authType: "AK",
        style: "RPC",
        reqBodyType: "formData",
        bodyType: "json",
      }),
      new mod.OpenApiRequest({ query }),
      new RuntimeOptions({ autoretry: false, readTimeout: 30_000, connectTimeout: 10_000 }),
    );
    assert.equal(res.statusCode, 200);
    return res.body;
  };
  const created = await call("CreateKey", { Description: "openapi-client v3" });
  const md = created["KeyMetadata"] as Record<string, string>;
  const keyId = md["KeyId"]!;
  const enc = await call("Encrypt", {
    KeyId: keyId,
    Plaintext: "hello v3",
    EncryptionContext: '{"sdk":"openapi-client"}',
  });
  const oldBlob = enc["CiphertextBlob"] as string;
  assert.equal(
    (await call("Decrypt", { CiphertextBlob: oldBlob, EncryptionContext: '{"sdk":"openapi-client"}' }))[
      "Plaintext"
    ],
    "hello v3",
  );
  await call("CreateKeyVersion", { KeyId: keyId });
  const old = await call("Decrypt", {
    CiphertextBlob: oldBlob,
    EncryptionContext: '{"sdk":"openapi-client"}',
  });
  assert.equal(old["Plaintext"], "hello v3");
  assert.equal(old["KeyVersionId"], md["PrimaryKeyVersion"]);
  await call("DisableKey", { KeyId: keyId });
  await assert.rejects(call("Encrypt", { KeyId: keyId, Plaintext: "x" }), (e: unknown) => {
    const err = e as { code?: string; data?: { statusCode?: number } };
    assert.equal(err.code, "Rejected.Disabled");
    assert.equal(err.data?.statusCode, 409);
    return true;
  });
  await assert.rejects(call("DescribeKey", { KeyId: "no-such-key" }), (e: unknown) => {
    const err = e as { code?: string; data?: { statusCode?: number } };
    assert.equal(err.code, "Forbidden.KeyNotFound");
    assert.equal(err.data?.statusCode, 404);
    return true;
  });
});

// ---- @alicloud/kms20160120 (V1, the typed KMS SDK), in a child process trusting the CA ----

const KMS20160120_SCRIPT = String.raw`
const Kms = require("@alicloud/kms20160120");
const Client = Kms.default;
const out = {};
(async () => {
  const { Config } = require("@alicloud/rpc-client");
  const client = new Client(new Config({
    accessKeyId: process.env.T_AK, accessKeySecret: process.env.T_SK,
    endpoint: process.env.T_HOST, protocol: "https", regionId: "cn-hangzhou",
  }));
  const created = await client.createKey(new Kms.CreateKeyRequest({ description: "kms20160120", keySpec: "Aliyun_AES_256" }));
  const keyId = created.keyMetadata.keyId;
  out.primary = created.keyMetadata.primaryKeyVersion;
  const enc = await client.encrypt(new Kms.EncryptRequest({ keyId, plaintext: "hello kms20160120", encryptionContext: { app: "sdk" } }));
  out.decrypted = (await client.decrypt(new Kms.DecryptRequest({ ciphertextBlob: enc.ciphertextBlob, encryptionContext: { app: "sdk" } }))).plaintext;
  const rotated = await client.createKeyVersion(new Kms.CreateKeyVersionRequest({ keyId }));
  out.newVersion = rotated.keyVersion.keyVersionId;
  const old = await client.decrypt(new Kms.DecryptRequest({ ciphertextBlob: enc.ciphertextBlob, encryptionContext: { app: "sdk" } }));
  out.oldDecrypted = old.plaintext;
  out.oldVersion = old.keyVersionId;
  const versions = await client.listKeyVersions(new Kms.ListKeyVersionsRequest({ keyId }));
  out.versionCount = versions.keyVersions.keyVersion.length;
  await client.disableKey(new Kms.DisableKeyRequest({ keyId }));
  try {
    await client.encrypt(new Kms.EncryptRequest({ keyId, plaintext: "x" }));
    out.error = "none";
  } catch (e) {
    out.error = { code: e.code, message: String(e.message), dataCode: e.data && e.data.Code };
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => { process.stderr.write(String(e && e.stack || e)); process.exit(1); });
`;

test("@alicloud/kms20160120 (typed SDK, V1) drives the key lifecycle", async () => {
  const { stdout } = await execFileAsync(process.execPath, ["-e", KMS20160120_SCRIPT], {
    cwd: repoRoot,
    timeout: 90_000,
    env: {
      ...process.env,
      NODE_EXTRA_CA_CERTS: caFile,
      T_AK: creds.accessKeyId,
      T_SK: creds.accessKeySecret,
      T_HOST: hostPort(),
    },
  });
  const out = JSON.parse(stdout) as Record<string, unknown>;
  assert.equal(out["decrypted"], "hello kms20160120");
  assert.equal(out["oldDecrypted"], "hello kms20160120");
  assert.equal(out["oldVersion"], out["primary"]);
  assert.notEqual(out["newVersion"], out["primary"]);
  assert.equal(out["versionCount"], 2);
  const error = out["error"] as { code: string; message: string; dataCode: string };
  assert.equal(error.code, "Rejected.DisabledError");
  assert.equal(error.dataCode, "Rejected.Disabled");
  assert.match(error.message, /code: 409/);
});
