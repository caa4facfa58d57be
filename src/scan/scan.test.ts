import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { AtrestError } from "../common/errors.js";
import { keyIdHash } from "../common/key-id-hash.js";
import { parseEncryptionConfiguration } from "../encryption-config/load.js";
import type { ReadResult, TransformContext, Transformer } from "../envelope/transformer.js";
import { encodeEncryptedObjectWire } from "../proto/encrypted-object.js";
import { MemoryStore } from "../storage/memory-store.js";
import type { ListOptions, ListResult, Store } from "../storage/store.js";
import { defaultScanPolicy, policyFromConfiguration } from "./policy.js";
import { renderScanJson, renderScanTable } from "./render.js";
import { SCAN_EXIT } from "./report.js";
import { scanStore, type ScanVerifier } from "./scan.js";
import { listPrefixesFor, normalizePrefix, resourceOfKey } from "./storage-path.js";

const MARKER = "PLAINTEXT-MARKER-7f3a";
const b = (s: string) => Buffer.from(s, "latin1");
const json = (name: string) => b(`{"kind":"Secret","metadata":{"name":"${name}"},"data":{"k":"${MARKER}"}}`);
const aesgcm = (key: string) => Buffer.concat([b(`k8s:enc:aesgcm:v1:${key}:`), Buffer.alloc(40, 9)]);
function kmsV2(keyID: string, type: 0 | 1): Buffer {
  return Buffer.concat([
    b("k8s:enc:kms:v2:kms-provider:"),
    encodeEncryptedObjectWire({
      encryptedData: Buffer.alloc(64, 3),
      keyID,
      encryptedDEKSource: Buffer.alloc(32, 4),
      encryptedDEKSourceType: type,
    }),
  ]);
}

async function seed(entries: Record<string, Buffer>): Promise<MemoryStore> {
  const store = new MemoryStore();
  for (const [k, v] of Object.entries(entries)) await store.create(k, v);
  return store;
}

/** Counts list calls, to see pagination and subtree listing happen. */
class CountingStore {
  readonly lists: Array<{ prefix: string; options: ListOptions }> = [];
  constructor(readonly inner: Store) {}
  list(prefix: string, options: ListOptions = {}): Promise<ListResult> {
    this.lists.push({ prefix, options });
    return this.inner.list(prefix, options);
  }
}

describe("storage paths", () => {
  test("prefixes are joined as kube does", () => {
    assert.equal(normalizePrefix("/registry"), "/registry");
    assert.equal(normalizePrefix("registry/"), "/registry");
    assert.equal(normalizePrefix("/43da/registry//"), "/43da/registry");
    assert.throws(() => normalizePrefix(""), /must not be empty/);
    assert.throws(() => normalizePrefix("/a/../b"), /must not contain/);
  });

  test("keys map to resources: core, cluster-scoped, renamed segments, groups, CRDs, unknown", () => {
    const p = "/registry";
    assert.equal(resourceOfKey(p, "/registry/secrets/default/a"), "secrets");
    assert.equal(resourceOfKey(p, "/registry/namespaces/default"), "namespaces");
    assert.equal(resourceOfKey(p, "/registry/serviceaccounts/kube-system/default"), "serviceaccounts");
    assert.equal(resourceOfKey(p, "/registry/minions/node-1"), "nodes");
    assert.equal(resourceOfKey(p, "/registry/services/specs/default/kubernetes"), "services");
    assert.equal(resourceOfKey(p, "/registry/services/endpoints/default/kubernetes"), "endpoints");
    assert.equal(resourceOfKey(p, "/registry/deployments/default/web"), "deployments.apps");
    assert.equal(
      resourceOfKey(p, "/registry/apiregistration.k8s.io/apiservices/v1.apps"),
      "apiservices.apiregistration.k8s.io",
    );
    assert.equal(resourceOfKey(p, "/registry/example.com/widgets/ns/w"), "widgets.example.com");
    assert.equal(resourceOfKey(p, "/registry/ranges/serviceips"), "ranges");
    // A namespace called "registry" does not confuse it.
    assert.equal(resourceOfKey("/x/registry", "/x/registry/configmaps/registry/c"), "configmaps");
  });

  test("list prefixes: one subtree per directly stored core resource, else the whole prefix", () => {
    assert.deepEqual(listPrefixesFor("/registry", undefined), ["/registry/"]);
    assert.deepEqual(listPrefixesFor("/registry", ["secrets", "configmaps"]), [
      "/registry/configmaps/",
      "/registry/secrets/",
    ]);
    assert.deepEqual(listPrefixesFor("/registry", ["secrets", "nodes"]), ["/registry/"]);
  });
});

