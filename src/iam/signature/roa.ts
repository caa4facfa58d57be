import { createHash, createHmac } from "node:crypto";
import { AtrestError } from "../../common/errors.js";

/**
 * The ROA signature of the older SDKs (Alibaba's "signature method V2 for ROA-style APIs"):
 * `Authorization: acs <AccessKeyId>:<signature>`, computed exactly as `@alicloud/pop-core`'s
 * ROAClient (lib/roa.js buildStringToSign) and `@alicloud/openapi-core`'s `getStringToSign` (its
 * `signatureAlgorithm: "v2"`) do — hand-written because the server must rebuild the client's string
 * byte for byte (a test compares it with pop-core's own):
 *
 *   stringToSign = METHOD \n Accept \n Content-MD5 \n Content-Type \n Date \n
 *                  CanonicalizedHeaders CanonicalizedResource
 *     CanonicalizedHeaders  = `name:value\n` per `x-acs-*` header, names lower case and sorted,
 *                             \t \n \r \f in a value turned into spaces, the value trimmed
 *     CanonicalizedResource = the path as sent, then `?k=v&…` over the query with its names sorted
 *                             and names and values *decoded* (an empty value gives `k=`)
 *   signature    = base64(HMAC-SHA1(AccessKeySecret, stringToSign))
 *
 * Every `x-acs-*` header is signed, so the nonce, version, security token (and action, when sent)
 * are; the body is signed only through Content-MD5 (pop-core always sends one; openapi-core's v2
 * does not), which the server checks against the body when present.
 */
export const SIGNATURE_SCHEME_ROA = "acs";

export interface AuthorizationRoa {
  readonly accessKeyId: string;
  /** base64, as sent. */
  readonly signature: string;
}

export interface StringToSignRoaInput {
  readonly method: string;
  /** The request path as it appears on the wire (no query). */
  readonly pathname: string;
  /** Decoded query parameters, one value each. */
  readonly query: Readonly<Record<string, string>>;
  /** Request headers by lower-case name. */
  readonly headers: Readonly<Record<string, string | undefined>>;
}

const ACCESS_KEY_ID = /^[\x21-\x39\x3b-\x7e]{1,128}$/;
const BASE64_SHA1 = /^[A-Za-z0-9+/]{27}=$/;

function malformed(rule: string): AtrestError {
  // Never echo the header: it carries someone else's access key id and signature.
  return new AtrestError("invalid-argument", `Authorization header is not a valid ROA header: ${rule}`, {
    details: { rule },
  });
}

/** Parses `acs <AccessKeyId>:<base64 signature>`; throws AtrestError "invalid-argument" naming the rule. */
export function parseAuthorizationRoa(header: string): AuthorizationRoa {
  const trimmed = header.trim();
  if (!trimmed.startsWith(`${SIGNATURE_SCHEME_ROA} `))
    throw malformed("expected 'acs <AccessKeyId>:<signature>'");
  const credential = trimmed.slice(SIGNATURE_SCHEME_ROA.length + 1).trim();
  const colon = credential.lastIndexOf(":");
  if (colon < 0) throw malformed("expected 'acs <AccessKeyId>:<signature>'");
  const accessKeyId = credential.slice(0, colon);
  const signature = credential.slice(colon + 1);
  if (!ACCESS_KEY_ID.test(accessKeyId)) throw malformed("the access key id is not one");
  if (!BASE64_SHA1.test(signature)) throw malformed("the signature must be a base64 HMAC-SHA1");
  return Object.freeze({ accessKeyId, signature });
}

/** The `x-acs-*` headers as the SDKs canonicalize them. */
export function canonicalizedHeadersRoa(headers: StringToSignRoaInput["headers"]): string {
  return Object.keys(headers)
    .filter((k) => k.startsWith("x-acs-") && headers[k] !== undefined)
    .sort()
    .map((k) => `${k}:${(headers[k] ?? "").replace(/[\t\n\r\f]/g, " ").trim()}\n`)
    .join("");
}

export function canonicalizedResourceRoa(pathname: string, query: StringToSignRoaInput["query"]): string {
  const keys = Object.keys(query).sort();
  if (keys.length === 0) return pathname;
  return `${pathname}?${keys.map((k) => `${k}=${query[k] ?? ""}`).join("&")}`;
}

export function stringToSignRoa(input: StringToSignRoaInput): string {
  const h = input.headers;
  return (
    `${input.method.toUpperCase()}\n${h["accept"] ?? ""}\n${h["content-md5"] ?? ""}\n` +
    `${h["content-type"] ?? ""}\n${h["date"] ?? ""}\n` +
    canonicalizedHeadersRoa(h) +
    canonicalizedResourceRoa(input.pathname, input.query)
  );
}

/** base64(HMAC-SHA1(secret, stringToSign)). */
export function computeSignatureRoa(
  input: StringToSignRoaInput & { readonly accessKeySecret: string },
): string {
  return createHmac("sha1", input.accessKeySecret).update(stringToSignRoa(input), "utf8").digest("base64");
}

/** base64(MD5(body)), the Content-MD5 the SDKs send. */
export function contentMd5(body: Buffer | string): string {
  return createHash("md5").update(body).digest("base64");
}

/** RFC 7231 IMF-fixdate (`Wed, 02 Dec 2026 14:12:16 GMT`), as the SDKs send `Date`. */
export const HTTP_DATE =
  /^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} \d{2}:\d{2}:\d{2} GMT$/;
