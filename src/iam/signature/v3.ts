import { createHash, createHmac, randomUUID } from "node:crypto";
import { AtrestError } from "../../common/errors.js";
import { percentEncode } from "./percent-encode.js";

/**
 * Alibaba Cloud signature V3, `ACS3-HMAC-SHA256` (the default of `@alicloud/openapi-client`; DESIGN.md §7),
 * computed exactly as `@alicloud/openapi-util`'s `getAuthorization` does (a test compares both):
 *
 *   canonicalRequest = METHOD \n canonicalURI \n canonicalQuery \n canonicalHeaders \n signedHeaders \n bodySha256Hex
 *     where canonicalHeaders is `name:trimmed-value\n` per signed header (so a blank line follows it)
 *   stringToSign     = "ACS3-HMAC-SHA256\n" + hex(SHA-256(canonicalRequest))
 *   signature        = hex(HMAC-SHA256(AccessKeySecret, stringToSign))
 *   Authorization: ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<h1;h2>,Signature=<hex>
 */
export const SIGNATURE_ALGORITHM_V3 = "ACS3-HMAC-SHA256";

/** Headers a V3 request must sign for the server to trust its action, time, nonce and body. */
export const REQUIRED_SIGNED_HEADERS_V3: readonly string[] = Object.freeze([
  "host",
  "x-acs-action",
  "x-acs-content-sha256",
  "x-acs-date",
  "x-acs-signature-nonce",
  "x-acs-version",
]);

export interface AuthorizationV3 {
  readonly accessKeyId: string;
  /** Lower-case header names in the order the client listed them. */
  readonly signedHeaders: readonly string[];
  /** Lower-case hex. */
  readonly signature: string;
}

export type QueryV3 = Readonly<Record<string, string | readonly string[]>>;

export interface CanonicalRequestV3Input {
  readonly method: string;
  /** The request path as it appears on the wire (already percent-encoded); `/` for RPC. */
  readonly pathname: string;
  /** Decoded query parameters (repeated names as arrays). */
  readonly query: QueryV3;
  /** Request headers by lower-case name. */
  readonly headers: Readonly<Record<string, string>>;
  readonly signedHeaders: readonly string[];
  /** hex(SHA-256(body)), i.e. the value of x-acs-content-sha256. */
  readonly bodySha256Hex: string;
}

export interface ComputeSignatureV3Input extends CanonicalRequestV3Input {
  readonly accessKeySecret: string;
}

