/**
 * What a stored value is, from its bytes alone — no key, no KMS, no decryption (DESIGN.md §4). Every
 * encrypted value says how it was written (`k8s:enc:<provider>:v1:<keyName>:`, `k8s:enc:kms:v1|v2:<name>:`
 * and, for KMS v2, an EncryptedObject carrying the key_id and the DEK source type); anything without the
 * `k8s:enc:` marker is stored in the clear. Never returns or keeps any payload bytes.
 */
import { DEK_SOURCE_TYPE_NAMES, decodeEncryptedObject } from "../envelope/kmsv2/encrypted-object.js";

/** How a plaintext value is encoded (kube stores JSON, its protobuf envelope, or CBOR for some types). */
export type PlaintextEncoding = "json" | "protobuf" | "cbor" | "other";

export type LocalProvider = "aescbc" | "aesgcm" | "secretbox";

/** KMS v2's EncryptedDEKSourceType names, as the wire and kube's metrics spell them. */
export type KmsV2DekSourceType = "AES_GCM_KEY" | "HKDF_SHA256_XNONCE_AES_GCM_SEED";

export type ValueClass =
  | { readonly kind: "plaintext"; readonly encoding: PlaintextEncoding }
  | { readonly kind: "encrypted"; readonly provider: LocalProvider; readonly keyName: string }
  | {
      readonly kind: "encrypted";
      readonly provider: "kms";
      readonly kmsApiVersion: "v1";
      readonly providerName: string;
    }
  | {
      readonly kind: "encrypted";
      readonly provider: "kms";
      readonly kmsApiVersion: "v2";
      readonly providerName: string;
      readonly keyId: string;
      readonly dekSourceType: KmsV2DekSourceType;
    }
  | {
      readonly kind: "malformed";
      /** Why the bytes do not parse (names the rule; never contains payload bytes). */
      readonly reason: string;
      /** The printable prefix (`k8s:enc:aesgcm:v1:key1:`), when there is one. */
      readonly prefix?: string;
    };

export type EncryptedValueClass = Extract<ValueClass, { kind: "encrypted" }>;

// Never change: the byte markers kube-apiserver writes.
const ENCRYPTED_MARKER = "k8s:enc:";
const PROTOBUF_MAGIC = Buffer.from([0x6b, 0x38, 0x73, 0x00]); // "k8s\0"
const CBOR_SELF_DESCRIBED = Buffer.from([0xd9, 0xd9, 0xf7]);

// Sizes below which a value cannot hold what its provider writes (DESIGN.md §4).
const AES_BLOCK_BYTES = 16;
const GCM_NONCE_BYTES = 12;
const GCM_TAG_BYTES = 16;
const SECRETBOX_NONCE_BYTES = 24;
const SECRETBOX_TAG_BYTES = 16;
const HKDF_INFO_BYTES = 32;
/** How far into a value a provider name or key name may reach before we call it unterminated. */
const MAX_NAME_BYTES = 256;

const LOCAL_PROVIDERS: ReadonlySet<string> = new Set(["aescbc", "aesgcm", "secretbox"]);

function startsWithBytes(data: Uint8Array, prefix: Uint8Array): boolean {
  if (data.length < prefix.length) return false;
  for (let i = 0; i < prefix.length; i++) if (data[i] !== prefix[i]) return false;
  return true;
}

function plaintextEncoding(data: Uint8Array): PlaintextEncoding {
  if (startsWithBytes(data, PROTOBUF_MAGIC)) return "protobuf";
  if (startsWithBytes(data, CBOR_SELF_DESCRIBED)) return "cbor";
  for (const c of data) {
    if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d) continue;
    return c === 0x7b /* { */ ? "json" : "other";
  }
  return "other";
}

/** Reads a ':'-terminated printable name starting at `from`; undefined when there is none. */
function readName(data: Uint8Array, from: number): { name: string; end: number } | undefined {
  const limit = Math.min(data.length, from + MAX_NAME_BYTES);
  for (let i = from; i < limit; i++) {
    const c = data[i]!;
    if (c === 0x3a) return { name: Buffer.from(data.subarray(from, i)).toString("latin1"), end: i + 1 };
    if (c < 0x21 || c > 0x7e) return undefined;
  }
  return undefined;
}

function malformed(reason: string, data: Uint8Array, prefixEnd: number): ValueClass {
  const prefix = Buffer.from(data.subarray(0, prefixEnd)).toString("latin1");
  return { kind: "malformed", reason, ...(prefix === "" ? {} : { prefix }) };
}

