import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { ManualClock } from "../common/clock.js";
import { AtrestError } from "../common/errors.js";
import { contextForKey, type Transformer } from "../envelope/transformer.js";
import type { KmsV1Service, KmsV2Service, StatusResponse } from "../envelope/kms-service.js";
import {
  buildEncryptionState,
  type BuildDeps,
  type KmsClientFactories,
  type ProviderFactories,
} from "./build.js";
import { DynamicEncryptionState } from "./encryption-state.js";
import { parseEncryptionConfiguration } from "./load.js";
import { EncryptionConfigReloadController } from "./reload-controller.js";

/*
 * In-process fakes. A fake provider writes `<prefix>` + plaintext and reads what starts with its prefix, so
 * tests can see which provider (and which first key) a resource's chain writes with.
 */
type FakeProvider = { prefix: string };

const fakeProviders: ProviderFactories<FakeProvider> = {
  identity: () => ({ prefix: "" }),
  aesgcm: (keys) => ({ prefix: `k8s:enc:aesgcm:v1:${keys[0]!.name}:` }),
  aescbc: (keys) => ({ prefix: `k8s:enc:aescbc:v1:${keys[0]!.name}:` }),
  secretbox: (keys) => ({ prefix: `k8s:enc:secretbox:v1:${keys[0]!.name}:` }),
  kmsV1: ({ name }) => ({ prefix: `k8s:enc:kms:v1:${name}:` }),
  kmsV2: ({ name }) => ({
    provider: { prefix: `k8s:enc:kms:v2:${name}:` },
    onHealthyStatus: (s) => void statusSeen.push(s.keyId),
  }),
  chain: (providers) => fakeChain(providers.map((p) => p.prefix)),
  fallback: () => fakeChain([""]),
};
const statusSeen: string[] = [];

function fakeChain(prefixes: string[]): Transformer & { prefixes: string[] } {
  return {
    prefixes,
    transformToStorage(plaintext) {
      return Promise.resolve(Buffer.concat([Buffer.from(prefixes[0]!), plaintext]));
    },
    transformFromStorage(data) {
      const text = Buffer.from(data).toString();
      const i = prefixes.findIndex((p) => p !== "" && text.startsWith(p));
      if (i >= 0) {
        return Promise.resolve({
          plaintext: Buffer.from(text.slice(prefixes[i]!.length)),
          stale: i !== 0,
          origin: { provider: "aesgcm" },
        });
      }
      if (prefixes.includes("")) {
        return Promise.resolve({
          plaintext: Buffer.from(text),
          stale: prefixes[0] !== "",
          origin: { provider: "identity" },
        });
      }
      return Promise.reject(new AtrestError("data-corrupt", "no matching prefix found"));
    },
  };
}

class FakeKmsV2 implements KmsV2Service {
  version = "v2";
  healthz = "ok";
  keyId = "1";
  statusCalls = 0;
  closed = 0;
  down = false;
  status(): Promise<StatusResponse> {
    this.statusCalls++;
    if (this.down) return Promise.reject(new AtrestError("unavailable", "connect ECONNREFUSED"));
    return Promise.resolve({ version: this.version, healthz: this.healthz, keyId: this.keyId });
  }
  encrypt(): Promise<never> {
    return Promise.reject(new Error("not used"));
  }
  decrypt(): Promise<never> {
    return Promise.reject(new Error("not used"));
  }
  close(): void {
    this.closed++;
  }
}

class FakeKmsV1 implements KmsV1Service {
  calls: string[] = [];
  closed = 0;
  failDecrypt = false;
  encrypt(p: Uint8Array): Promise<Buffer> {
    this.calls.push("encrypt");
    return Promise.resolve(Buffer.from(Buffer.from(p).toString("base64")));
  }
  decrypt(c: Uint8Array): Promise<Buffer> {
    this.calls.push("decrypt");
    if (this.failDecrypt) return Promise.reject(new AtrestError("unavailable", "decrypt refused"));
    return Promise.resolve(Buffer.from(Buffer.from(c).toString(), "base64"));
  }
  close(): void {
    this.closed++;
  }
}

