import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { classifyKmsError } from "./alibaba-errors.js";
import { KmsHttpError } from "./alibaba-sdk-client.js";
import { grpcCodeFor, grpcCodeName } from "./grpc-status.js";

const kmsError = (status: number, Code: string) =>
  new KmsHttpError(status, { Code, Message: `message for ${Code}`, RequestId: "R-1" });

describe("classifyKmsError", () => {
  const table: Array<[KmsHttpError | Error, string, string]> = [
    [kmsError(409, "Rejected.Disabled"), "failed-precondition", "FAILED_PRECONDITION"],
    [kmsError(409, "Rejected.PendingDeletion"), "failed-precondition", "FAILED_PRECONDITION"],
    [kmsError(404, "Forbidden.KeyNotFound"), "failed-precondition", "FAILED_PRECONDITION"],
    [kmsError(403, "Forbidden.RAM"), "permission-denied", "PERMISSION_DENIED"],
    [kmsError(404, "InvalidAccessKeyId.NotFound"), "permission-denied", "PERMISSION_DENIED"],
    [kmsError(400, "SignatureDoesNotMatch"), "permission-denied", "PERMISSION_DENIED"],
    [kmsError(429, "Rejected.Throttling"), "resource-exhausted", "RESOURCE_EXHAUSTED"],
    [kmsError(400, "InvalidCiphertext"), "data-corrupt", "INVALID_ARGUMENT"],
    [kmsError(500, "InternalFailure"), "unavailable", "UNAVAILABLE"],
    [kmsError(503, "ServiceUnavailableTemporary"), "unavailable", "UNAVAILABLE"],
    [kmsError(502, "SomethingNew"), "unavailable", "UNAVAILABLE"],
    [
      Object.assign(
        new Error(
          "connect ECONNREFUSED 127.0.0.1:1 POST https://127.0.0.1:1/?Signature=abc&SecurityToken=sts-secret failed.",
        ),
        { code: "ECONNREFUSED" },
      ),
      "unavailable",
      "UNAVAILABLE",
    ],
    [
      Object.assign(new Error("self-signed certificate in certificate chain"), {
        code: "SELF_SIGNED_CERT_IN_CHAIN",
      }),
      "failed-precondition",
      "FAILED_PRECONDITION",
    ],
    [
      Object.assign(new Error("ReadTimeout(3000). POST https://x/?SecurityToken=sts-secret failed."), {
        name: "RequestTimeoutError",
      }),
      "unavailable",
      "UNAVAILABLE",
    ],
  ];
  for (const [input, code, grpcCode] of table) {
    it(`${input instanceof KmsHttpError ? String(input.data["Code"]) : input.message.slice(0, 40)} → ${code} / ${grpcCode}`, () => {
      const err = classifyKmsError(input, "Encrypt");
      assert.equal(err.code, code);
      assert.equal(grpcCodeName(grpcCodeFor(err)), grpcCode);
      assert.match(err.message, /^KMS Encrypt failed/);
      assert.ok(!err.message.includes("sts-secret"), "never echoes the signed URL");
      assert.ok(!err.message.includes("Signature="), "never echoes the signed URL");
    });
  }

  it("names the KMS code, HTTP status and RequestId", () => {
    const err = classifyKmsError(kmsError(409, "Rejected.Disabled"), "Decrypt");
    assert.match(err.message, /Rejected\.Disabled \(HTTP 409, RequestId R-1\)/);
    assert.match(err.message, /enable it/);
  });
});