describe("scanStore without a configuration", () => {
  test("counts per resource and provider, key ids with hashes, DEK source types; a plaintext Secret is a finding", async () => {
    const store = await seed({
      "/registry/secrets/default/plain-json": json("a"),
      "/registry/secrets/default/plain-pb": Buffer.concat([Buffer.from([0x6b, 0x38, 0x73, 0x00]), b(MARKER)]),
      "/registry/secrets/default/gcm": aesgcm("key1"),
      "/registry/secrets/ns2/kms-a": kmsV2("key-1", 1),
      "/registry/secrets/ns2/kms-b": kmsV2("key-1", 1),
      "/registry/secrets/ns2/kms-c": kmsV2("key-0", 0),
      "/registry/secrets/ns2/garbled": b("k8s:enc:kms:v2:kms-provider:\u00ff\u00ff"),
      "/registry/configmaps/default/cm": json("cm"),
      "/registry/namespaces/default": json("default"),
      "/registry/example.com/widgets/ns/w": json("w"),
      "/other/secrets/default/ignored": json("x"),
    });
    const report = await scanStore(store, { pageSize: 2 });
    assert.deepEqual(Object.keys(report.resources), [
      "configmaps",
      "namespaces",
      "secrets",
      "widgets.example.com",
    ]);
    const s = report.resources["secrets"]!;
    assert.equal(s.total, 7);
    assert.equal(s.plaintext, 2);
    assert.equal(s.plaintextViolations, 2);
    assert.equal(s.encrypted, 4);
    assert.equal(s.malformed, 1);
    assert.deepEqual(s.byProvider, { aesgcm: 1, identity: 2, "kms:v2": 3, malformed: 1 });
    assert.deepEqual(s.byPlaintextEncoding, { json: 1, protobuf: 1 });
    assert.deepEqual(s.byKeyName, { "aesgcm:key1": 1 });
    assert.deepEqual(s.byKmsProvider, { "kms:v2:kms-provider": 3 });
    assert.deepEqual(s.byKeyId, {
      "key-0": { count: 1, keyIdHash: keyIdHash("key-0"), providers: ["kms:v2:kms-provider"] },
      "key-1": { count: 2, keyIdHash: keyIdHash("key-1"), providers: ["kms:v2:kms-provider"] },
    });
    assert.deepEqual(s.byDekSourceType, { AES_GCM_KEY: 1, HKDF_SHA256_XNONCE_AES_GCM_SEED: 2 });
    assert.deepEqual(s.objects.plaintext, [
      "/registry/secrets/default/plain-json",
      "/registry/secrets/default/plain-pb",
    ]);
    assert.equal(s.objects.malformed[0]?.key, "/registry/secrets/ns2/garbled");
    assert.equal(s.stale, null);
    assert.equal(s.failed, null);
    // Plaintext ConfigMaps are fine without a configuration.
    assert.equal(report.resources["configmaps"]!.plaintextViolations, 0);
    assert.deepEqual(report.resources["configmaps"]!.objects.plaintext, []);
    assert.equal(report.summary.total, 10);
    assert.deepEqual(report.summary.findings, ["malformed", "plaintext"]);
    assert.equal(report.summary.exitCode, SCAN_EXIT.malformed);
    assert.equal(report.configuration, null);

    for (const out of [renderScanJson(report), renderScanTable(report)]) {
      assert.ok(!out.includes(MARKER), "no plaintext in the output");
      assert.ok(out.includes("/registry/secrets/default/plain-json"));
    }
    assert.match(renderScanTable(report), /key-1" \(sha256:[0-9a-f]{64}\) 2/);
  });

  test("pages through the store at one revision and lists only the subtrees asked for", async () => {
    const entries: Record<string, Buffer> = {};
    for (let i = 0; i < 7; i++) entries[`/registry/secrets/ns/s${i}`] = aesgcm("k");
    entries["/registry/configmaps/ns/c"] = json("c");
    entries["/registry/pods/ns/p"] = json("p");
    const inner = await seed(entries);
    const counting = new CountingStore(inner);
    const report = await scanStore(counting as unknown as Store, {
      pageSize: 3,
      resources: ["secrets", "configmaps"],
    });
    assert.deepEqual(Object.keys(report.resources), ["configmaps", "secrets"]);
    assert.equal(report.resources["secrets"]!.total, 7);
    assert.equal(report.resources["configmaps"]!.total, 1);
    assert.deepEqual(
      counting.lists.map((l) => l.prefix),
      ["/registry/configmaps/", "/registry/secrets/", "/registry/secrets/", "/registry/secrets/"],
    );
    const revision = report.revision;
    assert.ok(revision > 0);
    assert.ok(
      counting.lists.slice(1).every((l) => l.options.revision === revision),
      "later pages read at the first page's revision",
    );
    assert.equal(report.summary.exitCode, SCAN_EXIT.ok);
  });

  test("a resource asked for by name shows up with zero objects; an empty store exits 0", async () => {
    const report = await scanStore(new MemoryStore(), { resources: ["secrets"] });
    assert.equal(report.resources["secrets"]!.total, 0);
    assert.equal(report.summary.exitCode, 0);
    assert.match(renderScanTable(await scanStore(new MemoryStore())), /no objects found/);
  });
});

/** A transformer whose verdict depends on the key: for stale / failed / unverified paths. */
function fakeVerifier(calls: string[]): ScanVerifier {
  const t: Transformer = {
    transformFromStorage(data: Uint8Array, ctx: TransformContext): Promise<ReadResult> {
      const key = Buffer.from(ctx.aad).toString("utf8");
      calls.push(key);
      if (key.endsWith("/moved"))
        return Promise.reject(new AtrestError("data-corrupt", "cipher: message authentication failed"));
      if (key.endsWith("/down")) return Promise.reject(new AtrestError("unavailable", "kms plugin down"));
      return Promise.resolve({
        plaintext: Buffer.from(data),
        stale: key.endsWith("/old"),
        origin: { provider: "aesgcm", keyName: "k" },
      });
    },
    transformToStorage: () => Promise.reject(new Error("a scan never writes")),
  };
  return { transformerFor: () => t };
}

describe("scanStore with a configuration", () => {
  const config = parseEncryptionConfiguration(
    [
      "apiVersion: apiserver.config.k8s.io/v1",
      "kind: EncryptionConfiguration",
      "resources:",
      "  - resources: [secrets]",
      "    providers:",
      "      - aesgcm: {keys: [{name: k, secret: AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=}]}",
      "      - identity: {}",
      "  - resources: ['*.apps']",
      "    providers: [{identity: {}}]",
    ].join("\n"),
  ).config;

  test("policy: the first provider of the matching rule says whether plaintext is a finding", () => {
    const policy = policyFromConfiguration(config);
    assert.deepEqual(policy.forResource("secrets"), {
      encryptionExpected: true,
      writer: "aesgcm:k",
      rule: "secrets",
    });
    assert.deepEqual(policy.forResource("deployments.apps"), {
      encryptionExpected: false,
      writer: "identity",
      rule: "*.apps",
    });
    assert.deepEqual(policy.forResource("configmaps"), { encryptionExpected: false, writer: "identity" });
    assert.equal(defaultScanPolicy.forResource("secrets").encryptionExpected, true);
  });

  test("stale, failed and unverified come from reading each value; malformed values are not read", async () => {
    const store = await seed({
      "/registry/secrets/ns/fresh": aesgcm("k"),
      "/registry/secrets/ns/old": aesgcm("k"),
      "/registry/secrets/ns/moved": aesgcm("k"),
      "/registry/secrets/ns/down": aesgcm("k"),
      "/registry/secrets/ns/bad": b("k8s:enc:aesgcm:v1:k:short"),
      "/registry/deployments/ns/d": json("d"),
    });
    const calls: string[] = [];
    const report = await scanStore(store, {
      verifier: fakeVerifier(calls),
      policy: policyFromConfiguration(config),
      configurationHash: "sha256:abc",
      concurrency: 2,
    });
    assert.ok(!calls.includes("/registry/secrets/ns/bad"));
    const s = report.resources["secrets"]!;
    assert.equal(s.verified, 2);
    assert.equal(s.stale, 1);
    assert.equal(s.failed, 1);
    assert.equal(s.unverified, 1);
    assert.deepEqual(s.objects.stale, ["/registry/secrets/ns/old"]);
    assert.deepEqual(s.objects.failed, [
      { key: "/registry/secrets/ns/moved", reason: "cipher: message authentication failed" },
    ]);
    assert.deepEqual(s.objects.unverified, [{ key: "/registry/secrets/ns/down", reason: "kms plugin down" }]);
    assert.equal(s.writer, "aesgcm:k");
    assert.equal(report.resources["deployments.apps"]!.plaintextViolations, 0);
    assert.deepEqual(report.summary.findings, ["failed", "malformed", "unverified"]);
    assert.equal(report.summary.exitCode, SCAN_EXIT.failed);
    assert.deepEqual(report.configuration, { contentHash: "sha256:abc" });
  });

  test("exit codes: unverified alone is 3; stale only counts with failOnStale", async () => {
    const down = await seed({ "/registry/secrets/ns/down": aesgcm("k") });
    assert.equal(
      (await scanStore(down, { verifier: fakeVerifier([]) })).summary.exitCode,
      SCAN_EXIT.unverified,
    );
    const old = await seed({ "/registry/secrets/ns/old": aesgcm("k") });
    assert.equal((await scanStore(old, { verifier: fakeVerifier([]) })).summary.exitCode, 0);
    const strict = await scanStore(old, { verifier: fakeVerifier([]), failOnStale: true });
    assert.equal(strict.summary.exitCode, SCAN_EXIT.stale);
    assert.deepEqual(strict.summary.findings, ["stale"]);
  });
});
