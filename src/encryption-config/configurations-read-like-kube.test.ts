/**
 * Every configuration kube-apiserver accepts is read the way kube-apiserver reads it. kube builds one
 * prefix transformer per provider element, in file order (encryptionconfig/config.go
 * prefixTransformersAndProbes), and for aescbc/aesgcm/secretbox one more per key, `<name>:`
 * (aesPrefixTransformer); NewPrefixTransformers (storage/value/transformer.go) writes with the first
 * and reads with the first whose prefix matches *and* that can read the value, marking any but the first
 * stale, never stopping at a refusal. So two entries of one provider type, several keys, keys of one
 * name and two KMS v1 providers of one name all read, and the rotations of kube's documentation
 * (encrypt-data.md: new key added second → made first → old removed; decrypting: identity first) work
 * at every step.
 *
 * The table is configurations × stored values (written under the steps, plus values kube-apiserver's own
 * tests recorded or the documented layouts give) → plaintext and stale flag, or the error code.
 */
import assert from "node:assert/strict";
import { before, describe, test } from "node:test";
import { field, hexField, loadAtRestVectors } from "../../test/support/at-rest-vectors.js";
import { FakeKmsV1Service, FakeKmsV2Service } from "../../test/support/fake-kms-v2-service.js";
import { ManualClock } from "../common/clock.js";
import { AtrestError, isAtrestError, type ErrorCode } from "../common/errors.js";
import { contextForKey } from "../envelope/transformer.js";
import { buildEncryptionState, type KmsClientFactories } from "./build.js";
import type { EncryptionState } from "./encryption-state.js";
import { parseEncryptionConfiguration } from "./load.js";

const vectors = loadAtRestVectors();
/** The secret of the derived vectors' `key1` (aescbc, aesgcm and secretbox alike). */
const V = field(vectors.derived["D-aesgcm"], "config_secret_base64");
const K2 = Buffer.alloc(32, 2).toString("base64");
const K3 = Buffer.alloc(32, 3).toString("base64");
const DEFAULT_KEY = "/registry/secrets/default/mysecret";

/** A KMS v1 plugin that refuses ciphertexts it did not make (a real KMS refuses another key's). */
class NamedKmsV1 extends FakeKmsV1Service {
  constructor(private readonly id: string) {
    super();
  }
  override encrypt(plaintext: Uint8Array): Promise<Buffer> {
    return super.encrypt(plaintext).then((c) => Buffer.concat([Buffer.from(`${this.id}:`), c]));
  }
  override decrypt(ciphertext: Uint8Array): Promise<Buffer> {
    const mark = Buffer.from(`${this.id}:`);
    if (!Buffer.from(ciphertext).subarray(0, mark.length).equals(mark))
      return Promise.reject(new AtrestError("invalid-argument", `plugin ${this.id}: not my ciphertext`));
    return super.decrypt(ciphertext.subarray(mark.length));
  }
}

/** Plugins by endpoint: "base64" is the mock plugin the kube vectors were recorded with. */
function clients(): KmsClientFactories {
  const close = () => undefined;
  return {
    createKmsV1Client: ({ endpoint }) =>
      Object.assign(endpoint.endsWith("/base64.sock") ? new FakeKmsV1Service() : new NamedKmsV1(endpoint), {
        close,
      }),
    createKmsV2Client: () => Object.assign(new FakeKmsV2Service(), { close }),
  };
}

const keys = (...k: Array<[string, string]>) =>
  `{keys: [${k.map(([name, secret]) => `{name: ${name}, secret: "${secret}"}`).join(", ")}]}`;
const kmsV2 = (name: string) =>
  `{kms: {apiVersion: v2, name: ${name}, endpoint: "unix:///tmp/${name}.sock"}}`;
const kmsV1 = (name: string, plugin: string) =>
  `{kms: {name: ${name}, endpoint: "unix:///tmp/${plugin}.sock"}}`;

type Cell = "fresh" | "stale" | ErrorCode;

