/** The plugin's local backend (a key file, a SoftHSM2 token) and its socket handling. */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { randomBytes, randomUUID } from "node:crypto";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createKmsV1Client, createKmsV2Client } from "../src/kms-plugin-client/index.js";
import { isAtrestError } from "../src/common/errors.js";
import { startPlugin } from "../src/plugin/plugin.js";
import type { KmsBackend } from "../src/plugin/backend.js";
import { createSoftHsmToken, findSoftHsmModule, type SoftHsmToken } from "./support/softhsm.js";

function writeKey(path: string, encoding: "base64" | "raw" = "base64", mode = 0o600): Buffer {
  const key = randomBytes(32);
  writeFileSync(path, encoding === "raw" ? key : key.toString("base64") + "\n", { mode });
  return key;
}

/**
 * The SoftHSM2 tests run everywhere: CI installs softhsm2 (scripts/ensure-deps.mjs, which the test
 * runner calls too). A machine without it fails here with what to install, rather than skipping the
 * PKCS#11 backend silently.
 */
function requireSoftHsm(): void {
  const onPath = (process.env["PATH"] ?? "").split(":").some((d) => existsSync(join(d, "softhsm2-util")));
  if (findSoftHsmModule() === undefined || !onPath) {
    throw new Error(
      "SoftHSM2 is not installed (libsofthsm2.so or softhsm2-util missing): " +
        "run `node scripts/ensure-deps.mjs --system` or `apt-get install softhsm2 opensc`",
    );
  }
}

