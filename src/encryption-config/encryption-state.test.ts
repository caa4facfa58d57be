import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { FakeKmsV1Service, FakeKmsV2Service } from "../../test/support/fake-kms-v2-service.js";
import { ManualClock } from "../common/clock.js";
import { AtrestError } from "../common/errors.js";
import { describePrefix } from "../envelope/provider.js";
import { contextForKey, type Transformer } from "../envelope/transformer.js";
import { buildEncryptionState, type BuildDeps, type KmsClientFactories } from "./build.js";
import { DynamicEncryptionState } from "./encryption-state.js";
import { parseEncryptionConfiguration } from "./load.js";
import { EncryptionConfigReloadController } from "./reload-controller.js";

/*
 * The real providers (src/envelope) behind fake KMS plugins (test/support): the KMS health checks and
 * Status polling below are the KMS v2 runtime that ships. A fake plugin "encrypts" by base64.
 */
class FakeKmsV2 extends FakeKmsV2Service {
  closed = 0;
  close(): void {
    this.closed++;
  }
}

class FakeKmsV1 extends FakeKmsV1Service {
  closed = 0;
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

function deps(extra: Partial<BuildDeps> & { clients: KmsClientFactories }): BuildDeps {
  return { clock: new ManualClock(), background: false, ...extra };
}

/**
 * Writes "v" through `t` and reads it back: the stored value's provider prefix (up to the key or
 * provider name) followed by the plaintext read back, e.g. `k8s:enc:aesgcm:v1:key1:v`; "v" for identity.
 */
async function written(t: Transformer, key = "/registry/secrets/ns/a"): Promise<string> {
  const ctx = contextForKey(key);
  const stored = await t.transformToStorage(Buffer.from("v"), ctx);
  const read = (await t.transformFromStorage(stored, ctx)).plaintext.toString();
  const encrypted = stored.toString("latin1").startsWith("k8s:enc:");
  if (encrypted)
    assert.ok(stored.length >= describePrefix(stored).length + 16, "ciphertext follows the prefix");
  return encrypted ? `${describePrefix(stored)}${read}` : read;
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
    const before = `${header}resources:\n  - resources: [secrets]\n    providers: [${aesgcm("old")}]\n`;
    const old = await buildEncryptionState(parse(before).config, deps({ clients: fakeClients().clients }));
    const underOld = await old.transformerFor("secrets").transformToStorage(Buffer.from("v"), ctx);
    const underNew = await t.transformToStorage(Buffer.from("v"), ctx);
    assert.equal((await t.transformFromStorage(underOld, ctx)).stale, true);
    assert.equal((await t.transformFromStorage(underNew, ctx)).stale, false);
    assert.equal((await t.transformFromStorage(Buffer.from("v"), ctx)).stale, true, "identity is third");
  });

  test("a resource in two rules reads with both chains' providers, in file order", async () => {
    const yaml = `${header}resources:\n  - resources: [secrets]\n    providers: [${aesgcm("a")}]\n  - resources: [configmaps, secrets]\n    providers: [${aesgcm("b")}]\n`;
    const state = await buildEncryptionState(parse(yaml).config, deps({ clients: fakeClients().clients }));
    const ctx = contextForKey("/registry/secrets/ns/a");
    const secrets = state.transformerFor("secrets");
    const configmaps = state.transformerFor("configmaps");
    assert.equal(await written(secrets), "k8s:enc:aesgcm:v1:a:v");
    assert.equal(await written(configmaps), "k8s:enc:aesgcm:v1:b:v");
    const underA = await secrets.transformToStorage(Buffer.from("v"), ctx);
    const underB = await configmaps.transformToStorage(Buffer.from("v"), ctx);
    assert.equal((await secrets.transformFromStorage(underA, ctx)).stale, false);
    assert.equal((await secrets.transformFromStorage(underB, ctx)).stale, true, "b is second for secrets");
    await assert.rejects(configmaps.transformFromStorage(underA, ctx), { code: "failed-precondition" });
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
    assert.deepEqual(f.v1.get("unix:///tmp/one.sock")?.calls, { encrypt: 1, decrypt: 1 }, "v1: ping");
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
    assert.equal(plugin.calls.status, 1, "primed once while building");
    await assert.rejects(state.healthChecks[0]!.check(), {
      code: "unavailable",
      message:
        "kms-provider-0: kmsv2 Provider p is not healthy, error: got unexpected healthz status: broken",
    });
    assert.equal(plugin.calls.status, 1, "a failure is reused for 3 s");
    clock.advance(3_000);
    plugin.healthz = "ok";
    await state.healthChecks[0]!.check();
    assert.equal(plugin.calls.status, 2);
    clock.advance(19_999);
    await state.healthChecks[0]!.check();
    assert.equal(plugin.calls.status, 2, "a success is reused for 20 s");
    clock.advance(1);
    plugin.down = true;
    await assert.rejects(state.kmsChecks[0]!.check(), {
      message:
        "failed to perform status section of the healthz check for KMS Provider p, error: fake kms plugin is down (Status)",
    });
    // The healthy Status at 3 s reached the provider's seed state: it let writes go on until 3 s + 3 min.
    const secrets = state.transformerFor("secrets");
    clock.advance(3 * 60_000 - 20_000 - 1);
    assert.equal(await written(secrets), "k8s:enc:kms:v2:p:v");
    clock.advance(2);
    await assert.rejects(written(secrets), { code: "unavailable" });
    state.close();
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
    assert.equal(plugin.calls.status, 1);
    clock.advance(59_999);
    assert.equal(plugin.calls.status, 1);
    clock.advance(1);
    await flush();
    assert.equal(plugin.calls.status, 2);
    plugin.down = true;
    clock.advance(60_000);
    await flush();
    assert.equal(plugin.calls.status, 3);
    clock.advance(10_000);
    await flush();
    assert.equal(plugin.calls.status, 4, "retried after 10 s");
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
