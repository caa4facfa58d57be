import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import protobuf from "protobufjs";
import { AtrestError } from "../common/errors.js";
import { SCHEMAS, type FieldSchema } from "./schemas.js";

/**
 * `/openapi/v2` (Swagger 2.0) for the served types. kubectl asks for it in gnostic's protobuf form
 * (`application/com.github.proto-openapi.spec.v2@v1.0+protobuf`) when it validates on the client side,
 * which it does for a `kind: List` (`kubectl get secrets -A -o json | kubectl replace -f -`).
 */

export const OPENAPI_V2_PROTOBUF = "application/com.github.proto-openapi.spec.v2@v1.0+protobuf";
/** What kube-openapi answers with: the "@" is not valid in a Content-Type, so a "." replaces it. */
export const OPENAPI_V2_PROTOBUF_RESPONSE = "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

type V2Schema = Record<string, unknown>;

function fieldToV2(f: FieldSchema): V2Schema {
  const out: V2Schema = {};
  if (f.d !== undefined) out.description = f.d;
  if ("t" in f) {
    if (f.t === "byte") return { ...out, type: "string", format: "byte" };
    if (f.t === "date-time") return { ...out, type: "string", format: "date-time" };
    if (f.t === "integer") return { ...out, type: "integer", format: "int64" };
    return { ...out, type: f.t };
  }
  if ("map" in f)
    return {
      ...out,
      type: "object",
      additionalProperties: f.map === "byte" ? { type: "string", format: "byte" } : { type: "string" },
    };
  if ("list" in f) {
    const list: V2Schema = { ...out, type: "array", items: fieldToV2(f.list) };
    if (f.mergeKey !== undefined) list["x-kubernetes-patch-merge-key"] = f.mergeKey;
    if (f.strategy !== undefined) list["x-kubernetes-patch-strategy"] = f.strategy;
    return list;
  }
  if ("ref" in f) return { ...out, $ref: `#/definitions/${f.ref}` };
  return { ...out, type: "object" };
}

export function openApiV2Json(gitVersion: string): Record<string, unknown> {
  const definitions: Record<string, V2Schema> = {};
  for (const [name, schema] of Object.entries(SCHEMAS)) {
    if (name.endsWith(".Time")) {
      definitions[name] = { description: schema.description, type: "string", format: "date-time" };
      continue;
    }
    if (name.endsWith(".FieldsV1")) {
      definitions[name] = { description: schema.description, type: "object" };
      continue;
    }
    const properties: Record<string, V2Schema> = {};
    for (const [k, f] of Object.entries(schema.properties)) properties[k] = fieldToV2(f);
    const def: V2Schema = { description: schema.description, type: "object", properties };
    if (schema.required !== undefined) def.required = [...schema.required];
    if (schema.gvk !== undefined) def["x-kubernetes-group-version-kind"] = [schema.gvk];
    definitions[name] = def;
  }
  return { swagger: "2.0", info: { title: "Kubernetes", version: gitVersion }, paths: {}, definitions };
}

function protoDir(): string {
  for (const rel of ["../../proto/k8s/", "../../../proto/k8s/"]) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(dir)) return dir;
  }
  throw new AtrestError("internal", "proto/k8s not found next to the sources");
}

/** Converts one JSON schema into gnostic's message shape. */
function schemaToGnostic(s: V2Schema): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const ext: Array<Record<string, unknown>> = [];
  for (const [k, v] of Object.entries(s)) {
    switch (k) {
      case "$ref":
        out._ref = v;
        break;
      case "type":
        out.type = { value: [v] };
        break;
      case "format":
      case "description":
        out[k] = v;
        break;
      case "required":
        out.required = v;
        break;
      case "properties":
        out.properties = {
          additional_properties: Object.entries(v as Record<string, V2Schema>).map(([name, value]) => ({
            name,
            value: schemaToGnostic(value),
          })),
        };
        break;
      case "additionalProperties":
        out.additional_properties = { schema: schemaToGnostic(v as V2Schema) };
        break;
      case "items":
        out.items = { schema: [schemaToGnostic(v as V2Schema)] };
        break;
      default:
        if (k.startsWith("x-")) ext.push({ name: k, value: { yaml: yamlOf(v) } });
    }
  }
  if (ext.length > 0) out.vendor_extension = ext;
  return out;
}

/** The YAML gnostic keeps for a vendor extension value (JSON is valid YAML). */
function yamlOf(v: unknown): string {
  return JSON.stringify(v) + "\n";
}

export function openApiV2Protobuf(doc: Record<string, unknown>): Buffer {
  const root = new protobuf.Root();
  const dir = protoDir();
  root.resolvePath = (_origin, target) => dir + target.replace(/^.*\//, "");
  root.loadSync("openapi-v2.proto", { keepCase: true });
  const Document = root.lookupType("openapi.v2.Document");
  const definitions = Object.entries(doc.definitions as Record<string, V2Schema>).map(([name, value]) => ({
    name,
    value: schemaToGnostic(value),
  }));
  const info = doc.info as Record<string, unknown>;
  const message = Document.fromObject({
    swagger: "2.0",
    info,
    paths: {},
    definitions: { additional_properties: definitions },
  });
  return Buffer.from(Document.encode(message).finish());
}
