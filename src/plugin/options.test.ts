import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  loadCredentials,
  parseDurationMs,
  readConfigFile,
  resolvePluginOptions,
  validateSettings,
} from "./options.js";

describe("plugin options", () => {
  it("reads a JSON or YAML config with the flags' keys, and rejects unknown keys by name", () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-plugin-options-"));
    try {
      writeFileSync(
        join(dir, "a.json"),
        JSON.stringify({
          listen: "unix:///tmp/k.sock",
          backend: "local",
          "key-file": "/k",
          "old-key-file": "/k0",
        }),
      );
      const fromJson = readConfigFile(join(dir, "a.json"));
      assert.deepEqual(fromJson["old-key-file"], ["/k0"]);
      writeFileSync(join(dir, "b.yaml"), "listen: unix:///tmp/k.sock\nkeyId: x\n");
      assert.throws(() => readConfigFile(join(dir, "b.yaml")), /keyId/);
      assert.throws(() => validateSettings({ backend: "vault" }, "flags"), /backend/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("parses durations like Go", () => {
    assert.equal(parseDurationMs("60s", "x"), 60_000);
    assert.equal(parseDurationMs("1m30s", "x"), 90_000);
    assert.equal(parseDurationMs("250ms", "x"), 250);
    assert.throws(() => parseDurationMs("60", "--status-refresh"), /--status-refresh/);
    assert.throws(() => parseDurationMs("-1s", "x"), /positive/);
  });

  it("takes credentials from the file, else from the environment (with an STS token)", () => {
    const dir = mkdtempSync(join(tmpdir(), "atrest-plugin-creds-"));
    try {
      const file = join(dir, "credentials.json");
      writeFileSync(file, JSON.stringify({ accessKeyId: "AK", accessKeySecret: "very-secret" }), {
        mode: 0o600,
      });
      assert.deepEqual(loadCredentials(file, {}), { accessKeyId: "AK", accessKeySecret: "very-secret" });
      assert.deepEqual(
        loadCredentials(undefined, {
          ALIBABA_CLOUD_ACCESS_KEY_ID: "STS.AK",
          ALIBABA_CLOUD_ACCESS_KEY_SECRET: "s",
          ALIBABA_CLOUD_SECURITY_TOKEN: "tok",
        }),
        {
          accessKeyId: "STS.AK",
          accessKeySecret: "s",
          securityToken: "tok",
        },
      );
      writeFileSync(file, JSON.stringify({ accessKeyId: "AK", secret: "very-secret" }));
      assert.throws(
        () => loadCredentials(file, {}),
        (err: Error) => /accessKeySecret/.test(err.message) && !err.message.includes("very-secret"),
      );
      assert.throws(() => loadCredentials(undefined, {}), /ALIBABA_CLOUD_ACCESS_KEY_ID/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("resolves settings into options, refusing flags of the other backend", () => {
    const env = { ALIBABA_CLOUD_ACCESS_KEY_ID: "AK", ALIBABA_CLOUD_ACCESS_KEY_SECRET: "s" };
    const alibaba = resolvePluginOptions(
      { listen: "unix:///tmp/k.sock", "key-id": "alias/k8s", region: "cn-shanghai" },
      env,
    );
    assert.equal(alibaba.statusRefreshMs, 60_000);
    assert.ok(alibaba.backend && !("encrypt" in alibaba.backend) && alibaba.backend.kind === "alibaba");
    assert.equal(alibaba.backend.endpoint, "https://kms.cn-shanghai.aliyuncs.com");
    assert.throws(
      () =>
        resolvePluginOptions(
          { listen: "unix:///tmp/k.sock", "key-id": "k", "kms-endpoint": "https://x", "key-file": "/k" },
          env,
        ),
      /--key-file is for --backend local/,
    );
    assert.throws(
      () => resolvePluginOptions({ listen: "unix:///tmp/k.sock", backend: "local" }, env),
      /--key-file/,
    );
    assert.throws(
      () =>
        resolvePluginOptions(
          { listen: "unix:///tmp/k.sock", backend: "local", "pkcs11-module": "/m.so" },
          env,
        ),
      /--pkcs11-token-label/,
    );
    assert.throws(() => resolvePluginOptions({ "key-id": "k" }, env), /--listen is required/);
  });
});
