/**
 * A value written by a real kube-apiserver (v1.27, KMS v2, DEK source type AES_GCM_KEY; the shared
 * vector `kmsv2_legacy_aes_gcm_key`) put into a real etcd under its own key, read back by kubectl through
 * the atrest apiserver configured as kube's test was (provider `kms-provider`, a base64 plugin with key_id
 * "1", etcd prefix `/<uuid>/registry`). An update then rewrites it in the current (seed) format.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { SCAN_EXIT } from "../src/scan/report.js";
import { field, hexField, loadAtRestVectors } from "./support/at-rest-vectors.js";
import {
  IDENTITY,
  secretsConfig,
  startEncryptionSystem,
  type EncryptionSystem,
} from "./support/encryption-system.js";

const vector = loadAtRestVectors().kubernetes["kmsv2_legacy_aes_gcm_key"];
const ETCD_KEY = field(vector, "etcd_key");
const PROVIDER = field(vector, "provider_name");
// `<prefix>/secrets/<namespace>/<name>`: kube's test ran with --etcd-prefix=/<uuid>/registry.
const m = /^(\/.+\/registry)\/secrets\/([^/]+)\/([^/]+)$/.exec(ETCD_KEY);
assert.ok(m !== null, ETCD_KEY);
const [, PREFIX, NAMESPACE, NAME] = m as unknown as [string, string, string, string];

// ---- a minimal protobuf reader: the expected values come from the vector's bytes, not from our codec ----

function varint(buf: Buffer, at: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (;;) {
    const b = buf[at++]!;
    v += (b & 0x7f) * 2 ** shift;
    if ((b & 0x80) === 0) return [v, at];
    shift += 7;
  }
}

/** Fields of one message: number → the length-delimited (or varint, as a number) values in order. */
function fields(buf: Buffer): Map<number, Array<Buffer | number>> {
  const out = new Map<number, Array<Buffer | number>>();
  let at = 0;
  while (at < buf.length) {
    const [tag, next] = varint(buf, at);
    at = next;
    const no = Math.floor(tag / 8);
    const wire = tag & 7;
    let value: Buffer | number;
    if (wire === 0) [value, at] = varint(buf, at);
    else if (wire === 2) {
      const [len, start] = varint(buf, at);
      value = buf.subarray(start, start + len);
      at = start + len;
    } else throw new Error(`unexpected wire type ${wire}`);
    out.set(no, [...(out.get(no) ?? []), value]);
  }
  return out;
}

const bytesOf = (f: Map<number, Array<Buffer | number>>, no: number): Buffer => {
  const v = f.get(no)?.[0];
  assert.ok(Buffer.isBuffer(v), `field ${no}`);
  return v;
};

const plaintext = hexField(vector, "plaintext_hex");
assert.ok(plaintext.subarray(0, 4).equals(Buffer.from("k8s\0")));
const unknown = fields(plaintext.subarray(4));
const secret = fields(bytesOf(unknown, 2));
const meta = fields(bytesOf(secret, 1));
const expectedData: Record<string, string> = {};
for (const entry of secret.get(2) ?? []) {
  assert.ok(Buffer.isBuffer(entry));
  const kv = fields(entry);
  expectedData[bytesOf(kv, 1).toString()] = bytesOf(kv, 2).toString("base64");
}
const expectedUid = bytesOf(meta, 5).toString();
const created = fields(bytesOf(meta, 8)).get(1)?.[0];

