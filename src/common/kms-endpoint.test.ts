import { test } from "node:test";
import assert from "node:assert/strict";
import { isAtrestError } from "./errors.js";
import { parseKmsEndpoint } from "./kms-endpoint.js";

test("unix:///path is a socket file", () => {
  const e = parseKmsEndpoint("unix:///var/run/kms/plugin.sock");
  assert.equal(e.kind, "path");
  assert.equal(e.address, "/var/run/kms/plugin.sock");
  assert.equal(e.grpcTarget, "unix:/var/run/kms/plugin.sock");
});

test("the path is percent-decoded, query and fragment ignored (as Go's url.Parse)", () => {
  assert.equal(parseKmsEndpoint("unix:///tmp/my%20kms.sock").address, "/tmp/my kms.sock");
  assert.equal(parseKmsEndpoint("unix:///tmp/kms.sock?x=1").address, "/tmp/kms.sock");
});

test("unix:///@name is a Linux abstract socket", () => {
  const e = parseKmsEndpoint("unix:///@kms-provider");
  assert.equal(e.kind, "abstract");
  assert.equal(e.address, "kms-provider");
  assert.equal(e.grpcTarget, "unix:\0kms-provider");
});

for (const [endpoint, why] of [
  ["", /must not be empty/],
  ["/tmp/kms.sock", /not a URL/],
  ["tcp://127.0.0.1:80", /unsupported scheme "tcp"/],
  ["unix://host/tmp/kms.sock", /empty host/],
  ["unix://", /socket path is empty/],
  ["unix:///@", /abstract socket name is empty/],
  ["unix:///tmp/%00x", /NUL/],
] as const) {
  test(`rejects ${JSON.stringify(endpoint)}`, () => {
    assert.throws(
      () => parseKmsEndpoint(endpoint),
      (err: unknown) => isAtrestError(err, "invalid-argument") && why.test(err.message),
    );
  });
}
