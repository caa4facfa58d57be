import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import {
  decodeEncryptedObjectWire,
  encodeEncryptedObjectWire,
  kmsV1beta1ServiceDefinition,
  kmsV2ServiceDefinition,
  methodDefinition,
  V2KeyManagementServicePaths,
  V1beta1KeyManagementServicePaths,
  type V2EncryptedObjectOutput,
} from "./index.js";

const hex = (b: Buffer): string => b.toString("hex");

test("v2 service: full method names as kube-apiserver calls them", () => {
  const service = kmsV2ServiceDefinition();
  assert.deepEqual(
    Object.values(service).map((m) => m.path),
    [
      "/v2.KeyManagementService/Status",
      "/v2.KeyManagementService/Decrypt",
      "/v2.KeyManagementService/Encrypt",
    ],
  );
  assert.deepEqual(
    Object.values(V2KeyManagementServicePaths),
    Object.values(service).map((m) => m.path),
  );
  assert.ok(Object.values(service).every((m) => !m.requestStream && !m.responseStream));
});

test("v1beta1 service: full method names", () => {
  const service = kmsV1beta1ServiceDefinition();
  assert.deepEqual(
    Object.values(service).map((m) => m.path),
    [
      "/v1beta1.KeyManagementService/Version",
      "/v1beta1.KeyManagementService/Decrypt",
      "/v1beta1.KeyManagementService/Encrypt",
    ],
  );
  assert.deepEqual(
    Object.values(V1beta1KeyManagementServicePaths),
    Object.values(service).map((m) => m.path),
  );
});

test("v2 StatusResponse / EncryptRequest / DecryptRequest field numbers on the wire", () => {
  const service = kmsV2ServiceDefinition();
  const status = methodDefinition<unknown, unknown>(service, "Status");
  // version=1 "v2", healthz=2 "ok", key_id=3 "1"
  const statusBytes = Buffer.from("0a0276321202" + "6f6b" + "1a0131", "hex");
  assert.deepEqual(status.responseDeserialize(statusBytes), { version: "v2", healthz: "ok", key_id: "1" });
  assert.equal(
    hex(status.responseSerialize({ version: "v2", healthz: "ok", key_id: "1" })),
    hex(statusBytes),
  );

  const encrypt = methodDefinition<unknown, unknown>(service, "Encrypt");
  // plaintext=1 "x", uid=2 "u"
  assert.equal(hex(encrypt.requestSerialize({ plaintext: Buffer.from("x"), uid: "u" })), "0a0178" + "120175");
  // ciphertext=1, key_id=2, annotations=3 (map entry: key=1, value=2)
  const response = encrypt.responseDeserialize(
    Buffer.from("0a0163" + "120131" + "1a08" + "0a03612e62" + "120176", "hex"),
  );
  assert.deepEqual(response, {
    ciphertext: Buffer.from("c"),
    key_id: "1",
    annotations: { "a.b": Buffer.from("v") },
  });
  // Defaults are filled in for missing fields; bytes are Buffers.
  const empty = encrypt.responseDeserialize(Buffer.alloc(0)) as { ciphertext: unknown };
  assert.deepEqual(empty, { ciphertext: Buffer.alloc(0), key_id: "", annotations: {} });
  assert.ok(Buffer.isBuffer(empty.ciphertext));

  const decrypt = methodDefinition<unknown, unknown>(service, "Decrypt");
  // ciphertext=1, uid=2, key_id=3, annotations=4
  assert.equal(
    hex(
      decrypt.requestSerialize({
        ciphertext: Buffer.from("c"),
        uid: "u",
        key_id: "k",
        annotations: { "a.b": Buffer.from("v") },
      }),
    ),
    "0a0163" + "120175" + "1a016b" + "2208" + "0a03612e62" + "120176",
  );
  assert.deepEqual(decrypt.responseDeserialize(Buffer.from("0a0170", "hex")), {
    plaintext: Buffer.from("p"),
  });
});

