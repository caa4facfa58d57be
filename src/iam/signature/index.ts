export { percentEncode } from "./percent-encode.js";
export { constantTimeEqual } from "./constant-time.js";
export { canonicalQueryV1, stringToSignV1, computeSignatureV1 } from "./v1.js";
export {
  SIGNATURE_ALGORITHM_V3,
  REQUIRED_SIGNED_HEADERS_V3,
  parseAuthorizationV3,
  canonicalQueryV3,
  canonicalRequestV3,
  stringToSignV3,
  computeSignatureV3,
  signRequestV3,
  sha256Hex,
  acsTimestamp,
  type AuthorizationV3,
  type QueryV3,
  type CanonicalRequestV3Input,
  type ComputeSignatureV3Input,
  type SignRequestV3Input,
} from "./v3.js";
export {
  SIGNATURE_SCHEME_ROA,
  parseAuthorizationRoa,
  canonicalizedHeadersRoa,
  canonicalizedResourceRoa,
  stringToSignRoa,
  computeSignatureRoa,
  contentMd5,
  HTTP_DATE,
  type AuthorizationRoa,
  type StringToSignRoaInput,
} from "./roa.js";
