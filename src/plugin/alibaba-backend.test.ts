/**
 * The alibaba backend's wire behaviour against a scripted HTTPS endpoint (a test double that records
 * requests; the real atrest kms is exercised in test/plugin-alibaba.test.ts): the private CA, the uid
 * header, STS tokens, and which failures are retried.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { generateTlsMaterial, type TlsMaterial } from "../common/tls.js";
import { isAtrestError } from "../common/errors.js";
import { createAlibabaBackend } from "./alibaba-backend.js";

interface Recorded {
  params: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
}

describe("alibaba backend on the wire", () => {
  let tls: TlsMaterial;
  let server: Server;
  let endpoint: string;
  const requests: Recorded[] = [];
  let respond: (params: URLSearchParams) => { status: number; body: Record<string, unknown> };

  before(async () => {
    tls = await generateTlsMaterial({ commonName: "fake-kms", hosts: ["127.0.0.1"] });
    server = createServer({ key: tls.keyPem, cert: tls.certPem }, (req, res) => {
      let body = "";
      req.on("data", (c: Buffer) => (body += c.toString()));
      req.on("end", () => {
        const params = new URLSearchParams(new URL(req.url ?? "/", "https://x").search);
        for (const [k, v] of new URLSearchParams(body)) params.set(k, v);
        requests.push({ params, headers: req.headers });
        const out = respond(params);
        res.writeHead(out.status, { "content-type": "application/json" });
        res.end(JSON.stringify(out.body));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    endpoint = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => {
    server.closeAllConnections();
    server.close();
  });

  const backend = (securityToken?: string) =>
    createAlibabaBackend({
      endpoint,
      regionId: "cn-hangzhou",
      keyId: "alias/k8s",
      credentials: {
        accessKeyId: "AK-test",
        accessKeySecret: "SK-test",
        ...(securityToken ? { securityToken } : {}),
      },
      caPem: tls.caCertPem,
      retryPolicy: { initialBackoffMs: 10, maxBackoffMs: 20, minAttemptMs: 50 },
    });

  it("signs with V1, sends the uid header and the STS token, trusts the private CA", async () => {
    requests.length = 0;
    respond = () => ({
      status: 200,
      body: { RequestId: "r1", CiphertextBlob: "QUJD", KeyId: "key-1", KeyVersionId: "ver-1" },
    });
    const out = await backend("sts-token-1").encrypt(Buffer.from("seed"), {
      uid: "uid-123",
      deadlineMs: Date.now() + 5_000,
    });
    assert.equal(out.keyId, "key-1:ver-1");
    const req = requests[0]!;
    assert.equal(req.params.get("Action"), "Encrypt");
    assert.equal(req.params.get("KeyId"), "alias/k8s");
    assert.equal(req.params.get("Plaintext"), Buffer.from("seed").toString("base64"));
    assert.equal(req.params.get("SignatureMethod"), "HMAC-SHA1");
    assert.ok(req.params.get("Signature"));
    assert.equal(req.params.get("SecurityToken"), "sts-token-1");
    assert.equal(req.headers["x-atrest-uid"], "uid-123");
  });

  it("does not retry throttling (RESOURCE_EXHAUSTED goes back to the apiserver)", async () => {
    requests.length = 0;
    respond = () => ({
      status: 429,
      body: { RequestId: "r2", Code: "Rejected.Throttling", Message: "slow down" },
    });
    const err = await backend()
      .encrypt(Buffer.from("x"), { uid: "u", deadlineMs: Date.now() + 2_000 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(isAtrestError(err, "resource-exhausted"), String(err));
    assert.equal(requests.length, 1);
  });

  it("retries a transient failure inside the deadline", async () => {
    requests.length = 0;
    let n = 0;
    respond = () =>
      ++n < 3
        ? { status: 503, body: { RequestId: "r3", Code: "ServiceUnavailableTemporary", Message: "busy" } }
        : {
            status: 200,
            body: {
              RequestId: "r4",
              Plaintext: Buffer.from("back").toString("base64"),
              KeyId: "key-1",
              KeyVersionId: "ver-1",
            },
          };
    const plaintext = await backend().decrypt(
      { ciphertext: Buffer.from("QUJD") },
      { uid: "u", deadlineMs: Date.now() + 5_000 },
    );
    assert.deepEqual(plaintext, Buffer.from("back"));
    assert.equal(requests.length, 3);
  });

  it("gives up on a transient failure when the deadline leaves no room", async () => {
    requests.length = 0;
    respond = () => ({
      status: 503,
      body: { RequestId: "r5", Code: "ServiceUnavailableTemporary", Message: "busy" },
    });
    const err = await backend()
      .decrypt({ ciphertext: Buffer.from("QUJD") }, { uid: "u", deadlineMs: Date.now() + 300 })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(isAtrestError(err), String(err));
    assert.ok(err.code === "unavailable" || err.code === "deadline-exceeded", err.code);
    assert.ok(requests.length >= 1 && requests.length < 20);
  });

  it("without annotations, checks the KMS answer against the key_id", async () => {
    respond = () => ({
      status: 200,
      body: {
        RequestId: "r7",
        Plaintext: Buffer.from("x").toString("base64"),
        KeyId: "key-1",
        KeyVersionId: "ver-2",
      },
    });
    const ok = await backend().decrypt(
      { ciphertext: Buffer.from("QUJD"), keyId: "key-1:ver-2" },
      { uid: "u", deadlineMs: Date.now() + 2_000 },
    );
    assert.deepEqual(ok, Buffer.from("x"));
    const err = await backend()
      .decrypt(
        { ciphertext: Buffer.from("QUJD"), keyId: "key-1:ver-1" },
        { uid: "u", deadlineMs: Date.now() + 2_000 },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(isAtrestError(err, "data-corrupt"), String(err));
  });

  it("without annotations, a key_id not of this plugin's form is refused before any KMS call", async () => {
    respond = () => ({
      status: 200,
      body: {
        RequestId: "r8",
        Plaintext: Buffer.from("x").toString("base64"),
        KeyId: "key-1",
        KeyVersionId: "v",
      },
    });
    for (const keyId of ["bogus", "key-1", "key-1:", ":ver-1"]) {
      for (const annotations of [undefined, {}]) {
        requests.length = 0;
        const err = await backend()
          .decrypt(
            { ciphertext: Buffer.from("QUJD"), keyId, ...(annotations === undefined ? {} : { annotations }) },
            { uid: "u", deadlineMs: Date.now() + 2_000 },
          )
          .then(
            () => undefined,
            (e: unknown) => e,
          );
        assert.ok(isAtrestError(err, "invalid-argument"), `${keyId}: ${String(err)}`);
        assert.match(String(err), /key_id/);
        assert.equal(requests.length, 0, `${keyId}: no KMS call`);
      }
    }
  });

  it("refuses a KMS answer for another key version than the annotations name", async () => {
    respond = () => ({
      status: 200,
      body: {
        RequestId: "r6",
        Plaintext: Buffer.from("x").toString("base64"),
        KeyId: "key-1",
        KeyVersionId: "ver-OTHER",
      },
    });
    const err = await backend()
      .decrypt(
        {
          ciphertext: Buffer.from("QUJD"),
          keyId: "key-1:ver-1",
          annotations: {
            "key-id.kms.atrest.io": Buffer.from("key-1"),
            "version.kms.atrest.io": Buffer.from("ver-1"),
          },
        },
        { uid: "u", deadlineMs: Date.now() + 2_000 },
      )
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    assert.ok(isAtrestError(err, "data-corrupt"), String(err));
  });
});
