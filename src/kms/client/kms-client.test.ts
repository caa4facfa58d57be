import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { isAtrestError } from "../../common/errors.js";
import { computeSignatureV1 } from "../../iam/signature/v1.js";
import { KmsClient } from "./kms-client.js";
import { loadKmsProfile, parseKmsProfile } from "./profile.js";

const SECRET = "s3cr3t+/=";

/** A fake KMS endpoint that verifies V1 signatures and answers per action. */
async function fakeKms(
  answer: (action: string, params: Record<string, string>) => { status: number; body: unknown },
): Promise<{ server: Server; url: string; seen: { method: string; params: Record<string, string> }[] }> {
  const seen: { method: string; params: Record<string, string> }[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const params: Record<string, string> = {};
      for (const [k, v] of new URL(req.url ?? "/", "http://x").searchParams) params[k] = v;
      for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString("utf8"))) params[k] = v;
      seen.push({ method: req.method ?? "", params });
      res.setHeader("content-type", "application/json");
      if (params["Signature"] !== computeSignatureV1(req.method ?? "", params, SECRET)) {
        res.statusCode = 400;
        res.end(JSON.stringify({ RequestId: "r", Code: "SignatureDoesNotMatch", Message: "bad signature" }));
        return;
      }
      const a = answer(params["Action"] ?? "", params);
      res.statusCode = a.status;
      res.end(typeof a.body === "string" ? a.body : JSON.stringify(a.body));
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen };
}

async function stop(server: Server): Promise<void> {
  server.closeAllConnections();
  await new Promise<void>((r) => server.close(() => r()));
}