/** Client factories that hand out one fake per endpoint and remember them. */
function fakeClients() {
  const v1 = new Map<string, FakeKmsV1>();
  const v2 = new Map<string, FakeKmsV2>();
  const created: string[] = [];
  const clients: KmsClientFactories = {
    createKmsV1Client: ({ endpoint }) => {
      created.push(endpoint);
      const c = new FakeKmsV1();
      v1.set(endpoint, c);
      return c;
    },
    createKmsV2Client: ({ endpoint }) => {
      created.push(endpoint);
      const c = new FakeKmsV2();
      const preset = presetV2.get(endpoint);
      if (preset) Object.assign(c, preset);
      v2.set(endpoint, c);
      return c;
    },
  };
  const presetV2 = new Map<string, Partial<FakeKmsV2>>();
  return { clients, v1, v2, created, presetV2 };
}

const K32 = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=";
const fixtures = fileURLToPath(new URL("./fixtures/", import.meta.url));
const parse = (yaml: string, reload = false) => parseEncryptionConfiguration(yaml, { reload });
const header = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";
const kmsV1 = (name: string) => `{kms: {name: ${name}, endpoint: "unix:///tmp/${name}.sock", timeout: 2s}}`;
const kmsV2 = (name: string) =>
  `{kms: {apiVersion: v2, name: ${name}, endpoint: "unix:///tmp/${name}.sock", timeout: 1s}}`;
const aesgcm = (key: string) => `{aesgcm: {keys: [{name: ${key}, secret: "${K32}"}]}}`;

function deps(
  extra: Partial<BuildDeps<FakeProvider>> & { clients: KmsClientFactories },
): BuildDeps<FakeProvider> {
  return { providers: fakeProviders, clock: new ManualClock(), background: false, ...extra };
}

async function written(t: Transformer, key = "/registry/secrets/ns/a"): Promise<string> {
  return (await t.transformToStorage(Buffer.from("v"), contextForKey(key))).toString();
}

