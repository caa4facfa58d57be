import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AccessStore } from "./access-store.js";
import { initKmsDataDir } from "./init.js";
import { KeyService } from "./keys/index.js";
import { kmsPaths } from "./kms-files.js";
import { createSoftwareProtection } from "./protection/software.js";
import { KmsRequestHandler, type KmsHttpRequest } from "./request-handler.js";
import { RequestJournal } from "./request-journal.js";
import { loadRootKeyFile } from "./root-key.js";
import { signedParamsV1 } from "../../test/support/kms-rpc-test-client.js";
import { openKmsDatabase } from "./store/database.js";

test("an action that changes something is made durable before it is answered; cryptography is not", async () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-handler-"));
  await initKmsDataDir({ dataDir: dir });
  const kdb = await openKmsDatabase({ dataDir: dir });
  try {
    const rootKey = loadRootKeyFile(kmsPaths(dir).rootKey);
    const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as {
      accessKeyId: string;
      accessKeySecret: string;
    };
    const syncs: string[] = [];
    let action = "";
    const handler = new KmsRequestHandler({
      keys: new KeyService({ kdb, protections: { SOFTWARE: createSoftwareProtection({ rootKey }) } }),
      access: new AccessStore({ kdb, rootKey }),
      journal: new RequestJournal(kdb),
      region: "cn-hangzhou",
      accountId: "1234567890123456",
      hostId: "kms.test",
      syncStore: () => {
        syncs.push(action);
        return Promise.resolve();
      },
    });
    const call = async (name: string, extra: Record<string, string> = {}) => {
      action = name;
      const params = signedParamsV1("POST", name, extra, creds);
      const req: KmsHttpRequest = {
        method: "POST",
        pathname: "/",
        query: {},
        headers: { "content-type": "application/x-www-form-urlencoded" },
        rawBody: Buffer.from(new URLSearchParams(params).toString()),
        sourceIp: "127.0.0.1",
      };
      const res = await handler.handle(req);
      assert.equal(res.status, 200, JSON.stringify(res.body));
      return res.body;
    };
    const created = await call("CreateKey");
    const keyId = String((created.KeyMetadata as { KeyId: string }).KeyId);
    await call("Encrypt", { KeyId: keyId, Plaintext: Buffer.from("x").toString("base64") });
    await call("DescribeKey", { KeyId: keyId });
    await call("ListKeys");
    await call("DisableKey", { KeyId: keyId });
    await call("CreatePrincipal", { PrincipalName: "app" });
    assert.deepEqual(syncs, ["CreateKey", "DisableKey", "CreatePrincipal"]);
  } finally {
    await kdb.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
