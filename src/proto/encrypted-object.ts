import protobuf from "protobufjs";
import { protoPath } from "./proto-files.js";
import type { V2EncryptedObject, V2EncryptedObjectOutput } from "../generated/kms-wire.js";

let cachedType: protobuf.Type | undefined;

/**
 * The protobufjs type of `v2.EncryptedObject` (proto/kms-v2-encrypted-object.proto), field names as
 * in the proto (`keyID`, `encryptedDEKSource`, …). Prefer encodeEncryptedObjectWire /
 * decodeEncryptedObjectWire below: protobufjs writes explicitly set zero values, Go does not.
 */
export function encryptedObjectType(): protobuf.Type {
  if (cachedType === undefined) {
    const root = new protobuf.Root();
    root.loadSync(protoPath("encryptedObject"), { keepCase: true });
    root.resolveAll();
    cachedType = root.lookupType("v2.EncryptedObject");
  }
  return cachedType;
}

/** True for proto3 zero values: "", empty bytes, 0, false, the enum's first value, empty map/list. */
function isProto3Zero(field: protobuf.Field, value: unknown): boolean {
  if (value === undefined || value === null) return true;
  if (field.map) return Object.keys(value).length === 0;
  if (field.repeated) return (value as unknown[]).length === 0;
  if (field.resolvedType instanceof protobuf.Enum) {
    return value === 0 || (typeof value === "string" && field.resolvedType.values[value] === 0);
  }
  if (typeof value === "string") return value.length === 0;
  if (value instanceof Uint8Array) return value.length === 0;
  return value === 0 || value === false;
}

/** Drops zero-valued fields so protobufjs encodes a message byte-for-byte as Go's proto3 encoder does. */
export function withoutProto3Defaults(
  type: protobuf.Type,
  message: Readonly<Record<string, unknown>>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const value = message[field.name];
    if (!isProto3Zero(field, value)) out[field.name] = value;
  }
  return out;
}

/**
 * Encodes an EncryptedObject as kube-apiserver (Go proto3) does: fields in number order, zero values
 * omitted. No validation here: the envelope's codec checks kube's limits.
 */
export function encodeEncryptedObjectWire(message: V2EncryptedObject): Buffer {
  const type = encryptedObjectType();
  const plain = withoutProto3Defaults(type, message as Readonly<Record<string, unknown>>);
  return Buffer.from(type.encode(type.fromObject(plain)).finish());
}

/**
 * Decodes EncryptedObject bytes with every field present (defaults filled in), bytes as Buffer, the
 * enum as its name (an unknown enum number stays a number — check it). Throws protobufjs' error on
 * malformed input; wrap it.
 */
export function decodeEncryptedObjectWire(bytes: Uint8Array): V2EncryptedObjectOutput {
  const type = encryptedObjectType();
  const buffer = Buffer.isBuffer(bytes)
    ? bytes
    : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  return type.toObject(type.decode(buffer), { defaults: true, enums: String }) as V2EncryptedObjectOutput;
}
