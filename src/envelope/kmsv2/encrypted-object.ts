/**
 * The KMS v2 EncryptedObject (proto/kms-v2-encrypted-object.proto, DESIGN.md §4), stored after
 * `k8s:enc:kms:v2:<providerName>:`, encoded with protobufjs and validated on both encode and decode
 * with kube-apiserver's limits (kmsv2 ValidateEncryptedObject).
 */
import { LRUCache } from "lru-cache";
import { AtrestError } from "../../common/errors.js";
import { encryptedObjectType } from "../../proto/encrypted-object.js";

/** Never change: the wire numbers of EncryptedDEKSourceType. */
export const DEK_SOURCE_TYPE = Object.freeze({ AES_GCM_KEY: 0, HKDF_SHA256_XNONCE_AES_GCM_SEED: 1 });
export type DekSourceType = (typeof DEK_SOURCE_TYPE)[keyof typeof DEK_SOURCE_TYPE];
export const DEK_SOURCE_TYPE_NAMES: Readonly<Record<DekSourceType, string>> = Object.freeze({
  0: "AES_GCM_KEY",
  1: "HKDF_SHA256_XNONCE_AES_GCM_SEED",
});

// kube-apiserver's limits (staging/src/k8s.io/apiserver/pkg/storage/value/encrypt/envelope/kmsv2/envelope.go).
export const ENCRYPTED_DEK_SOURCE_MAX_BYTES = 1024;
export const KEY_ID_MAX_BYTES = 1024;
export const ANNOTATIONS_MAX_BYTES = 32 * 1024;

export interface EncryptedObject {
  readonly encryptedData: Buffer;
  readonly keyID: string;
  readonly encryptedDEKSource: Buffer;
  readonly annotations: Readonly<Record<string, Buffer>>;
  readonly encryptedDEKSourceType: DekSourceType;
}

const DNS1123_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** validation.IsFullyQualifiedDomainName: ≥ 2 labels, each a DNS-1123 label (≤ 63), ≤ 253 in total, one trailing dot allowed. */
export function annotationKeyProblem(name: string): string | undefined {
  if (name.length === 0) return "annotations: Required value";
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  if (trimmed.length > 253)
    return `annotations: Invalid value: "${clip(trimmed)}": must be no more than 253 characters`;
  const labels = trimmed.split(".");
  for (const label of labels) {
    if (label.length > 63)
      return `annotations: Invalid value: "${clip(label)}": must be no more than 63 characters`;
    if (!DNS1123_LABEL.test(label)) {
      return `annotations: Invalid value: "${clip(trimmed)}": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character`;
    }
  }
  if (labels.length < 2)
    return `annotations: Invalid value: "${clip(trimmed)}": should be a domain with at least two segments separated by dots`;
  return undefined;
}

function clip(s: string): string {
  return s.length > 80 ? `${s.slice(0, 80)}…` : s;
}

export function keyIdProblem(keyID: string): string | undefined {
  const bytes = Buffer.byteLength(keyID, "utf8");
  if (bytes === 0) return "keyID is empty";
  if (bytes > KEY_ID_MAX_BYTES)
    return `keyID is ${bytes} bytes, which exceeds the max size of ${KEY_ID_MAX_BYTES}`;
  return undefined;
}

export function encryptedDekSourceProblem(source: Uint8Array): string | undefined {
  if (source.length === 0) return "encrypted DEK source is empty";
  if (source.length > ENCRYPTED_DEK_SOURCE_MAX_BYTES) {
    return `encrypted DEK source is ${source.length} bytes, which exceeds the max size of ${ENCRYPTED_DEK_SOURCE_MAX_BYTES}`;
  }
  return undefined;
}

/** Names already found valid (plugins use a handful): reads skip re-checking them. */
const validAnnotationNames = new LRUCache<string, true>({ max: 1024 });

export function annotationsProblems(annotations: Readonly<Record<string, Uint8Array>>): string[] {
  const problems: string[] = [];
  let total = 0;
  for (const [k, v] of Object.entries(annotations)) {
    if (!validAnnotationNames.has(k)) {
      const p = annotationKeyProblem(k);
      if (p !== undefined) problems.push(p);
      else validAnnotationNames.set(k, true);
    }
    total += Buffer.byteLength(k, "utf8") + v.length;
  }
  if (total > ANNOTATIONS_MAX_BYTES) {
    problems.push(
      `total size of annotations is ${total}, which exceeds the max size of ${ANNOTATIONS_MAX_BYTES}`,
    );
  }
  return problems;
}

