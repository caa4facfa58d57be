import YAML from "yaml";
import type { AtrestError } from "../common/errors.js";
import {
  canEncodeProtobuf,
  decodeProtobufObject,
  encodeProtobufObject,
  PROTOBUF_MEDIA_TYPE,
} from "../kube-object/protobuf-codec.js";
import { checkAgainstSchema, schemaNameForKind } from "./schemas.js";
import { badRequest, notAcceptable, unsupportedMediaType } from "./status.js";
import { isPlainObject, type KubeObject } from "../kube-object/types.js";

/** Content negotiation: request bodies (JSON, YAML, protobuf) and responses (JSON, protobuf, Table). */

export type FieldValidation = "Strict" | "Warn" | "Ignore";

export interface DecodedBody {
  readonly object: KubeObject;
  /** `unknown field "…"` texts for Warning headers (fieldValidation=Warn). */
  readonly warnings: string[];
}

const ACCEPTED_BODY_TYPES = "application/json, application/yaml, application/vnd.kubernetes.protobuf";

export function parseFieldValidation(value: string | null): FieldValidation {
  if (value === null || value === "") return "Warn";
  if (value === "Strict" || value === "Warn" || value === "Ignore") return value;
  throw badRequest(`fieldValidation must be one of "Ignore", "Warn", or "Strict", got "${value}"`);
}

function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? "").split(";")[0]?.trim().toLowerCase() ?? "";
}