/** Classifies one stored value by its bytes. Pure; never throws. */
export function classifyValue(data: Uint8Array): ValueClass {
  const marker = Buffer.from(data.subarray(0, ENCRYPTED_MARKER.length)).toString("latin1");
  if (marker !== ENCRYPTED_MARKER) return { kind: "plaintext", encoding: plaintextEncoding(data) };

  const provider = readName(data, ENCRYPTED_MARKER.length);
  if (provider === undefined || provider.name === "") {
    return malformed("no provider name after k8s:enc:", data, ENCRYPTED_MARKER.length);
  }
  const version = readName(data, provider.end);
  if (version === undefined)
    return malformed(`no format version after the ${provider.name} provider`, data, provider.end);

  if (LOCAL_PROVIDERS.has(provider.name)) {
    if (version.name !== "v1")
      return malformed(`unknown ${provider.name} format version "${version.name}"`, data, version.end);
    const key = readName(data, version.end);
    if (key === undefined || key.name === "")
      return malformed(`no key name in the ${provider.name} prefix`, data, version.end);
    const body = data.length - key.end;
    const problem = localBodyProblem(provider.name as LocalProvider, body);
    if (problem !== undefined) return malformed(problem, data, key.end);
    return { kind: "encrypted", provider: provider.name as LocalProvider, keyName: key.name };
  }

  if (provider.name === "kms") {
    if (version.name !== "v1" && version.name !== "v2") {
      return malformed(`unknown kms API version "${version.name}"`, data, version.end);
    }
    const name = readName(data, version.end);
    if (name === undefined || name.name === "")
      return malformed(`no provider name in the kms ${version.name} prefix`, data, version.end);
    const body = data.subarray(name.end);
    if (version.name === "v1") {
      const problem = kmsV1BodyProblem(body);
      if (problem !== undefined) return malformed(problem, data, name.end);
      return { kind: "encrypted", provider: "kms", kmsApiVersion: "v1", providerName: name.name };
    }
    return classifyKmsV2(body, name.name, data, name.end);
  }

  return malformed(`unknown provider "${provider.name}"`, data, provider.end);
}

function localBodyProblem(provider: LocalProvider, bodyBytes: number): string | undefined {
  switch (provider) {
    case "aescbc":
      // IV, then at least one padded block; PKCS#7 always pads, so the length is a whole number of blocks.
      if (bodyBytes < 2 * AES_BLOCK_BYTES)
        return `aescbc data is ${bodyBytes} bytes, shorter than an IV and one block`;
      if (bodyBytes % AES_BLOCK_BYTES !== 0)
        return `aescbc data is ${bodyBytes} bytes, not a whole number of ${AES_BLOCK_BYTES}-byte blocks`;
      return undefined;
    case "aesgcm":
      if (bodyBytes < GCM_NONCE_BYTES + GCM_TAG_BYTES)
        return `aesgcm data is ${bodyBytes} bytes, shorter than a nonce and a tag`;
      return undefined;
    case "secretbox":
      if (bodyBytes < SECRETBOX_NONCE_BYTES + SECRETBOX_TAG_BYTES)
        return `secretbox data is ${bodyBytes} bytes, shorter than a nonce and a tag`;
      return undefined;
  }
}

function kmsV1BodyProblem(body: Uint8Array): string | undefined {
  if (body.length < 2) return "kms v1 data is too short for the encrypted DEK length";
  const dekBytes = (body[0]! << 8) | body[1]!;
  if (dekBytes === 0) return "kms v1 encrypted DEK is empty";
  const payload = body.length - 2 - dekBytes;
  if (payload < 0) return `kms v1 encrypted DEK length ${dekBytes} runs past the end of the value`;
  // GCM (nonce + tag) or, for data older than 1.25, CBC (IV + a block): 28 bytes at the least either way.
  if (payload < GCM_NONCE_BYTES + GCM_TAG_BYTES)
    return `kms v1 payload is ${payload} bytes, too short to hold any ciphertext`;
  return undefined;
}

function classifyKmsV2(
  body: Uint8Array,
  providerName: string,
  data: Uint8Array,
  prefixEnd: number,
): ValueClass {
  let object: ReturnType<typeof decodeEncryptedObject>;
  try {
    object = decodeEncryptedObject(body);
  } catch (err) {
    // The codec's messages name kube's broken rule and carry no payload bytes.
    const reason = err instanceof Error ? err.message : String(err);
    return malformed(reason, data, prefixEnd);
  }
  const type = object.encryptedDEKSourceType;
  const dekSourceType = DEK_SOURCE_TYPE_NAMES[type] as KmsV2DekSourceType;
  const minimum = (type === 1 ? HKDF_INFO_BYTES : 0) + GCM_NONCE_BYTES + GCM_TAG_BYTES;
  if (object.encryptedData.length < minimum) {
    return malformed(
      `kms v2 encryptedData is ${object.encryptedData.length} bytes, shorter than the ${minimum} that ${dekSourceType} needs`,
      data,
      prefixEnd,
    );
  }
  return {
    kind: "encrypted",
    provider: "kms",
    kmsApiVersion: "v2",
    providerName,
    keyId: object.keyID,
    dekSourceType,
  };
}

/** A short label of how a value was written: `identity`, `aesgcm`, `kms:v2`, `malformed`. */
export function providerLabel(c: ValueClass): string {
  if (c.kind === "plaintext") return "identity";
  if (c.kind === "malformed") return "malformed";
  return c.provider === "kms" ? `kms:${c.kmsApiVersion}` : c.provider;
}