describe("buildEncryptionState", () => {
  test("each resource gets its rule's chain; no rule means identity", async () => {
    const { config } = parseEncryptionConfiguration(readFileSync(`${fixtures}valid/wildcards.yaml`));
    const f = fakeClients();
    const state = await buildEncryptionState(config, deps({ clients: f.clients }));
    assert.equal(await written(state.transformerFor("secrets")), "k8s:enc:aesgcm:v1:secrets-key:v");
    assert.equal(await written(state.transformerFor("deployments.apps")), "k8s:enc:aescbc:v1:deploy-key:v");
    assert.equal(await written(state.transformerFor("statefulsets.apps")), "k8s:enc:secretbox:v1:apps-key:v");
    assert.equal(await written(state.transformerFor("configmaps")), "k8s:enc:aesgcm:v1:core-key:v");
    assert.equal(await written(state.transformerFor("ingresses.networking.k8s.io")), "v");
    const only = await buildEncryptionState(
      parse(`${header}resources:\n  - resources: [secrets]\n    providers: [${aesgcm("k")}]\n`).config,
      deps({ clients: f.clients }),
    );
    assert.equal(await written(only.transformerFor("configmaps")), "v");
    assert.deepEqual(state.healthChecks, []);
  });

  test("providers keep file order: the first writes, the others read (stale)", async () => {
    const yaml = `${header}resources:\n  - resources: [secrets]\n    providers: [${aesgcm("new")}, ${aesgcm("old")}, {identity: {}}]\n`;
    const state = await buildEncryptionState(parse(yaml).config, deps({ clients: fakeClients().clients }));
    const t = state.transformerFor("secrets");
    assert.equal(await written(t), "k8s:enc:aesgcm:v1:new:v");
    const ctx = contextForKey("/registry/secrets/ns/a");
    assert.equal((await t.transformFromStorage(Buffer.from("k8s:enc:aesgcm:v1:old:x"), ctx)).stale, true);
    assert.equal((await t.transformFromStorage(Buffer.from("k8s:enc:aesgcm:v1:new:x"), ctx)).stale, false);
  });

  test("a resource in two rules reads with both chains' providers, in file order", async () => {
    const yaml = `${header}resources:\n  - resources: [secrets]\n    providers: [${aesgcm("a")}]\n  - resources: [configmaps, secrets]\n    providers: [${aesgcm("b")}]\n`;
    const state = await buildEncryptionState(parse(yaml).config, deps({ clients: fakeClients().clients }));
    assert.deepEqual((state.transformerFor("secrets") as unknown as { prefixes: string[] }).prefixes, [
      "k8s:enc:aesgcm:v1:a:",
      "k8s:enc:aesgcm:v1:b:",
    ]);
  });

  test("health checks: kms-provider-N in file order across rules", async () => {
    const yaml = `${header}resources:\n  - resources: [secrets]\n    providers: [${kmsV1("one")}, ${kmsV2("two")}]\n  - resources: [configmaps]\n    providers: [${kmsV2("three")}]\n`;
    const f = fakeClients();
    const state = await buildEncryptionState(parse(yaml).config, deps({ clients: f.clients }));
    assert.deepEqual(
      state.healthChecks.map((c) => c.name),
      ["kms-provider-0", "kms-provider-1", "kms-provider-2"],
    );
    for (const c of state.healthChecks) await c.check();
    assert.deepEqual(f.v1.get("unix:///tmp/one.sock")?.calls, ["encrypt", "decrypt"]);
    // kube's grace period before closing replaced clients: 2 × (2 × 2 s for v1 + 1 s + 1 s).
    assert.equal(state.closeGracePeriodMs, 12_000);
  });

  test("health checks collapse into kms-providers with only v2 providers, or with reload on", async () => {
    const onlyV2 = `${header}resources:\n  - resources: [secrets]\n    providers: [${kmsV2("a")}, ${kmsV2("b")}]\n`;
    const s1 = await buildEncryptionState(parse(onlyV2).config, deps({ clients: fakeClients().clients }));
    assert.deepEqual(
      s1.healthChecks.map((c) => c.name),
      ["kms-providers"],
    );
    assert.deepEqual(
      s1.kmsChecks.map((c) => c.name),
      ["kms-provider-0", "kms-provider-1"],
    );

    const mixed = `${header}resources:\n  - resources: [secrets]\n    providers: [${kmsV1("a")}, ${kmsV2("b")}]\n`;
    const s2 = await buildEncryptionState(
      parse(mixed, true).config,
      deps({ clients: fakeClients().clients, reload: true }),
    );
    assert.deepEqual(
      s2.healthChecks.map((c) => c.name),
      ["kms-providers"],
    );

    const none = `${header}resources:\n  - resources: [secrets]\n    providers: [{identity: {}}]\n`;
    const s3 = await buildEncryptionState(
      parse(none, true).config,
      deps({ clients: fakeClients().clients, reload: true }),
    );
    assert.deepEqual(
      s3.healthChecks.map((c) => c.name),
      ["kms-providers"],
    );
    await s3.healthChecks[0]!.check(); // no KMS provider: a no-op that passes
  });

  test("an unhealthy v2 plugin fails its check with kube's message; results are reused 20 s / 3 s", async () => {
    const clock = new ManualClock();
    const f = fakeClients();
    f.presetV2.set("unix:///tmp/p.sock", { healthz: "broken" });
    const yaml = `${header}resources:\n  - resources: [secrets]\n    providers: [${kmsV2("p")}]\n`;
    const state = await buildEncryptionState(parse(yaml).config, deps({ clients: f.clients, clock }));
    const plugin = f.v2.get("unix:///tmp/p.sock")!;
    assert.equal(plugin.statusCalls, 1, "primed once while building");
    await assert.rejects(state.healthChecks[0]!.check(), {
      code: "unavailable",
      message:
        "kms-provider-0: kmsv2 Provider p is not healthy, error: got unexpected healthz status: broken",
    });
    assert.equal(plugin.statusCalls, 1, "a failure is reused for 3 s");
    clock.advance(3_000);
    plugin.healthz = "ok";
    await state.healthChecks[0]!.check();
    assert.equal(plugin.statusCalls, 2);
    assert.deepEqual(statusSeen.slice(-1), ["1"], "the healthy status reached the provider's DEK state");
    clock.advance(19_999);
    await state.healthChecks[0]!.check();
    assert.equal(plugin.statusCalls, 2, "a success is reused for 20 s");
    clock.advance(1);
    plugin.down = true;
    await assert.rejects(state.kmsChecks[0]!.check(), {
      message:
        "failed to perform status section of the healthz check for KMS Provider p, error: connect ECONNREFUSED",
    });
  });

  test("v2 Status with a bad version and an empty key_id reports both problems", async () => {
    const f = fakeClients();
    f.presetV2.set("unix:///tmp/p.sock", { version: "v9", keyId: "" });
    const yaml = `${header}resources:\n  - resources: [secrets]\n    providers: [${kmsV2("p")}]\n`;
    const state = await buildEncryptionState(parse(yaml).config, deps({ clients: f.clients }));
    await assert.rejects(state.kmsChecks[0]!.check(), {
      message:
        'kmsv2 Provider p is not healthy, error: [expected KMSv2 API version v2, got v9, got invalid KMSv2 KeyID hash "": keyID is empty]',
    });
  });

  test("background probing: every 60 s while healthy, every 10 s while not", async () => {
    const clock = new ManualClock();
    const f = fakeClients();
    const yaml = `${header}resources:\n  - resources: [secrets]\n    providers: [${kmsV2("p")}]\n`;
    const state = await buildEncryptionState(
      parse(yaml).config,
      deps({ clients: f.clients, clock, background: true }),
    );
    const plugin = f.v2.get("unix:///tmp/p.sock")!;
    assert.equal(plugin.statusCalls, 1);
    clock.advance(59_999);
    assert.equal(plugin.statusCalls, 1);
    clock.advance(1);
    await flush();
    assert.equal(plugin.statusCalls, 2);
    plugin.down = true;
    clock.advance(60_000);
    await flush();
    assert.equal(plugin.statusCalls, 3);
    clock.advance(10_000);
    await flush();
    assert.equal(plugin.statusCalls, 4, "retried after 10 s");
    state.close();
    assert.equal(clock.pendingTimers(), 0, "close stops the probing");
    assert.equal(plugin.closed, 1);
  });

  test("close() closes every KMS client once", async () => {
    const f = fakeClients();
    const yaml = `${header}resources:\n  - resources: [secrets]\n    providers: [${kmsV1("a")}, ${kmsV2("b")}]\n`;
    const state = await buildEncryptionState(parse(yaml).config, deps({ clients: f.clients }));
    state.close();
    state.close();
    assert.equal(f.v1.get("unix:///tmp/a.sock")?.closed, 1);
    assert.equal(f.v2.get("unix:///tmp/b.sock")?.closed, 1);
  });

  test("a client factory that throws: clients made so far are closed, the error is typed", async () => {
    const f = fakeClients();
    const clients: KmsClientFactories = {
      ...f.clients,
      createKmsV2Client: () => {
        throw new AtrestError("invalid-argument", "bad endpoint");
      },
    };
    const yaml = `${header}resources:\n  - resources: [secrets]\n    providers: [${kmsV1("a")}, ${kmsV2("b")}]\n`;
    await assert.rejects(buildEncryptionState(parse(yaml).config, deps({ clients })), {
      code: "invalid-argument",
      message: "error while building transformers: bad endpoint",
    });
    assert.equal(f.v1.get("unix:///tmp/a.sock")?.closed, 1);
  });
});