test("KmsClient signs V1 requests (POST form body and GET query) with the common parameters", async () => {
  const { server, url, seen } = await fakeKms(() => ({
    status: 200,
    body: { RequestId: "r1", KeyMetadata: { KeyId: "key-1" } },
  }));
  try {
    for (const method of ["POST", "GET"] as const) {
      const c = new KmsClient({
        endpoint: url,
        accessKeyId: "AK1",
        accessKeySecret: SECRET,
        regionId: "cn-hangzhou",
        method,
      });
      const r = await c.call("DescribeKey", { KeyId: "alias/a b*~", Flag: true, N: 7, Skip: undefined });
      c.close();
      assert.deepEqual(r, { RequestId: "r1", KeyMetadata: { KeyId: "key-1" } });
      const last = seen.at(-1)!;
      assert.equal(last.method, method);
      assert.equal(last.params["KeyId"], "alias/a b*~");
      assert.equal(last.params["Flag"], "true");
      assert.equal(last.params["N"], "7");
      assert.equal("Skip" in last.params, false);
      for (const k of [
        "Action",
        "Version",
        "Format",
        "AccessKeyId",
        "SignatureMethod",
        "SignatureVersion",
        "SignatureNonce",
        "Timestamp",
        "RegionId",
      ]) {
        assert.ok(last.params[k], k);
      }
      assert.equal(last.params["Version"], "2016-01-20");
      assert.match(last.params["Timestamp"] ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    }
    assert.notEqual(seen[0]?.params["SignatureNonce"], seen[1]?.params["SignatureNonce"]);
  } finally {
    await stop(server);
  }
});

test("KMS errors become AtrestError with the KMS code, HTTP status and request id", async () => {
  const { server, url } = await fakeKms((action) => {
    if (action === "Encrypt")
      return {
        status: 409,
        body: {
          RequestId: "r2",
          HostId: "h",
          Code: "Rejected.Disabled",
          Message: "key is disabled",
          Recommend: "",
        },
      };
    if (action === "Decrypt")
      return { status: 403, body: { RequestId: "r3", Code: "Forbidden.RAM", Message: "denied" } };
    if (action === "DescribeKey")
      return { status: 404, body: { RequestId: "r4", Code: "Forbidden.KeyNotFound", Message: "no key" } };
    return { status: 502, body: "<html>bad gateway</html>" };
  });
  try {
    const c = new KmsClient({ endpoint: url, accessKeyId: "AK1", accessKeySecret: SECRET });
    await assert.rejects(c.call("Encrypt", { KeyId: "k", Plaintext: "topsecret" }), (e) => {
      assert.ok(isAtrestError(e, "failed-precondition"));
      assert.deepEqual(
        { ...e.details },
        { kmsCode: "Rejected.Disabled", httpStatus: 409, requestId: "r2", action: "Encrypt" },
      );
      assert.ok(!e.message.includes("topsecret"));
      return true;
    });
    await assert.rejects(
      c.call("Decrypt", {}),
      (e) => isAtrestError(e, "permission-denied") && e.details["kmsCode"] === "Forbidden.RAM",
    );
    await assert.rejects(
      c.call("DescribeKey", {}),
      (e) => isAtrestError(e, "not-found") && e.details["httpStatus"] === 404,
    );
    await assert.rejects(
      c.call("Other", {}),
      (e) => isAtrestError(e, "unavailable") && e.details["httpStatus"] === 502,
    );
    const wrong = new KmsClient({ endpoint: url, accessKeyId: "AK1", accessKeySecret: "wrong" });
    await assert.rejects(
      wrong.call("DescribeKey", {}),
      (e) => isAtrestError(e, "unauthenticated") && e.details["kmsCode"] === "SignatureDoesNotMatch",
    );
    c.close();
    wrong.close();
  } finally {
    await stop(server);
  }
});

test("an unreachable endpoint is an unavailable error", async () => {
  const { server, url } = await fakeKms(() => ({ status: 200, body: {} }));
  await stop(server);
  const c = new KmsClient({ endpoint: url, accessKeyId: "AK1", accessKeySecret: SECRET });
  await assert.rejects(c.call("ListKeys"), (e) => isAtrestError(e, "unavailable"));
  c.close();
});

test("profiles: valid, relative caFile resolved, and every problem reported without values", () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-profile-"));
  const file = join(dir, "p.json");
  writeFileSync(
    file,
    JSON.stringify({
      endpoint: "https://127.0.0.1:9443/",
      regionId: "cn-hangzhou",
      accessKeyId: "AK",
      accessKeySecret: "S",
      caFile: "ca.crt",
    }),
    { mode: 0o600 },
  );
  assert.deepEqual(loadKmsProfile(file), {
    endpoint: "https://127.0.0.1:9443",
    regionId: "cn-hangzhou",
    accessKeyId: "AK",
    accessKeySecret: "S",
    caFile: join(dir, "ca.crt"),
  });
  assert.throws(
    () =>
      parseKmsProfile(
        JSON.stringify({ endpoint: "ftp://x", accessKeyId: "", accessKeySecret: "hunter2", extra: 1 }),
      ),
    (e) => {
      assert.ok(isAtrestError(e, "invalid-argument"));
      assert.match(e.message, /endpoint/);
      assert.match(e.message, /accessKeyId/);
      assert.match(e.message, /extra/);
      assert.ok(!e.message.includes("hunter2"));
      return true;
    },
  );
  assert.throws(
    () => loadKmsProfile(join(dir, "missing.json")),
    (e) => isAtrestError(e, "invalid-argument"),
  );
  // It holds an access key secret: readable by others, it is refused (one line naming the fix).
  chmodSync(file, 0o644);
  assert.throws(
    () => loadKmsProfile(file),
    (e) =>
      isAtrestError(e, "failed-precondition") && /chmod 600/.test(e.message) && !e.message.includes('"S"'),
  );
});

test("an action parameter named like a common parameter is refused before anything is sent", async () => {
  const { server, url, seen } = await fakeKms(() => ({ status: 200, body: {} }));
  try {
    const c = new KmsClient({ endpoint: url, accessKeyId: "AK1", accessKeySecret: SECRET });
    await assert.rejects(
      c.call("DeleteAccessKey", { AccessKeyId: "AK-other" }),
      (e) => isAtrestError(e, "invalid-argument") && /collides/.test(e.message),
    );
    assert.equal(seen.length, 0);
    c.close();
  } finally {
    await stop(server);
  }
});