/** Every rule an EncryptedObject breaks, in kube's wording (empty when valid). */
export function encryptedObjectProblems(o: {
  encryptedData: Uint8Array;
  keyID: string;
  encryptedDEKSource: Uint8Array;
  annotations: Readonly<Record<string, Uint8Array>>;
  encryptedDEKSourceType: number;
}): string[] {
  if (o.encryptedDEKSourceType !== 0 && o.encryptedDEKSourceType !== 1) {
    return [`unknown encryptedDEKSourceType: ${o.encryptedDEKSourceType}`];
  }
  const problems: string[] = [];
  if (o.encryptedData.length === 0) problems.push("encrypted data is empty");
  const source = encryptedDekSourceProblem(o.encryptedDEKSource);
  if (source !== undefined) problems.push(`failed to validate encrypted DEK source: ${source}`);
  const keyId = keyIdProblem(o.keyID);
  if (keyId !== undefined) problems.push(`failed to validate key id: ${keyId}`);
  const annotations = annotationsProblems(o.annotations);
  if (annotations.length > 0) problems.push(`failed to validate annotations: ${annotations.join(", ")}`);
  return problems;
}

function joinProblems(problems: readonly string[]): string {
  return problems.length === 1 ? problems[0]! : `[${problems.join(", ")}]`;
}

/** Validates, then encodes (zero values omitted, as Go's proto3 encoder does). Throws "invalid-argument". */
export function encodeEncryptedObject(o: EncryptedObject): Buffer {
  const problems = encryptedObjectProblems(o);
  if (problems.length > 0)
    throw new AtrestError("invalid-argument", `invalid KMS v2 EncryptedObject: ${joinProblems(problems)}`);
  return encodeValidated(o);
}

/** Encodes an object whose header fields were validated before (the write path validates the DEK state once). */
export function encodeValidated(o: EncryptedObject): Buffer {
  const message: Record<string, unknown> = {
    encryptedData: o.encryptedData,
    keyID: o.keyID,
    encryptedDEKSource: o.encryptedDEKSource,
  };
  if (Object.keys(o.annotations).length > 0) message.annotations = o.annotations;
  if (o.encryptedDEKSourceType !== 0) message.encryptedDEKSourceType = o.encryptedDEKSourceType;
  const bytes = encryptedObjectType().encode(message).finish();
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

interface DecodedMessage {
  encryptedData?: Uint8Array;
  keyID?: string;
  encryptedDEKSource?: Uint8Array;
  annotations?: Record<string, Uint8Array>;
  encryptedDEKSourceType?: number;
}

const EMPTY = Buffer.alloc(0);

/** protobufjs gives Buffers in node, but an empty default may be a plain array. */
function toBuffer(b: Uint8Array | readonly number[] | undefined): Buffer {
  if (b === undefined || b.length === 0) return EMPTY;
  if (Buffer.isBuffer(b)) return b;
  return b instanceof Uint8Array ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.from(b);
}

/** Decodes and validates stored bytes. Throws "data-corrupt" for garbage or any broken rule. */
export function decodeEncryptedObject(bytes: Uint8Array): EncryptedObject {
  let m: DecodedMessage;
  try {
    m = encryptedObjectType().decode(bytes) as unknown as DecodedMessage;
  } catch (err) {
    throw new AtrestError(
      "data-corrupt",
      "KMS v2 EncryptedObject does not parse as protobuf (truncated or corrupted data)",
      { cause: err },
    );
  }
  // Own entries only: `annotations[k] = v` with k `__proto__` replaced the prototype, so that key
  // slipped past the annotation-name check and was lost (found by the fuzzing campaign).
  const annotations: Record<string, Buffer> = Object.fromEntries(
    Object.entries(m.annotations ?? {}).map(([k, v]) => [k, toBuffer(v)]),
  );
  const o = {
    encryptedData: toBuffer(m.encryptedData),
    keyID: m.keyID ?? "",
    encryptedDEKSource: toBuffer(m.encryptedDEKSource),
    annotations,
    encryptedDEKSourceType: (m.encryptedDEKSourceType ?? 0) as DekSourceType,
  };
  const problems = encryptedObjectProblems(o);
  if (problems.length > 0)
    throw new AtrestError("data-corrupt", `invalid KMS v2 EncryptedObject: ${joinProblems(problems)}`);
  return o;
}
