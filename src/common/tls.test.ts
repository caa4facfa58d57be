import { test } from "node:test";
import assert from "node:assert/strict";
import { createServer, request } from "node:https";
import type { AddressInfo } from "node:net";
import { X509Certificate } from "node:crypto";
import { generateTlsMaterial } from "./tls.js";

test("generated serving certificate verifies against its CA over a real TLS connection", async () => {
  const m = await generateTlsMaterial({ commonName: "atrest-test", hosts: ["localhost", "127.0.0.1"] });
  const cert = new X509Certificate(m.certPem);
  assert.ok(cert.checkIssued(new X509Certificate(m.caCertPem)));
  assert.match(cert.subjectAltName ?? "", /IP Address:127\.0\.0\.1/);
  const server = createServer({ cert: m.certPem, key: m.keyPem }, (_req, res) => res.end("hello"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  try {
    const port = (server.address() as AddressInfo).port;
    const body = await new Promise<string>((resolve, reject) => {
      const req = request({ host: "127.0.0.1", port, ca: m.caCertPem, path: "/" }, (res) => {
        let s = "";
        res.on("data", (c: Buffer) => (s += c.toString()));
        res.on("end", () => resolve(s));
      });
      req.on("error", reject);
      req.end();
    });
    assert.equal(body, "hello");
  } finally {
    server.close();
  }
});