describe(
  "a kube-apiserver v1.27 KMS v2 value read through the atrest apiserver",
  { timeout: 120_000 },
  () => {
    let sys: EncryptionSystem;

    before(async () => {
      sys = await startEncryptionSystem({
        name: "encryption-vector",
        plugin: "fake",
        etcdPrefix: PREFIX,
        config: (endpoint) =>
          secretsConfig([`kms: {apiVersion: v2, name: ${PROVIDER}, endpoint: "${endpoint}"}`, IDENTITY]),
      });
      assert.equal(sys.fakePlugin?.keyId, "1", "the vector's plugin key_id");
      await sys.store.create(ETCD_KEY, hexField(vector, "etcd_value_hex"));
    });
    after(async () => {
      await sys?.close();
    });

    test("the vector decodes as expected (sanity of the oracle)", () => {
      assert.equal(bytesOf(meta, 1).toString(), NAME);
      assert.equal(bytesOf(meta, 3).toString(), NAMESPACE);
      assert.deepEqual(expectedData, {
        api_key: Buffer.from("086a7ffc-0225-11e8-ba89-0ed5f89f718b").toString("base64"),
      });
    });

    test("kubectl get secret -o json returns the vector's plaintext data, uid and creation time", async () => {
      const out = JSON.parse(
        await sys.kubectl.ok(["get", "secret", NAME, "-n", NAMESPACE, "-o", "json"]),
      ) as {
        kind: string;
        type?: string;
        data: Record<string, string>;
        metadata: { name: string; namespace: string; uid: string; creationTimestamp: string };
      };
      assert.equal(out.kind, "Secret");
      assert.deepEqual(out.data, expectedData);
      assert.equal(out.type, "Opaque");
      assert.equal(out.metadata.name, NAME);
      assert.equal(out.metadata.namespace, NAMESPACE);
      assert.equal(out.metadata.uid, expectedUid);
      assert.equal(typeof created, "number");
      assert.equal(Date.parse(out.metadata.creationTimestamp) / 1000, created);
      // And it is listed under its namespace (the list path decodes it too).
      const list = JSON.parse(await sys.kubectl.ok(["get", "secrets", "-n", NAMESPACE, "-o", "json"])) as {
        items: Array<{ metadata: { name: string }; data: Record<string, string> }>;
      };
      assert.deepEqual(
        list.items.map((i) => [i.metadata.name, i.data]),
        [[NAME, expectedData]],
      );
    });

    test("the legacy value is stale (AES_GCM_KEY); an update rewrites it with a seed, still readable", async () => {
      const before = await sys.scan({ extraArgs: ["--fail-on-stale"] });
      const s0 = before.report.resources["secrets"]!;
      assert.equal(before.report.prefix, PREFIX);
      assert.deepEqual(s0.byDekSourceType, { AES_GCM_KEY: 1 });
      assert.deepEqual(s0.byKmsProvider, { [`kms:v2:${PROVIDER}`]: 1 });
      assert.deepEqual(s0.objects.stale, [ETCD_KEY]);
      assert.equal(before.status, SCAN_EXIT.stale, before.stderr);

      await sys.kubectl.ok(["create", "namespace", NAMESPACE]);
      await sys.kubectl.ok(["annotate", "secret", NAME, "-n", NAMESPACE, "rewritten=yes"]);
      const stored = await sys.store.get(ETCD_KEY);
      assert.ok(stored !== undefined);
      assert.ok(stored.value.subarray(0, 28).equals(Buffer.from(`k8s:enc:kms:v2:${PROVIDER}:`)));
      assert.ok(!stored.value.equals(hexField(vector, "etcd_value_hex")), "the value was rewritten");

      const after = await sys.scan({ extraArgs: ["--fail-on-stale"] });
      const s1 = after.report.resources["secrets"]!;
      assert.equal(after.status, SCAN_EXIT.ok, after.stderr);
      assert.deepEqual(s1.byDekSourceType, { HKDF_SHA256_XNONCE_AES_GCM_SEED: 1 });
      assert.deepEqual(Object.keys(s1.byKeyId), ["1"]);
      assert.equal(s1.stale, 0);

      const out = JSON.parse(
        await sys.kubectl.ok(["get", "secret", NAME, "-n", NAMESPACE, "-o", "json"]),
      ) as { data: Record<string, string>; metadata: { uid: string; annotations?: Record<string, string> } };
      assert.deepEqual(out.data, expectedData);
      assert.equal(out.metadata.uid, expectedUid);
      assert.equal(out.metadata.annotations?.["rewritten"], "yes");
    });
  },
);