async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}

describe("automatic reload", () => {
  const dir = mkdtempSync(join(tmpdir(), "atrest-reload-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  let n = 0;

  async function setup(initialYaml: string) {
    const path = join(dir, `config-${++n}.yaml`);
    writeFileSync(path, initialYaml);
    const clock = new ManualClock();
    const f = fakeClients();
    let builds = 0;
    const build = (yaml: string | Buffer, hash = "") => {
      builds++;
      return buildEncryptionState(parseEncryptionConfiguration(yaml, { reload: true }).config, {
        ...deps({ clients: f.clients, clock, reload: true }),
        contentHash: hash,
      });
    };
    const loaded = parseEncryptionConfiguration(initialYaml, { reload: true });
    const dynamic = new DynamicEncryptionState(await build(initialYaml, loaded.contentHash), clock);
    const events: string[] = [];
    const controller = new EncryptionConfigReloadController({
      path,
      dynamic,
      clock,
      healthTimeoutMs: 0,
      intervalMs: 60_000,
      build: (config, contentHash) => {
        builds++;
        return buildEncryptionState(config, {
          ...deps({ clients: f.clients, clock, reload: true }),
          contentHash,
        });
      },
      onReload: (e) => events.push(e.status),
    });
    return { path, clock, f, dynamic, controller, events, builds: () => builds };
  }

  const v1Yaml = `${header}resources:\n  - resources: [secrets]\n    providers: [${aesgcm("first")}]\n`;

  test("a valid new file: switched atomically, success counted, old state closed after its grace period", async () => {
    const initial = `${header}resources:\n  - resources: [secrets]\n    providers: [${kmsV2("old")}]\n`;
    const s = await setup(initial);
    const secrets = s.dynamic.transformerFor("secrets");
    assert.equal(await written(secrets), "k8s:enc:kms:v2:old:v");
    writeFileSync(
      s.path,
      `${header}resources:\n  - resources: [secrets]\n    providers: [${aesgcm("second")}, ${kmsV2("old2")}]\n`,
    );
    assert.equal(await s.controller.checkNow(), "success");
    assert.equal(
      await written(secrets),
      "k8s:enc:aesgcm:v1:second:v",
      "the same transformer object follows the swap",
    );
    assert.deepEqual(s.controller.stats(), {
      successTotal: 1,
      failureTotal: 0,
      lastSuccessTimestampSeconds: s.clock.now() / 1000,
    });
    assert.deepEqual(s.events, ["success"]);
    const oldPlugin = s.f.v2.get("unix:///tmp/old.sock")!;
    assert.equal(oldPlugin.closed, 0, "in-flight calls may still use the old clients");
    s.clock.advance(2_000); // 2 × 1 s timeout
    assert.equal(oldPlugin.closed, 1);
    s.dynamic.close();
  });

  test("an invalid new file: the old configuration stays, a failure is counted", async () => {
    const s = await setup(v1Yaml);
    writeFileSync(s.path, `${header}resources:\n  - resources: ["*"]\n    providers: [{identity: {}}]\n`);
    assert.equal(await s.controller.checkNow(), "failure");
    assert.equal(await written(s.dynamic.transformerFor("secrets")), "k8s:enc:aesgcm:v1:first:v");
    assert.equal(s.controller.stats().failureTotal, 1);
    assert.equal(s.controller.stats().successTotal, 0);
    assert.equal(s.controller.stats().lastFailureTimestampSeconds, s.clock.now() / 1000);
    // Still invalid at the next poll: tried again and counted again, as kube-apiserver does.
    assert.equal(await s.controller.checkNow(), "failure");
    assert.equal(s.controller.stats().failureTotal, 2);
  });

  test("a new file whose KMS plugin is unhealthy: old kept, new clients closed, failure counted", async () => {
    const s = await setup(v1Yaml);
    s.f.presetV2.set("unix:///tmp/sick.sock", { healthz: "not ok" });
    writeFileSync(
      s.path,
      `${header}resources:\n  - resources: [secrets]\n    providers: [${kmsV2("sick")}]\n`,
    );
    const errors: string[] = [];
    const controller = new EncryptionConfigReloadController({
      path: s.path,
      dynamic: s.dynamic,
      clock: s.clock,
      healthTimeoutMs: 0,
      build: (config, contentHash) =>
        buildEncryptionState(config, {
          ...deps({ clients: s.f.clients, clock: s.clock, reload: true }),
          contentHash,
        }),
      onReload: (e) => errors.push(e.error?.message ?? ""),
    });
    assert.equal(await controller.checkNow(), "failure");
    assert.equal(await written(s.dynamic.transformerFor("secrets")), "k8s:enc:aesgcm:v1:first:v");
    assert.equal(controller.stats().failureTotal, 1);
    assert.equal(s.f.v2.get("unix:///tmp/sick.sock")?.closed, 1);
    assert.match(
      errors[0]!,
      /kms-provider-0: kmsv2 Provider sick is not healthy, error: got unexpected healthz status: not ok/,
    );
  });

  test("same content: nothing is rebuilt", async () => {
    const s = await setup(v1Yaml);
    const before = s.builds();
    assert.equal(await s.controller.checkNow(), "unchanged");
    writeFileSync(s.path, v1Yaml); // rewritten, same bytes
    assert.equal(await s.controller.checkNow(), "unchanged");
    assert.equal(s.builds(), before);
    assert.deepEqual(s.controller.stats(), { successTotal: 0, failureTotal: 0 });
    assert.deepEqual(s.events, []);
  });

  test("polling runs on the injected clock", async () => {
    const s = await setup(v1Yaml);
    s.controller.start();
    writeFileSync(
      s.path,
      `${header}resources:\n  - resources: [secrets]\n    providers: [${aesgcm("polled")}]\n`,
    );
    s.clock.advance(59_999);
    await flush();
    assert.equal(s.controller.stats().successTotal, 0);
    s.clock.advance(1);
    // The poll reads the real file: wait (bounded) for it to finish.
    for (let i = 0; i < 200 && s.controller.stats().successTotal === 0; i++)
      await new Promise((r) => setTimeout(r, 10));
    assert.equal(s.controller.stats().successTotal, 1);
    assert.equal(await written(s.dynamic.transformerFor("secrets")), "k8s:enc:aesgcm:v1:polled:v");
    s.controller.stop();
    await flush();
    s.controller.stop();
    s.dynamic.close(); // also the replaced state's grace-period close
    assert.equal(s.clock.pendingTimers(), 0);
  });

  test("the dynamic kms-providers check follows the current state", async () => {
    const s = await setup(v1Yaml);
    assert.equal(s.dynamic.healthCheck.name, "kms-providers");
    await s.dynamic.healthCheck.check();
  });
});
