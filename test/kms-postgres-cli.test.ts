import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { KmsRpcTestClient } from "./support/kms-rpc-test-client.js";
import { runAtrest, spawnAtrest } from "./support/cli.js";
import { startTestPostgres, type TestPostgres } from "./support/postgres.js";

// `atrest kms init/serve --database postgres://…` as an operator runs them: two spawned serve
// processes on one PostgreSQL serve the same keys, and a rotation through one is seen by the other.

interface Serve {
  child: ChildProcess;
  url: string;
  exited: Promise<number | null>;
}

function serve(dir: string, database: string): Promise<Serve> {
  const child = spawnAtrest([
    "kms",
    "serve",
    "--data-dir",
    dir,
    "--database",
    database,
    "--listen",
    "127.0.0.1:0",
    "--scheduler-interval",
    "0",
  ]);
  const exited = new Promise<number | null>((r) => child.on("exit", (code) => r(code)));
  return new Promise((resolve, reject) => {
    let out = "";
    let err = "";
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), 60_000);
    child.stderr?.on("data", (c: Buffer) => (err += c.toString()));
    child.stdout?.on("data", (c: Buffer) => {
      out += c.toString();
      const line = out.split("\n").find((l) => l.includes('"kms listening"'));
      if (line !== undefined) {
        clearTimeout(timer);
        resolve({ child, url: (JSON.parse(line) as { url: string }).url, exited });
      }
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited ${code}: ${err}`));
    });
  });
}

async function stop(s: Serve | undefined): Promise<number | null | undefined> {
  if (s === undefined) return undefined;
  if (s.child.exitCode === null) s.child.kill("SIGTERM");
  return s.exited;
}

describe(
  "two `atrest kms serve --database postgres://…` processes on one database",
  { timeout: 150_000 },
  () => {
    let pg: TestPostgres;
    let dir: string;
    let a: Serve | undefined;
    let b: Serve | undefined;
    let ca: KmsRpcTestClient;
    let cb: KmsRpcTestClient;

    before(async () => {
      pg = await startTestPostgres();
      dir = mkdtempSync(join(tmpdir(), "atrest-kms-pg-cli-"));
      const init = await runAtrest(["kms", "init", "--data-dir", dir, "--database", pg.url, "-o", "json"]);
      assert.equal(init.status, 0, init.stderr);
      [a, b] = await Promise.all([serve(dir, pg.url), serve(dir, pg.url)]);
      const creds = JSON.parse(readFileSync(join(dir, "credentials.json"), "utf8")) as {
        accessKeyId: string;
        accessKeySecret: string;
      };
      const caCertPem = readFileSync(join(dir, "tls", "ca.crt"), "utf8");
      ca = new KmsRpcTestClient({ url: a.url, ...creds, caCertPem });
      cb = new KmsRpcTestClient({ url: b.url, ...creds, caCertPem });
    });

    after(async () => {
      ca?.close();
      cb?.close();
      await Promise.all([stop(a), stop(b)]);
      await pg?.stop();
      if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
    });

    it("serve the same key, and one's rotation is seen by the other", async () => {
      assert.notEqual(a?.url, b?.url);
      const md = (await ca.call("CreateKey", { Description: "shared" })).KeyMetadata as Record<
        string,
        unknown
      >;
      const keyId = String(md.KeyId);
      assert.equal(
        ((await cb.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>).Description,
        "shared",
      );
      const fromA = await ca.call("Encrypt", {
        KeyId: keyId,
        Plaintext: "ZnJvbS1h",
        EncryptionContext: '{"i":"a"}',
      });
      assert.equal(
        (
          await cb.call("Decrypt", {
            CiphertextBlob: String(fromA.CiphertextBlob),
            EncryptionContext: '{"i":"a"}',
          })
        ).Plaintext,
        "ZnJvbS1h",
      );
      const fromB = await cb.call("Encrypt", { KeyId: keyId, Plaintext: "ZnJvbS1i" });
      assert.equal(fromB.KeyVersionId, md.PrimaryKeyVersion);
      assert.equal(
        (await ca.call("Decrypt", { CiphertextBlob: String(fromB.CiphertextBlob) })).Plaintext,
        "ZnJvbS1i",
      );

      // rotate through A; B (which has the key row cached) encrypts with the new version within its cache TTL
      const rotated = await ca.call("CreateKeyVersion", { KeyId: keyId });
      const newVersion = String((rotated.KeyVersion as Record<string, unknown>).KeyVersionId);
      assert.notEqual(newVersion, md.PrimaryKeyVersion);
      const deadline = Date.now() + 10_000;
      let seen = "";
      while (seen !== newVersion) {
        assert.ok(Date.now() < deadline, "B did not see A's rotation within 10 s");
        seen = String((await cb.call("Encrypt", { KeyId: keyId, Plaintext: "eA==" })).KeyVersionId);
        if (seen !== newVersion) await new Promise((r) => setTimeout(r, 100));
      }
      assert.equal((await cb.call("ListKeyVersions", { KeyId: keyId })).TotalCount, 2);
      assert.equal(
        ((await cb.call("DescribeKey", { KeyId: keyId })).KeyMetadata as Record<string, unknown>)
          .PrimaryKeyVersion,
        newVersion,
      );
      // B decrypts what A sealed with the new version, and A still decrypts the old ciphertext
      const fresh = await ca.call("Encrypt", { KeyId: keyId, Plaintext: "bmV3" });
      assert.equal(fresh.KeyVersionId, newVersion);
      assert.equal(
        (await cb.call("Decrypt", { CiphertextBlob: String(fresh.CiphertextBlob) })).Plaintext,
        "bmV3",
      );
      assert.equal(
        (await ca.call("Decrypt", { CiphertextBlob: String(fromB.CiphertextBlob) })).Plaintext,
        "ZnJvbS1i",
      );

      // both stop gracefully; the shared audit trail holds the one rotation and verifies
      const [codeA, codeB] = await Promise.all([stop(a), stop(b)]);
      assert.equal(codeA, 0);
      assert.equal(codeB, 0);
      const [events, verify] = await Promise.all([
        runAtrest([
          "kms",
          "events",
          "--data-dir",
          dir,
          "--database",
          pg.url,
          "--key-id",
          keyId,
          "--action",
          "CreateKeyVersion",
          "-o",
          "json",
        ]),
        runAtrest(["kms", "verify-audit", "--data-dir", dir, "--database", pg.url, "-o", "json"]),
      ]);
      assert.equal(events.status, 0, events.stderr);
      assert.equal((JSON.parse(events.stdout) as { events: unknown[] }).events.length, 1);
      assert.equal(verify.status, 0, verify.stdout + verify.stderr);
      assert.equal((JSON.parse(verify.stdout) as { ok: boolean }).ok, true);
    });

    it("serving the PostgreSQL-initialised data dir without --database is refused, not an empty KMS", async () => {
      const r = await runAtrest(["kms", "serve", "--data-dir", dir, "--listen", "127.0.0.1:0"]);
      assert.notEqual(r.status, 0);
      assert.match(r.stderr, /initialised with a PostgreSQL database: pass the same --database/);
      assert.ok(!r.stderr.includes(pg.url), "the database URL (it may hold a password) is not echoed");
    });
  },
);
