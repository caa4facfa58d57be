import { z } from "zod";
import { iamError } from "../iam-error.js";
import type { SecretSealer } from "../sealer.js";

/**
 * The SecurityToken of an STS session: everything a verifier needs, sealed, so that issuing a session
 * writes nothing and every service that holds the sealer can verify one without a lookup.
 *
 *   token = base64url( 0x01 ‖ sealer.seal(JSON(payload), AAD = "atrest-iam/sts-token/v1\0" ‖ AccessKeyId) )
 *
 * The AAD binds the token to its STS access key id: a token presented with another key id, or altered
 * in any byte, fails to open (InvalidSecurityToken.*). The format byte says how it was made; a new
 * format gets a new byte and old ones stay readable until they expire.
 */
const FORMAT_V1 = 0x01;
// Never change: every outstanding token was sealed with it.
const TOKEN_AAD_PREFIX = "atrest-iam/sts-token/v1\0";
/** Tokens far larger than any this issuer writes are refused before they are opened. */
const MAX_TOKEN_CHARS = 16_384;

const payloadSchema = z.strictObject({
  /** The STS access key secret. */
  sk: z.string().min(1),
  roleName: z.string().min(1),
  roleId: z.string().min(1),
  session: z.string().min(1),
  issuedAt: z.number().int(),
  expiresAt: z.number().int(),
  /** The session Policy's JSON text, as AssumeRole accepted it. */
  policy: z.string().optional(),
  /** The principal that called AssumeRole. */
  by: z.string(),
  sourceIdentity: z.string().optional(),
});

export type SessionTokenPayload = z.output<typeof payloadSchema>;

const aad = (accessKeyId: string) => Buffer.from(TOKEN_AAD_PREFIX + accessKeyId, "utf8");

export function sealSessionToken(
  sealer: SecretSealer,
  accessKeyId: string,
  payload: SessionTokenPayload,
): string {
  const sealed = sealer.seal(Buffer.from(JSON.stringify(payload), "utf8"), aad(accessKeyId));
  return Buffer.concat([Buffer.of(FORMAT_V1), sealed]).toString("base64url");
}

/** Opens a token for `accessKeyId`; refuses anything this issuer did not seal for that key id. */
export function openSessionToken(
  sealer: SecretSealer,
  accessKeyId: string,
  token: string,
): SessionTokenPayload {
  const malformed = () =>
    iamError("InvalidSecurityToken.Malformed", "The security token you provided is invalid.");
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+={0,2}$/.test(token))
    throw malformed();
  const bytes = Buffer.from(token, "base64url");
  if (bytes.length < 2 || bytes[0] !== FORMAT_V1) throw malformed();
  let json: Buffer;
  try {
    json = sealer.open(bytes.subarray(1), aad(accessKeyId));
  } catch {
    // Either altered, forged, or sealed for another access key id: the same answer for all three
    // (telling them apart would help a forger), worded as Alibaba's for a mismatched key.
    throw iamError(
      "InvalidSecurityToken.MismatchWithAccessKey",
      "The security token you provided does not match the access key id, or is not one STS issued.",
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(json.toString("utf8"));
  } catch {
    throw malformed();
  }
  const parsed = payloadSchema.safeParse(value);
  if (!parsed.success) throw malformed();
  return parsed.data;
}