interface Group {
  readonly name: string;
  /** Step name → the provider list of `secrets`. */
  readonly configs: Readonly<Record<string, string>>;
  /** Step name → the prefix it writes with. */
  readonly writes: Readonly<Record<string, string>>;
  /** Values other than "written under <step>": recorded vectors and unencrypted data. */
  readonly extraValues: () => Array<{ name: string; key: string; bytes: Buffer; plaintext: Buffer }>;
  /** Columns: the value names, in the order of each row below. */
  readonly columns: readonly string[];
  /** Step name → one cell per column. */
  readonly expected: Readonly<Record<string, readonly Cell[]>>;
}

const plainValue = () => ({
  name: "plain",
  key: DEFAULT_KEY,
  bytes: Buffer.from("stored before encryption"),
  plaintext: Buffer.from("stored before encryption"),
});
const derived = (name: string, vectorName: string) => {
  const v = vectors.derived[vectorName];
  return {
    name,
    key: DEFAULT_KEY,
    bytes: hexField(v, "etcd_value_hex"),
    plaintext: hexField(v, "plaintext_hex"),
  };
};

const FP: ErrorCode = "failed-precondition";
const DC: ErrorCode = "data-corrupt";

const groups: Group[] = [
  {
    name: "aescbc key rotation, then decrypting, as kube's documentation does it",
    configs: {
      "cbc-0": `[{aescbc: ${keys(["key1", V])}}, {identity: {}}]`,
      "cbc-1 (new key added second)": `[{aescbc: ${keys(["key1", V], ["key2", K2])}}, {identity: {}}]`,
      "cbc-2 (new key made first)": `[{aescbc: ${keys(["key2", K2], ["key1", V])}}, {identity: {}}]`,
      "cbc-3 (old key and identity removed)": `[{aescbc: ${keys(["key2", K2])}}]`,
      "cbc-4 (decrypting: identity first)": `[{identity: {}}, {aescbc: ${keys(["key2", K2])}}]`,
      "cbc-5 (two aescbc entries: key2's, then key1's)": `[{aescbc: ${keys(["key2", K2])}}, {aescbc: ${keys(["key1", V])}}]`,
    },
    writes: {
      "cbc-0": "k8s:enc:aescbc:v1:key1:",
      "cbc-1 (new key added second)": "k8s:enc:aescbc:v1:key1:",
      "cbc-2 (new key made first)": "k8s:enc:aescbc:v1:key2:",
      "cbc-3 (old key and identity removed)": "k8s:enc:aescbc:v1:key2:",
      "cbc-4 (decrypting: identity first)": "",
      "cbc-5 (two aescbc entries: key2's, then key1's)": "k8s:enc:aescbc:v1:key2:",
    },
    extraValues: () => [
      plainValue(),
      derived("kube aescbc key1", "D-aescbc (10-byte plaintext)"),
      derived("kube aescbc key1, full pad block", "D-aescbc (16-byte plaintext)"),
    ],
    columns: [
      "plain",
      "kube aescbc key1",
      "kube aescbc key1, full pad block",
      "cbc-0",
      "cbc-2 (new key made first)",
    ],
    expected: {
      "cbc-0": ["stale", "fresh", "fresh", "fresh", FP],
      "cbc-1 (new key added second)": ["stale", "fresh", "fresh", "fresh", "stale"],
      "cbc-2 (new key made first)": ["stale", "stale", "stale", "stale", "fresh"],
      "cbc-3 (old key and identity removed)": [FP, FP, FP, FP, "fresh"],
      "cbc-4 (decrypting: identity first)": ["fresh", FP, FP, FP, "stale"],
      "cbc-5 (two aescbc entries: key2's, then key1's)": [FP, "stale", "stale", "stale", "fresh"],
    },
  },
  {
    name: "aesgcm with several keys, keys sharing a name, moving from aescbc; secretbox keys",
    configs: {
      "gcm-0": `[{aesgcm: ${keys(["key1", V])}}]`,
      "gcm-1 (two keys, from aescbc, identity last)": `[{aesgcm: ${keys(["key2", K2], ["key1", V])}}, {aescbc: ${keys(["key1", V])}}, {identity: {}}]`,
      "gcm-2 (two keys named key1)": `[{aesgcm: ${keys(["key1", K3], ["key1", V])}}]`,
      "sb-1 (secretbox, two keys)": `[{secretbox: ${keys(["key2", K2], ["key1", V])}}]`,
    },
    writes: {
      "gcm-0": "k8s:enc:aesgcm:v1:key1:",
      "gcm-1 (two keys, from aescbc, identity last)": "k8s:enc:aesgcm:v1:key2:",
      "gcm-2 (two keys named key1)": "k8s:enc:aesgcm:v1:key1:",
      "sb-1 (secretbox, two keys)": "k8s:enc:secretbox:v1:key2:",
    },
    extraValues: () => {
      const gcm = derived("kube aesgcm key1", "D-aesgcm");
      const tampered = Buffer.from(gcm.bytes);
      tampered[tampered.length - 1]! ^= 1;
      return [
        plainValue(),
        gcm,
        { ...gcm, name: "kube aesgcm key1, tag flipped", bytes: tampered },
        {
          ...gcm,
          name: "kube aesgcm key1, under another storage key",
          key: "/registry/secrets/default/other",
        },
        derived("kube aescbc key1", "D-aescbc (10-byte plaintext)"),
        derived("kube secretbox key1", "D-secretbox"),
      ];
    },
    columns: [
      "plain",
      "kube aesgcm key1",
      "kube aesgcm key1, tag flipped",
      "kube aesgcm key1, under another storage key",
      "kube aescbc key1",
      "kube secretbox key1",
      "gcm-2 (two keys named key1)",
    ],
    expected: {
      "gcm-0": [FP, "fresh", DC, DC, FP, FP, DC],
      "gcm-1 (two keys, from aescbc, identity last)": ["stale", "stale", DC, DC, "stale", FP, DC],
      "gcm-2 (two keys named key1)": [FP, "stale", DC, DC, FP, FP, "fresh"],
      "sb-1 (secretbox, two keys)": [FP, FP, FP, FP, FP, "stale", FP],
    },
  },
  {
    name: "KMS v2: a new provider added second, made first, the old one removed",
    configs: {
      "v2-0": `[${kmsV2("kms-provider")}]`,
      "v2-1 (new provider added second)": `[${kmsV2("kms-provider")}, ${kmsV2("kms-new")}]`,
      "v2-2 (new provider made first)": `[${kmsV2("kms-new")}, ${kmsV2("kms-provider")}]`,
      "v2-3 (old provider removed)": `[${kmsV2("kms-new")}]`,
    },
    writes: {
      "v2-0": "k8s:enc:kms:v2:kms-provider:",
      "v2-1 (new provider added second)": "k8s:enc:kms:v2:kms-provider:",
      "v2-2 (new provider made first)": "k8s:enc:kms:v2:kms-new:",
      "v2-3 (old provider removed)": "k8s:enc:kms:v2:kms-new:",
    },
    extraValues: () => {
      const legacy = vectors.kubernetes["kmsv2_legacy_aes_gcm_key"];
      return [
        {
          name: "kube v1.27 kms v2 (AES_GCM_KEY)",
          key: field(legacy, "etcd_key"),
          bytes: hexField(legacy, "etcd_value_hex"),
          plaintext: hexField(legacy, "plaintext_hex"),
        },
      ];
    },
    columns: ["kube v1.27 kms v2 (AES_GCM_KEY)", "v2-0", "v2-2 (new provider made first)"],
    expected: {
      // The v1.27 value is type 0 (a DEK, not a seed): stale wherever its provider reads it.
      "v2-0": ["stale", "fresh", FP],
      "v2-1 (new provider added second)": ["stale", "fresh", "stale"],
      "v2-2 (new provider made first)": ["stale", "stale", "fresh"],
      "v2-3 (old provider removed)": [FP, FP, "fresh"],
    },
  },
  {
    name: "KMS v1: two providers of one name on two plugins (allowed without automatic reload)",
    configs: {
      "v1-0": `[${kmsV1("kms-provider", "base64")}]`,
      "v1-1 (a second plugin first, same name)": `[${kmsV1("kms-provider", "second")}, ${kmsV1("kms-provider", "base64")}]`,
    },
    writes: {
      "v1-0": "k8s:enc:kms:v1:kms-provider:",
      "v1-1 (a second plugin first, same name)": "k8s:enc:kms:v1:kms-provider:",
    },
    extraValues: () => [
      derived("kube kms v1 (AES-GCM)", "D-kms-v1 (AES-GCM payload, written by >=1.25)"),
      derived(
        "kube kms v1 (AES-CBC, <= 1.24)",
        "D-kms-v1-legacy-cbc (AES-CBC payload, written by <=1.24; still readable, marked stale)",
      ),
    ],
    columns: [
      "kube kms v1 (AES-GCM)",
      "kube kms v1 (AES-CBC, <= 1.24)",
      "v1-0",
      "v1-1 (a second plugin first, same name)",
    ],
    expected: {
      "v1-0": ["fresh", "stale", "fresh", DC],
      "v1-1 (a second plugin first, same name)": ["stale", "stale", "stale", "fresh"],
    },
  },
];