const HEADER_NAME = /^[a-z0-9!#$%&'*+.^_`|~-]+$/;
const ACCESS_KEY_ID = /^[\x21-\x7e]{1,128}$/;
const HEX_SIGNATURE = /^[0-9a-fA-F]{64}$/;

function malformed(rule: string): AtrestError {
  // Never echo the header itself: it carries the signature and access key id of someone else's request.
  return new AtrestError(
    "invalid-argument",
    `Authorization header is not a valid ${SIGNATURE_ALGORITHM_V3} header: ${rule}`,
    {
      details: { rule },
    },
  );
}

/**
 * Parses `ACS3-HMAC-SHA256 Credential=<AK>,SignedHeaders=<h1;h2>,Signature=<hex>` (spaces after the
 * commas tolerated). Throws AtrestError "invalid-argument" naming the broken rule.
 */
export function parseAuthorizationV3(header: string): AuthorizationV3 {
  const trimmed = header.trim();
  const space = trimmed.indexOf(" ");
  if (space < 0) throw malformed("expected '<algorithm> Credential=…,SignedHeaders=…,Signature=…'");
  const algorithm = trimmed.slice(0, space);
  if (algorithm !== SIGNATURE_ALGORITHM_V3) throw malformed(`algorithm must be ${SIGNATURE_ALGORITHM_V3}`);
  const fields = new Map<string, string>();
  for (const part of trimmed.slice(space + 1).split(",")) {
    const eq = part.indexOf("=");
    if (eq < 0) throw malformed("every field must be name=value");
    const name = part.slice(0, eq).trim();
    if (fields.has(name)) throw malformed(`field ${name} appears twice`);
    fields.set(name, part.slice(eq + 1).trim());
  }
  for (const name of fields.keys()) {
    if (name !== "Credential" && name !== "SignedHeaders" && name !== "Signature")
      throw malformed(`unknown field ${name}`);
  }
  const accessKeyId = fields.get("Credential");
  const signed = fields.get("SignedHeaders");
  const signature = fields.get("Signature");
  if (accessKeyId === undefined || !ACCESS_KEY_ID.test(accessKeyId))
    throw malformed("Credential must be an access key id");
  if (signed === undefined || signed === "") throw malformed("SignedHeaders must list the signed headers");
  if (signature === undefined || !HEX_SIGNATURE.test(signature))
    throw malformed("Signature must be 64 hex digits");
  const signedHeaders = signed.split(";").map((h) => h.trim().toLowerCase());
  for (const h of signedHeaders) {
    if (!HEADER_NAME.test(h)) throw malformed("SignedHeaders must be header names separated by ';'");
  }
  if (new Set(signedHeaders).size !== signedHeaders.length)
    throw malformed("SignedHeaders lists a header twice");
  return Object.freeze({
    accessKeyId,
    signedHeaders: Object.freeze(signedHeaders),
    signature: signature.toLowerCase(),
  });
}

/** `/` stays; the SDK maps `+`→%20, `*`→%2A and %7E→`~` in the (already encoded) path. */
function canonicalUriV3(pathname: string): string {
  const p = pathname === "" ? "/" : pathname;
  return p.replace(/\+/g, "%20").replace(/\*/g, "%2A").replace(/%7E/gi, "~");
}

/** Sorted by name; `enc(name)=enc(value)`; repeated names sorted by value; an empty value gives `name=`. */
export function canonicalQueryV3(query: QueryV3): string {
  const pairs: [string, string][] = [];
  for (const name of Object.keys(query).sort()) {
    const raw = query[name];
    const values = raw === undefined ? [] : typeof raw === "string" ? [raw] : [...raw].sort();
    for (const v of values) pairs.push([percentEncode(name), percentEncode(v)]);
  }
  return pairs.map(([k, v]) => `${k}=${v}`).join("&");
}

function sortedSignedHeaders(signedHeaders: readonly string[]): string[] {
  return [...new Set(signedHeaders.map((h) => h.toLowerCase()))].sort();
}

export function canonicalRequestV3(input: CanonicalRequestV3Input): string {
  const names = sortedSignedHeaders(input.signedHeaders);
  const canonicalHeaders = names.map((h) => `${h}:${(input.headers[h] ?? "").trim()}\n`).join("");
  return [
    input.method.toUpperCase(),
    canonicalUriV3(input.pathname),
    canonicalQueryV3(input.query),
    canonicalHeaders,
    names.join(";"),
    input.bodySha256Hex.toLowerCase(),
  ].join("\n");
}

export function stringToSignV3(canonicalRequest: string): string {
  return `${SIGNATURE_ALGORITHM_V3}\n${createHash("sha256").update(canonicalRequest, "utf8").digest("hex")}`;
}

/** Lower-case hex HMAC-SHA256 signature of a V3 request. */
export function computeSignatureV3(input: ComputeSignatureV3Input): string {
  return createHmac("sha256", input.accessKeySecret)
    .update(stringToSignV3(canonicalRequestV3(input)), "utf8")
    .digest("hex");
}

export function sha256Hex(body: Buffer | string): string {
  return createHash("sha256").update(body).digest("hex");
}

/** ISO 8601 UTC without milliseconds, as the SDKs send `x-acs-date` and `Timestamp`. */
export function acsTimestamp(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, "Z");
}

export interface SignRequestV3Input {
  readonly method: string;
  /** `host[:port]` exactly as the Host header will carry it (the port is signed). */
  readonly host: string;
  readonly pathname?: string;
  readonly query?: QueryV3;
  readonly action: string;
  readonly version: string;
  readonly body?: Buffer | string;
  readonly contentType?: string;
  readonly accessKeyId: string;
  readonly accessKeySecret: string;
  readonly securityToken?: string;
  /** Injected for tests; defaults to now and a random UUID. */
  readonly date?: Date;
  readonly nonce?: string;
}

/**
 * Builds the headers of a V3-signed request (for our own clients and tests): host, x-acs-action,
 * x-acs-version, x-acs-date, x-acs-signature-nonce, x-acs-content-sha256, content-type (when given),
 * x-acs-security-token (when given) and Authorization. Every x-acs-*, host and content-type header is
 * signed, as the SDK does.
 */
export function signRequestV3(input: SignRequestV3Input): Record<string, string> {
  const body = input.body ?? "";
  const headers: Record<string, string> = {
    host: input.host,
    "x-acs-action": input.action,
    "x-acs-version": input.version,
    "x-acs-date": acsTimestamp(input.date ?? new Date()),
    "x-acs-signature-nonce": input.nonce ?? randomUUID(),
    "x-acs-content-sha256": sha256Hex(body),
  };
  if (input.contentType !== undefined) headers["content-type"] = input.contentType;
  if (input.securityToken !== undefined) headers["x-acs-security-token"] = input.securityToken;
  const signedHeaders = Object.keys(headers).sort();
  const signature = computeSignatureV3({
    method: input.method,
    pathname: input.pathname ?? "/",
    query: input.query ?? {},
    headers,
    signedHeaders,
    bodySha256Hex: headers["x-acs-content-sha256"] ?? sha256Hex(body),
    accessKeySecret: input.accessKeySecret,
  });
  headers["authorization"] =
    `${SIGNATURE_ALGORITHM_V3} Credential=${input.accessKeyId},SignedHeaders=${signedHeaders.join(";")},Signature=${signature}`;
  return headers;
}