test("v1beta1 messages: field numbers on the wire", () => {
  const service = kmsV1beta1ServiceDefinition();
  const version = methodDefinition<unknown, unknown>(service, "Version");
  assert.equal(
    hex(version.requestSerialize({ version: "v1beta1" })),
    "0a07" + Buffer.from("v1beta1").toString("hex"),
  );
  assert.deepEqual(version.responseDeserialize(Buffer.from("0a0276311202" + "6e6e" + "1a0131", "hex")), {
    version: "v1",
    runtime_name: "nn",
    runtime_version: "1",
  });
  const encrypt = methodDefinition<unknown, unknown>(service, "Encrypt");
  assert.equal(hex(encrypt.requestSerialize({ version: "v", plain: Buffer.from("p") })), "0a0176" + "120170");
  assert.deepEqual(encrypt.responseDeserialize(Buffer.from("0a0163", "hex")), { cipher: Buffer.from("c") });
  const decrypt = methodDefinition<unknown, unknown>(service, "Decrypt");
  assert.equal(
    hex(decrypt.requestSerialize({ version: "v", cipher: Buffer.from("c") })),
    "0a0176" + "120163",
  );
  assert.deepEqual(decrypt.responseDeserialize(Buffer.from("0a0170", "hex")), { plain: Buffer.from("p") });
});

test("EncryptedObject decodes the value kube-apiserver v1.27 wrote (shared vectors)", () => {
  const vectors = JSON.parse(
    readFileSync(
      fileURLToPath(new URL("../../../shared/vectors/kubernetes-at-rest.json", import.meta.url)),
      "utf8",
    ),
  ) as { kubernetes: { kmsv2_legacy_aes_gcm_key: { etcd_value_hex: string; dek_or_seed_hex: string } } };
  const vector = vectors.kubernetes.kmsv2_legacy_aes_gcm_key;
  const value = Buffer.from(vector.etcd_value_hex, "hex");
  const prefix = Buffer.from("k8s:enc:kms:v2:kms-provider:");
  assert.deepEqual(value.subarray(0, prefix.length), prefix);
  const decoded: V2EncryptedObjectOutput = decodeEncryptedObjectWire(
    new Uint8Array(value.subarray(prefix.length)),
  );
  assert.equal(decoded.keyID, "1");
  assert.equal(decoded.encryptedDEKSourceType, "AES_GCM_KEY");
  assert.equal(
    decoded.encryptedDEKSource.toString(),
    Buffer.from(vector.dek_or_seed_hex, "hex").toString("base64"),
  );
  assert.deepEqual(Object.keys(decoded.annotations), ["local-kek.kms.kubernetes.io"]);
  assert.equal(decoded.annotations["local-kek.kms.kubernetes.io"]?.toString(), "encrypted-local-kek");
  assert.ok(Buffer.isBuffer(decoded.encryptedData));
  // Re-encoding gives the same bytes (fields in number order, the zero enum omitted as Go omits it).
  assert.equal(hex(encodeEncryptedObjectWire(decoded)), hex(value.subarray(prefix.length)));
});

test("EncryptedObject: zero values are omitted on the wire, seed type is written, unknown enum kept", () => {
  assert.equal(
    hex(encodeEncryptedObjectWire({ keyID: "", encryptedData: Buffer.alloc(0), annotations: {} })),
    "",
  );
  assert.equal(hex(encodeEncryptedObjectWire({ encryptedDEKSourceType: "AES_GCM_KEY" })), "");
  assert.equal(
    hex(encodeEncryptedObjectWire({ keyID: "k", encryptedDEKSourceType: "HKDF_SHA256_XNONCE_AES_GCM_SEED" })),
    "12016b" + "2801",
  );
  assert.deepEqual(decodeEncryptedObjectWire(Buffer.alloc(0)), {
    encryptedData: Buffer.alloc(0),
    keyID: "",
    encryptedDEKSource: Buffer.alloc(0),
    annotations: {},
    encryptedDEKSourceType: "AES_GCM_KEY",
  });
  assert.equal(
    decodeEncryptedObjectWire(Buffer.from("2807", "hex")).encryptedDEKSourceType,
    7 as unknown as string,
  );
  assert.throws(() => decodeEncryptedObjectWire(Buffer.from("0a05ab", "hex")));
});

test("src/generated/kms-wire.ts is up to date with proto/ (npm run proto:gen -- --check)", () => {
  const script = fileURLToPath(new URL("../../scripts/proto-gen.mjs", import.meta.url));
  const result = spawnSync(process.execPath, [script, "--check"], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  assert.match(result.stdout, /3 \.proto files parse/);
});
