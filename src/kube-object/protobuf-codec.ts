import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import { AtrestError } from "../common/errors.js";
import { setOwn } from "../common/own-keys.js";
import { isPlainObject, rfc3339, type KubeObject } from "./types.js";

/**
 * Kubernetes' protobuf encoding (`application/vnd.kubernetes.protobuf`): the magic `k8s\0`, then a
 * runtime.Unknown {typeMeta, raw, contentEncoding, contentType} whose `raw` is the encoded object.
 * kube-apiserver stores objects this way in etcd and `kubectl create secret` sends it. Objects are
 * converted to and from their JSON form (metav1.Time ⇄ RFC 3339, bytes ⇄ base64, FieldsV1 ⇄ JSON).
 */

export const PROTOBUF_MAGIC: Buffer = Buffer.from([0x6b, 0x38, 0x73, 0x00]);
export const PROTOBUF_MEDIA_TYPE = "application/vnd.kubernetes.protobuf";

function protoDir(): string {
  for (const rel of ["../../proto/k8s/", "../../../proto/k8s/"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new AtrestError("internal", "proto/k8s not found next to the sources");
}

const root = (() => {
  const dir = protoDir();
  const r = new protobuf.Root();
  r.resolvePath = (_origin, target) => (target.startsWith("/") ? target : dir + target.replace(/^.*\//, ""));
  r.loadSync(
    [
      "core-v1.proto",
      "meta-v1.proto",
      "runtime.proto",
      "rbac-v1.proto",
      "authorization-v1.proto",
      "authentication-v1.proto",
    ],
    { keepCase: true },
  );
  r.resolveAll();
  return r;
})();

const Unknown = root.lookupType("k8s.io.apimachinery.pkg.runtime.Unknown");
const META = "k8s.io.apimachinery.pkg.apis.meta.v1.";

/** The protobuf package of each API group version served, and the kinds it has messages for. */
const PACKAGES: ReadonlyArray<{ apiVersion: string; pkg: string; kinds: readonly string[] }> = [
  {
    apiVersion: "v1",
    pkg: "k8s.io.api.core.v1.",
    kinds: ["Secret", "ConfigMap", "ServiceAccount", "Namespace"].flatMap((k) => [k, `${k}List`]),
  },
  {
    apiVersion: "rbac.authorization.k8s.io/v1",
    pkg: "k8s.io.api.rbac.v1.",
    kinds: ["Role", "ClusterRole", "RoleBinding", "ClusterRoleBinding"].flatMap((k) => [k, `${k}List`]),
  },
  {
    apiVersion: "authorization.k8s.io/v1",
    pkg: "k8s.io.api.authorization.v1.",
    kinds: [
      "SelfSubjectAccessReview",
      "SelfSubjectRulesReview",
      "SubjectAccessReview",
      "LocalSubjectAccessReview",
    ],
  },
  {
    apiVersion: "authentication.k8s.io/v1",
    pkg: "k8s.io.api.authentication.v1.",
    kinds: ["SelfSubjectReview"],
  },
];

/** `<apiVersion>/<kind>` → protobuf message type; meta/v1 Status is answered in every group version. */
const TYPES = new Map<string, protobuf.Type>();
for (const { apiVersion, pkg, kinds } of PACKAGES)
  for (const kind of kinds) TYPES.set(`${apiVersion}/${kind}`, root.lookupType(pkg + kind));
const STATUS = root.lookupType(META + "Status");

function typeOf(apiVersion: unknown, kind: unknown): protobuf.Type | undefined {
  if (typeof kind !== "string") return undefined;
  if (kind === "Status" && (apiVersion === "v1" || apiVersion === "meta.k8s.io/v1")) return STATUS;
  return typeof apiVersion === "string" ? TYPES.get(`${apiVersion}/${kind}`) : undefined;
}

const TIME = META + "Time";
const FIELDS_V1 = META + "FieldsV1";

export function canEncodeProtobuf(apiVersion: unknown, kind: unknown): boolean {
  return typeOf(apiVersion, kind) !== undefined;
}

export function hasProtobufMagic(bytes: Uint8Array): boolean {
  return (
    bytes.length >= 4 && bytes[0] === 0x6b && bytes[1] === 0x38 && bytes[2] === 0x73 && bytes[3] === 0x00
  );
}

function toNumber(v: unknown): number {
  if (typeof v === "number") return v;
  if (typeof v === "object" && v !== null && "toString" in v)
    return Number((v as { toString(): string }).toString());
  return Number(v);
}

function scalarToJson(type: string, v: unknown): unknown {
  if (type === "bytes") return Buffer.from(v as Uint8Array).toString("base64");
  if (type === "int64" || type === "uint64" || type === "sint64" || type === "fixed64" || type === "sfixed64")
    return toNumber(v);
  return v;
}

function timeToJson(msg: Record<string, unknown>): string {
  const seconds = toNumber(msg.seconds ?? 0);
  return rfc3339(seconds * 1000);
}

function messageToJson(type: protobuf.Type, msg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const v = msg[field.name];
    if (v === undefined || v === null) continue;
    const resolved = field.resolvedType;
    if (field.map) {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 0) continue;
      const m: Record<string, unknown> = {};
      for (const [k, mv] of entries) setOwn(m, k, scalarToJson(field.type, mv));
      out[field.name] = m;
    } else if (field.repeated) {
      const arr = v as unknown[];
      if (arr.length === 0) continue;
      out[field.name] = arr.map((item) =>
        resolved instanceof protobuf.Type
          ? convertMessage(resolved, item as Record<string, unknown>)
          : scalarToJson(field.type, item),
      );
    } else {
      if (!Object.prototype.hasOwnProperty.call(msg, field.name)) continue;
      if (resolved instanceof protobuf.Type) {
        out[field.name] = convertMessage(resolved, v as Record<string, unknown>);
      } else {
        const j = scalarToJson(field.type, v);
        // Go's JSON encoding omits empty strings and zero numbers (omitempty); bools are pointers and stay.
        if (j === "" || j === 0) continue;
        out[field.name] = j;
      }
    }
  }
  return out;
}

function convertMessage(type: protobuf.Type, msg: Record<string, unknown>): unknown {
  if (type.fullName === "." + TIME) return timeToJson(msg);
  if (type.fullName === "." + FIELDS_V1) {
    const raw = msg.Raw as Uint8Array | undefined;
    if (raw === undefined || raw.length === 0) return {};
    try {
      return JSON.parse(Buffer.from(raw).toString("utf8")) as unknown;
    } catch {
      return {};
    }
  }
  return messageToJson(type, msg);
}

/** Decodes `k8s\0` + Unknown into the object's JSON form (with apiVersion and kind). */
export function decodeProtobufObject(bytes: Uint8Array): KubeObject {
  if (!hasProtobufMagic(bytes))
    throw new AtrestError("invalid-argument", "protobuf body does not start with the k8s magic");
  let unknown: Record<string, unknown>;
  try {
    unknown = Unknown.decode(bytes.subarray(4)) as unknown as Record<string, unknown>;
  } catch (err) {
    throw new AtrestError("invalid-argument", `malformed protobuf envelope: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const typeMeta = (unknown.typeMeta ?? {}) as { apiVersion?: string; kind?: string };
  const kind = typeMeta.kind ?? "";
  const apiVersion = typeMeta.apiVersion ?? "";
  const type = typeOf(apiVersion, kind);
  if (type === undefined) {
    throw new AtrestError(
      "invalid-argument",
      `no kind "${kind}" is registered for version "${apiVersion}" in protobuf`,
    );
  }
  if (typeof unknown.contentEncoding === "string" && unknown.contentEncoding !== "") {
    throw new AtrestError(
      "invalid-argument",
      `unsupported protobuf content encoding "${unknown.contentEncoding}"`,
    );
  }
  let msg: Record<string, unknown>;
  try {
    msg = type.decode((unknown.raw as Uint8Array | undefined) ?? new Uint8Array()) as unknown as Record<
      string,
      unknown
    >;
  } catch (err) {
    throw new AtrestError("invalid-argument", `malformed protobuf ${kind}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  return { apiVersion, kind, ...messageToJson(type, msg) };
}

// ---- JSON → protobuf ----

function scalarFromJson(type: string, v: unknown, path: string): unknown {
  if (type === "bytes") {
    if (typeof v !== "string") throw new AtrestError("invalid-argument", `${path}: expected a base64 string`);
    return Buffer.from(v, "base64");
  }
  return v;
}

function timeFromJson(v: unknown): Record<string, unknown> {
  const ms = typeof v === "string" ? Date.parse(v) : NaN;
  return Number.isFinite(ms) ? { seconds: Math.floor(ms / 1000), nanos: 0 } : {};
}

function messageFromJson(type: protobuf.Type, json: unknown, path: string): Record<string, unknown> {
  if (type.fullName === "." + TIME) return timeFromJson(json);
  if (type.fullName === "." + FIELDS_V1) return { Raw: Buffer.from(JSON.stringify(json ?? {}), "utf8") };
  if (!isPlainObject(json)) return {};
  const out: Record<string, unknown> = {};
  for (const field of type.fieldsArray) {
    const v = json[field.name];
    if (v === undefined || v === null) continue;
    const resolved = field.resolvedType;
    const p = `${path}.${field.name}`;
    if (field.map) {
      if (!isPlainObject(v)) continue;
      const m: Record<string, unknown> = {};
      for (const [k, mv] of Object.entries(v)) setOwn(m, k, scalarFromJson(field.type, mv, `${p}[${k}]`));
      out[field.name] = m;
    } else if (field.repeated) {
      if (!Array.isArray(v)) continue;
      out[field.name] = v.map((item, i) =>
        resolved instanceof protobuf.Type
          ? messageFromJson(resolved, item, `${p}[${i}]`)
          : scalarFromJson(field.type, item, `${p}[${i}]`),
      );
    } else if (resolved instanceof protobuf.Type) {
      out[field.name] = messageFromJson(resolved, v, p);
    } else {
      out[field.name] = scalarFromJson(field.type, v, p);
    }
  }
  return out;
}

/** Encodes an object (JSON form; its `kind` picks the message) as `k8s\0` + Unknown. */
export function encodeProtobufObject(obj: KubeObject): Buffer {
  const kind = typeof obj.kind === "string" ? obj.kind : "";
  const apiVersion = typeof obj.apiVersion === "string" ? obj.apiVersion : "v1";
  const type = typeOf(apiVersion, kind);
  if (type === undefined)
    throw new AtrestError("invalid-argument", `kind "${kind}" in "${apiVersion}" has no protobuf encoding`);
  const raw = type.encode(messageFromJson(type, obj, "")).finish();
  const envelope = Unknown.encode({
    typeMeta: { apiVersion, kind },
    raw,
    contentEncoding: "",
    contentType: "",
  }).finish();
  return Buffer.concat([PROTOBUF_MAGIC, envelope]);
}