const header = "apiVersion: apiserver.config.k8s.io/v1\nkind: EncryptionConfiguration\n";

async function stateFor(providers: string): Promise<EncryptionState> {
  const yaml = `${header}resources:\n  - resources: [secrets]\n    providers: ${providers}\n`;
  return buildEncryptionState(parseEncryptionConfiguration(yaml).config, {
    clients: clients(),
    clock: new ManualClock(),
    background: false,
  });
}

for (const group of groups) {
  describe(group.name, () => {
    const states = new Map<string, EncryptionState>();
    const values = new Map<string, { key: string; bytes: Buffer; plaintext: Buffer }>();

    before(async () => {
      for (const [step, providers] of Object.entries(group.configs))
        states.set(step, await stateFor(providers));
      for (const v of group.extraValues()) values.set(v.name, v);
      // A value written under each step (its own plaintext, the default storage key).
      for (const [step, state] of states) {
        const plaintext = Buffer.from(`written under ${step}`);
        const bytes = await state
          .transformerFor("secrets")
          .transformToStorage(plaintext, contextForKey(DEFAULT_KEY));
        values.set(step, { key: DEFAULT_KEY, bytes, plaintext });
      }
    });

    test("the table covers every step", () => {
      assert.deepEqual(Object.keys(group.expected).sort(), Object.keys(group.configs).sort());
      for (const row of Object.values(group.expected)) assert.equal(row.length, group.columns.length);
      for (const column of group.columns) assert.ok(values.has(column), `no value ${column}`);
    });

    for (const step of Object.keys(group.configs)) {
      test(`${step}: writes with its first provider's first key; reads each stored value as kube does`, async () => {
        const t = states.get(step)!.transformerFor("secrets");
        const own = values.get(step)!;
        assert.equal(own.bytes.toString("latin1").slice(0, group.writes[step]!.length), group.writes[step]);
        if (group.writes[step] === "")
          assert.deepEqual(own.bytes, own.plaintext, "identity writes plaintext");

        const got: string[] = [];
        for (const column of group.columns) {
          const v = values.get(column)!;
          try {
            const r = await t.transformFromStorage(v.bytes, contextForKey(v.key));
            assert.deepEqual(r.plaintext, v.plaintext, `${step} × ${column}: plaintext`);
            got.push(r.stale ? "stale" : "fresh");
          } catch (err) {
            if (err instanceof assert.AssertionError) throw err;
            assert.ok(isAtrestError(err), `${step} × ${column}: ${String(err)}`);
            got.push(err.code);
          }
        }
        assert.deepEqual(
          Object.fromEntries(group.columns.map((c, i) => [c, got[i]])),
          Object.fromEntries(group.columns.map((c, i) => [c, group.expected[step]![i]])),
        );
      });
    }
  });
}