/** Decodes a create/update body into the object; unknown fields per fieldValidation. */
export function decodeBody(
  contentType: string | undefined,
  body: Buffer,
  kind: string,
  validation: FieldValidation,
  /** The objects' apiVersion (`v1`, `<group>/<version>`): which schema and version the body is. */
  apiVersion = "v1",
): DecodedBody {
  const mt = mediaTypeOf(contentType);
  let obj: unknown;
  let fromProtobuf = false;
  const version = apiVersion.slice(apiVersion.indexOf("/") + 1);
  const cannot = (detail: string): AtrestError =>
    badRequest(`${kind} in version "${version}" cannot be handled as a ${kind}: ${detail}`);
  if (mt === "application/json" || mt === "") {
    try {
      obj = JSON.parse(body.toString("utf8"));
    } catch (err) {
      throw cannot(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
    }
  } else if (mt === "application/yaml") {
    try {
      obj = YAML.parse(body.toString("utf8"));
    } catch (err) {
      throw cannot(`yaml: ${(err as Error).message.split("\n")[0] ?? ""}`);
    }
  } else if (mt === PROTOBUF_MEDIA_TYPE) {
    try {
      obj = decodeProtobufObject(body);
      fromProtobuf = true;
    } catch (err) {
      throw cannot((err as Error).message);
    }
  } else {
    throw unsupportedMediaType(
      `the body of the request was in an unknown format - accepted media types include: ${ACCEPTED_BODY_TYPES}`,
    );
  }
  if (!isPlainObject(obj)) throw cannot("the body must be an object");
  const warnings: string[] = [];
  if (!fromProtobuf) {
    const problems = checkAgainstSchema(schemaNameForKind(kind, apiVersion), obj);
    if (problems.typeErrors.length > 0) throw cannot(problems.typeErrors[0] ?? "");
    if (problems.unknown.length > 0) {
      const texts = problems.unknown.map((p) => `unknown field "${p}"`);
      if (validation === "Strict") throw cannot(`strict decoding error: ${texts.join(", ")}`);
      if (validation === "Warn") warnings.push(...texts);
      obj = dropUnknown(schemaNameForKind(kind, apiVersion), obj);
    }
  }
  return { object: obj as KubeObject, warnings };
}

/** Removes unknown fields (what Go's JSON decoding does) by re-walking the problems' paths. */
function dropUnknown(schema: string, obj: KubeObject): KubeObject {
  const copy = structuredClone(obj);
  for (const path of checkAgainstSchema(schema, copy).unknown) {
    const parts = path.split(/\.(?![^[]*\])/);
    let cur: unknown = copy;
    for (let i = 0; i < parts.length - 1 && cur !== undefined; i++) {
      const m = /^(.*?)((?:\[\d+\])*)$/.exec(parts[i] ?? "");
      cur = isPlainObject(cur) ? cur[m?.[1] ?? ""] : undefined;
      for (const idx of (m?.[2] ?? "").match(/\d+/g) ?? [])
        cur = Array.isArray(cur) ? cur[Number(idx)] : undefined;
    }
    const last = parts[parts.length - 1] ?? "";
    if (isPlainObject(cur)) delete cur[last];
  }
  return copy;
}

/** Reads strict field checks on an already-decoded object (patch results). */
export function checkPatchedObject(
  kind: string,
  obj: KubeObject,
  validation: FieldValidation,
  apiVersion = "v1",
): { object: KubeObject; warnings: string[] } {
  const schema = schemaNameForKind(kind, apiVersion);
  const problems = checkAgainstSchema(schema, obj);
  const version = apiVersion.slice(apiVersion.indexOf("/") + 1);
  if (problems.typeErrors.length > 0)
    throw badRequest(
      `${kind} in version "${version}" cannot be handled as a ${kind}: ${problems.typeErrors[0] ?? ""}`,
    );
  if (problems.unknown.length === 0) return { object: obj, warnings: [] };
  const texts = problems.unknown.map((p) => `unknown field "${p}"`);
  if (validation === "Strict") throw badRequest(`strict decoding error: ${texts.join(", ")}`);
  return { object: dropUnknown(schema, obj), warnings: validation === "Warn" ? texts : [] };
}

export type ResponseFormat =
  { readonly kind: "json" } | { readonly kind: "protobuf" } | { readonly kind: "table" };

/** Picks the first acceptable media type from the Accept header, in the client's order. */
export function negotiate(
  accept: string | undefined,
  options: { tableAllowed: boolean; protobufAllowed: boolean },
): ResponseFormat {
  if (accept === undefined || accept.trim() === "") return { kind: "json" };
  for (const clause of accept.split(",")) {
    const [typePart, ...paramParts] = clause.split(";");
    const mt = (typePart ?? "").trim().toLowerCase();
    const params: Record<string, string> = {};
    for (const p of paramParts) {
      const [k, v] = p.split("=");
      if (k !== undefined && v !== undefined) params[k.trim()] = v.trim();
    }
    const as = params.as;
    if (as !== undefined) {
      if (
        as === "Table" &&
        params.g === "meta.k8s.io" &&
        params.v === "v1" &&
        options.tableAllowed &&
        (mt === "application/json" || mt === "*/*")
      )
        return { kind: "table" };
      continue; // other transformations (aggregated discovery, v1beta1 tables, partial metadata) are not served
    }
    if (mt === "application/json" || mt === "*/*" || mt === "application/*") return { kind: "json" };
    if (mt === PROTOBUF_MEDIA_TYPE && options.protobufAllowed) return { kind: "protobuf" };
  }
  throw notAcceptable(
    `only the following media types are accepted: application/json, ${PROTOBUF_MEDIA_TYPE}`,
  );
}

export interface EncodedResponse {
  readonly contentType: string;
  readonly body: Buffer;
}

/** The response body; `pretty` indents JSON as kube's `?pretty=true` does (json.MarshalIndent, two spaces). */
export function encodeResponse(obj: KubeObject, format: ResponseFormat, pretty = false): EncodedResponse {
  if (format.kind === "protobuf" && canEncodeProtobuf(obj.apiVersion, obj.kind)) {
    return { contentType: PROTOBUF_MEDIA_TYPE, body: encodeProtobufObject(obj) };
  }
  return {
    contentType: "application/json",
    body: Buffer.from(pretty ? JSON.stringify(obj, null, 2) : JSON.stringify(obj)),
  };
}