describe("atrest plugin, local backend", { timeout: 120_000 }, () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), "atrest-plugin-local-"));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("encrypts and decrypts with a key file (v2 and v1); key_id is derived from the key", async () => {
    const keyFile = join(dir, "kek-a");
    writeKey(keyFile, "raw");
    const socket = join(dir, "a.sock");
    const plugin = await startPlugin({
      listen: `unix://${socket}`,
      backend: { kind: "local", keks: [{ keyFile }] },
    });
    const v2 = createKmsV2Client({ endpoint: `unix://${socket}` });
    const v1 = createKmsV1Client({ endpoint: `unix://${socket}` });
    try {
      const status = await v2.status();
      assert.equal(status.healthz, "ok");
      assert.match(status.keyId, /^local:[0-9a-f]{32}$/);
      const sealed = await v2.encrypt(Buffer.from("seed-bytes"));
      assert.equal(sealed.keyId, status.keyId);
      assert.deepEqual(
        await v2.decrypt({
          ciphertext: sealed.ciphertext,
          keyId: sealed.keyId,
          annotations: sealed.annotations,
        }),
        Buffer.from("seed-bytes"),
      );
      assert.deepEqual(await v1.decrypt(await v1.encrypt(Buffer.from("dek"))), Buffer.from("dek"));
      assert.equal(statSync(socket).mode & 0o777, 0o600);
    } finally {
      v1.close();
      v2.close();
      await plugin.close();
    }
    assert.equal(existsSync(socket), false, "the socket file is removed on close");
  });

  it("rotates: a new key file first gives a new key_id; older ciphertexts need the old key kept", async () => {
    const oldKey = join(dir, "kek-old");
    const newKey = join(dir, "kek-new");
    writeKey(oldKey);
    writeKey(newKey);
    const socket = join(dir, "rot.sock");
    const endpoint = `unix://${socket}`;
    let plugin = await startPlugin({
      listen: endpoint,
      backend: { kind: "local", keks: [{ keyFile: oldKey }] },
    });
    let client = createKmsV2Client({ endpoint });
    const old = await client.encrypt(Buffer.from("old"));
    client.close();
    await plugin.close();

    plugin = await startPlugin({
      listen: endpoint,
      backend: { kind: "local", keks: [{ keyFile: newKey }, { keyFile: oldKey }] },
    });
    client = createKmsV2Client({ endpoint });
    try {
      const status = await client.status();
      assert.notEqual(status.keyId, old.keyId);
      const fresh = await client.encrypt(Buffer.from("new"));
      assert.equal(fresh.keyId, status.keyId);
      assert.deepEqual(
        await client.decrypt({ ciphertext: old.ciphertext, keyId: old.keyId, annotations: old.annotations }),
        Buffer.from("old"),
      );
    } finally {
      client.close();
      await plugin.close();
    }

    plugin = await startPlugin({ listen: endpoint, backend: { kind: "local", keks: [{ keyFile: newKey }] } });
    client = createKmsV2Client({ endpoint });
    try {
      const err = await client
        .decrypt({ ciphertext: old.ciphertext, keyId: old.keyId, annotations: old.annotations })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      assert.ok(isAtrestError(err, "failed-precondition"), String(err));
      assert.match(err.message, new RegExp(old.keyId));
    } finally {
      client.close();
      await plugin.close();
    }
  });

  it("refuses a key file others can read, and a malformed one", async () => {
    const loose = join(dir, "kek-loose");
    writeKey(loose, "base64", 0o644);
    await assert.rejects(
      startPlugin({
        listen: `unix://${join(dir, "x.sock")}`,
        backend: { kind: "local", keks: [{ keyFile: loose }] },
      }),
      /chmod 600/,
    );
    const short = join(dir, "kek-short");
    writeFileSync(short, "c2hvcnQ=\n", { mode: 0o600 });
    await assert.rejects(
      startPlugin({
        listen: `unix://${join(dir, "x.sock")}`,
        backend: { kind: "local", keks: [{ keyFile: short }] },
      }),
      /32 random bytes/,
    );
  });

  it("serves on a Linux abstract socket", async () => {
    const endpoint = `unix:///@atrest-plugin-test-${randomUUID()}`;
    const keyFile = join(dir, "kek-abs");
    writeKey(keyFile);
    const plugin = await startPlugin({ listen: endpoint, backend: { kind: "local", keks: [{ keyFile }] } });
    const client = createKmsV2Client({ endpoint });
    try {
      assert.equal((await client.status()).healthz, "ok");
      const sealed = await client.encrypt(Buffer.from("abstract"));
      assert.deepEqual(
        await client.decrypt({
          ciphertext: sealed.ciphertext,
          keyId: sealed.keyId,
          annotations: sealed.annotations,
        }),
        Buffer.from("abstract"),
      );
    } finally {
      client.close();
      await plugin.close();
    }
  });

  it("removes a stale socket file, but not a regular file nor a socket in use", async () => {
    const keyFile = join(dir, "kek-stale");
    writeKey(keyFile);
    const socket = join(dir, "stale.sock");
    // A process killed hard leaves its socket file behind.
    const killed = spawnSync(
      process.execPath,
      [
        "-e",
        `require("net").createServer().listen(${JSON.stringify(socket)}, () => process.kill(process.pid, "SIGKILL"))`,
      ],
      { timeout: 20_000 },
    );
    assert.equal(killed.signal, "SIGKILL");
    assert.ok(statSync(socket).isSocket());
    const plugin = await startPlugin({
      listen: `unix://${socket}`,
      backend: { kind: "local", keks: [{ keyFile }] },
    });
    const client = createKmsV2Client({ endpoint: `unix://${socket}` });
    try {
      assert.equal((await client.status()).healthz, "ok");
      await assert.rejects(
        startPlugin({ listen: `unix://${socket}`, backend: { kind: "local", keks: [{ keyFile }] } }),
        /another process is serving/,
      );
    } finally {
      client.close();
      await plugin.close();
    }
    const regular = join(dir, "regular-file");
    writeFileSync(regular, "keep me");
    await assert.rejects(
      startPlugin({ listen: `unix://${regular}`, backend: { kind: "local", keks: [{ keyFile }] } }),
      /not a socket/,
    );
    assert.ok(existsSync(regular));
  });

  it("close() drains in-flight calls, then refuses new ones; past the grace period it cancels", async () => {
    const socket = join(dir, "drain.sock");
    const endpoint = `unix://${socket}`;
    let delayMs = 0;
    const slow: KmsBackend = {
      kind: "local",
      description: "slow test backend",
      encrypt: async (plaintext) => {
        await new Promise((r) => setTimeout(r, delayMs));
        return {
          ciphertext: Buffer.concat([Buffer.from("ct:"), plaintext]),
          keyId: "slow:1",
          annotations: {},
        };
      },
      decrypt: (req) => Promise.resolve(req.ciphertext.subarray(3)),
      kmsCalls: () => 0,
      close: () => Promise.resolve(),
    };
    let plugin = await startPlugin({ listen: endpoint, backend: slow });
    let client = createKmsV2Client({ endpoint, timeoutMs: 10_000 });
    await client.status();
    delayMs = 500;
    const inFlight = client.encrypt(Buffer.from("drained"));
    await new Promise((r) => setTimeout(r, 100));
    await plugin.close({ graceMs: 5_000 });
    assert.deepEqual((await inFlight).ciphertext, Buffer.from("ct:drained"));
    const refused = await client.encrypt(Buffer.from("late")).then(
      () => undefined,
      (e: unknown) => e,
    );
    assert.ok(isAtrestError(refused, "unavailable"), String(refused));
    client.close();

    delayMs = 0;
    plugin = await startPlugin({ listen: endpoint, backend: slow });
    client = createKmsV2Client({ endpoint, timeoutMs: 10_000 });
    await client.status();
    delayMs = 5_000;
    const tooSlow = client.encrypt(Buffer.from("cancelled")).then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 100));
    const closing = Date.now();
    await plugin.close({ graceMs: 200 });
    assert.ok(Date.now() - closing < 4_000, "close does not wait for the slow call");
    const err = await tooSlow;
    assert.ok(isAtrestError(err), String(err));
    client.close();
  });

  describe("with a SoftHSM2 token", () => {
    let token: SoftHsmToken;
    before(async () => {
      requireSoftHsm();
      token = await createSoftHsmToken({ label: "atrest-plugin" });
    });
    after(() => token?.cleanup());

    it("keeps the KEK in the token; the same key gives the same key_id after a restart", async () => {
      const socket = join(dir, "hsm.sock");
      const endpoint = `unix://${socket}`;
      const p11 = {
        pkcs11: true as const,
        modulePath: token.modulePath,
        tokenLabel: token.tokenLabel,
        pin: token.pin,
        keyLabel: "kek-1",
      };
      await assert.rejects(
        startPlugin({ listen: endpoint, backend: { kind: "local", keks: [p11] } }),
        /no secret key labelled "kek-1"/,
      );
      let plugin = await startPlugin({
        listen: endpoint,
        backend: { kind: "local", keks: [{ ...p11, createIfMissing: true }] },
      });
      let client = createKmsV2Client({ endpoint });
      let sealed;
      try {
        const status = await client.status();
        assert.equal(status.healthz, "ok");
        sealed = await client.encrypt(Buffer.alloc(32, 1));
        assert.equal(sealed.keyId, status.keyId);
      } finally {
        client.close();
        await plugin.close();
      }
      plugin = await startPlugin({ listen: endpoint, backend: { kind: "local", keks: [p11] } });
      client = createKmsV2Client({ endpoint });
      try {
        assert.equal((await client.status()).keyId, sealed.keyId);
        assert.deepEqual(
          await client.decrypt({
            ciphertext: sealed.ciphertext,
            keyId: sealed.keyId,
            annotations: sealed.annotations,
          }),
          Buffer.alloc(32, 1),
        );
      } finally {
        client.close();
        await plugin.close();
      }
      await assert.rejects(
        startPlugin({ listen: endpoint, backend: { kind: "local", keks: [{ ...p11, pin: "0000" }] } }),
        /login/,
      );
    });
  });
});
