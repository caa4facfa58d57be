import { kmsError } from "./kms-error.js";

/**
 * The body of a KMS answer in the format the request asked for (`Format`, JSON by default), as Alibaba
 * Cloud's RPC gateway writes it. JSON: the object as it is. XML: a declaration, then a root element —
 * `<Action>Response` for a result, `Error` for an error — with one element per field, objects nested
 * and a list as its item element repeated (`{"Keys":{"Key":[a,b]}}` → `<Keys><Key>a</Key><Key>b</Key></Keys>`).
 * Content types are the gateway's (`text/xml;charset=utf-8` is the exact value the official
 * @alicloud/openapi-client tests for before it reads an error as XML).
 *
 * The XML writer is hand-written (no XML library in the project): the shape is a wire format, and
 * writing these few elements exactly is less code than configuring a general serializer to do it.
 */
export type ResponseFormat = "JSON" | "XML";

const CONTENT_TYPES: Record<ResponseFormat, string> = {
  JSON: "application/json;charset=utf-8",
  XML: "text/xml;charset=utf-8",
};

/** The `Format` parameter (any case); absent means JSON. */
export function parseResponseFormat(value: string | undefined): ResponseFormat {
  if (value === undefined || value === "") return "JSON";
  const upper = value.toUpperCase();
  if (upper === "JSON" || upper === "XML") return upper;
  throw kmsError("InvalidParameter", "Format: must be JSON or XML");
}

/** The format to answer in when the parameters could not be read: the query's Format if valid, else JSON. */
export function fallbackResponseFormat(query: Readonly<Record<string, string | string[]>>): ResponseFormat {
  const raw = query.Format;
  const value = Array.isArray(raw) ? raw[0] : raw;
  try {
    return parseResponseFormat(value);
  } catch {
    return "JSON";
  }
}

export function renderResponseBody(
  format: ResponseFormat,
  root: string,
  body: Readonly<Record<string, unknown>>,
): { contentType: string; payload: string } {
  const payload =
    format === "JSON" ? JSON.stringify(body) : `<?xml version="1.0" encoding="UTF-8"?>${element(root, body)}`;
  return { contentType: CONTENT_TYPES[format], payload };
}

const XML_NAME = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
// Characters XML 1.0 cannot carry, even escaped: C0 controls but tab/newline/return, lone surrogates,
// U+FFFE/U+FFFF. They become U+FFFD (only user text such as a Description can hold them).
const NOT_XML =
  // eslint-disable-next-line no-control-regex -- control characters are what this finds
  /[\u0000-\u0008\u000b\u000c\u000e-\u001f\ufffe\uffff]|[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;

function text(value: string): string {
  return value.replace(NOT_XML, "\ufffd").replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
}

function element(name: string, value: unknown): string {
  if (!XML_NAME.test(name)) throw new Error(`not an XML element name: ${name}`);
  if (value === undefined || value === null) return "";
  if (Array.isArray(value)) return value.map((item) => element(name, item)).join("");
  if (typeof value === "object") {
    const inner = Object.entries(value as Record<string, unknown>)
      .map(([k, v]) => element(k, v))
      .join("");
    return `<${name}>${inner}</${name}>`;
  }
  const scalar = typeof value === "string" ? value : JSON.stringify(value); // numbers, booleans
  return `<${name}>${text(scalar)}</${name}>`;
}
