import { createHmac } from "node:crypto";
import { percentEncode } from "./percent-encode.js";

export { percentEncode } from "./percent-encode.js";

/**
 * Alibaba Cloud RPC signature V1 (HMAC-SHA1), as `@alicloud/pop-core` and `@alicloud/openapi-util`
 * (`getRPCSignature`) compute it — see DESIGN.md §7 and the test that signs with both SDKs:
 *   canonical    = sorted(params without Signature).map(enc(k) + "=" + enc(v)).join("&")
 *   stringToSign = METHOD + "&" + enc("/") + "&" + enc(canonical)
 *   signature    = base64(HMAC-SHA1(key = AccessKeySecret + "&", stringToSign))
 */

/** Sorted (by name, code-unit order as the SDKs' `Object.keys().sort()`), encoded `k=v` joined by `&`. */
export function canonicalQueryV1(params: Readonly<Record<string, string>>): string {
  return Object.keys(params)
    .filter((k) => k !== "Signature")
    .sort()
    .map((k) => `${percentEncode(k)}=${percentEncode(params[k] ?? "")}`)
    .join("&");
}

export function stringToSignV1(method: string, params: Readonly<Record<string, string>>): string {
  return `${method.toUpperCase()}&${percentEncode("/")}&${percentEncode(canonicalQueryV1(params))}`;
}

/** Base64 HMAC-SHA1 signature of a V1 request; `params` may include `Signature`, which is skipped. */
export function computeSignatureV1(
  method: string,
  params: Readonly<Record<string, string>>,
  accessKeySecret: string,
): string {
  return createHmac("sha1", `${accessKeySecret}&`)
    .update(stringToSignV1(method, params), "utf8")
    .digest("base64");
}
