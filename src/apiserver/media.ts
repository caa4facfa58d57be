import type { AtrestError } from "../common/errors.js";
import { decodeJson } from "../common/json-decode.js";
import { getOwn, setOwn } from "../common/own-keys.js";
import { decodeYaml } from "../common/yaml-decode.js";
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
      obj = decodeJson(body);
    } catch (err) {
      throw cannot(`couldn't get version/kind; json parse error: ${(err as Error).message}`);
    }
  } else if (mt === "application/yaml") {
    try {
      obj = decodeYaml(body.toString("utf8"));
    } catch (err) {
      throw cannot(`yaml: ${(err as Error).message}`);
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
      obj = withoutPaths(obj, problems.unknownPaths);
    }
  }
  return { object: obj as KubeObject, warnings };
}

/**
 * The object without the members at `paths` (unknown fields, what Go's JSON decoding drops). Only the
 * containers on each path are copied, so the input (perhaps a cached stored object) is left as it is and
 * a deeply nested unknown member goes without being walked.
 */
function withoutPaths(obj: KubeObject, paths: ReadonlyArray<ReadonlyArray<string | number>>): KubeObject {
  const copied = new Set<object>();
  const own = <T extends object>(v: T): T => {
    if (copied.has(v)) return v;
    const c = (Array.isArray(v) ? [...v] : { ...v }) as T;
    copied.add(c);
    return c;
  };
  const root = own(obj);
  for (const path of paths) {
    let cur: Record<string, unknown> | unknown[] | undefined = root;
    for (let i = 0; i < path.length - 1 && cur !== undefined; i++) {
      const seg = path[i] as string | number;
      const child: unknown = Array.isArray(cur) ? cur[seg as number] : getOwn(cur, String(seg));
      if (typeof child !== "object" || child === null) {
        cur = undefined;
        break;
      }
      const c = own(child) as Record<string, unknown> | unknown[];
      if (Array.isArray(cur)) cur[seg as number] = c;
      else setOwn(cur, String(seg), c);
      cur = c;
    }
    const last = path[path.length - 1];
    if (last !== undefined && cur !== undefined && !Array.isArray(cur)) delete cur[String(last)];
  }
  return root;
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
  return { object: withoutPaths(obj, problems.unknownPaths), warnings: validation === "Warn" ? texts : [] };
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
