import { z } from "zod";
import { iamError } from "../iam-error.js";
import type { SecretSealer } from "../sealer.js";

/**
 * The SecurityToken of an STS session: everything a verifier needs, sealed, so that every service that
 * holds the sealer can verify one without a lookup of its secret.
 *
 *   token = base64url( format ‖ sealer.seal(JSON(payload), AAD = "atrest-iam/sts-token/v<format>\0" ‖ AccessKeyId) )
 *
 * The AAD binds the token to its STS access key id: a token presented with another key id, or altered
 * in any byte, fails to open (InvalidSecurityToken.*). The format byte says what it is; each format has
 * its own AAD, so a token of one format can never be read as another, and old formats stay readable:
 *  - 0x01: an AssumeRole session (a role's credentials);
 *  - 0x02: a user's console session (src/iam/sts/user-session.ts): the user's own credentials after a
 *    password sign-in, recorded in `iam_user_sessions` so that signing out ends it everywhere.
 */
const FORMAT_V1 = 0x01;
const FORMAT_V2 = 0x02;
// Never change: every outstanding token was sealed with them.
const TOKEN_AAD_PREFIX: Readonly<Record<number, string>> = {
  [FORMAT_V1]: "atrest-iam/sts-token/v1\0",
  [FORMAT_V2]: "atrest-iam/sts-token/v2\0",
};
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

const userPayloadSchema = z.strictObject({
  /** The STS access key secret. */
  sk: z.string().min(1),
  userName: z.string().min(1),
  /** The user's UserId when signed in: a new user of the same name is someone else. */
  userId: z.string().min(1),
  issuedAt: z.number().int(),
  expiresAt: z.number().int(),
  /**
   * A digest of the login profile the user signed in with (its stored hash): a password changed or
   * deleted since ends the session.
   */
  lp: z.string().min(1),
});

export type SessionTokenPayload = z.output<typeof payloadSchema>;
export type UserSessionTokenPayload = z.output<typeof userPayloadSchema>;
export type AnySessionToken =
  ({ readonly kind: "role" } & SessionTokenPayload) | ({ readonly kind: "user" } & UserSessionTokenPayload);

const aad = (format: number, accessKeyId: string) =>
  Buffer.from(TOKEN_AAD_PREFIX[format]! + accessKeyId, "utf8");

function seal(sealer: SecretSealer, format: number, accessKeyId: string, payload: object): string {
  const sealed = sealer.seal(Buffer.from(JSON.stringify(payload), "utf8"), aad(format, accessKeyId));
  return Buffer.concat([Buffer.of(format), sealed]).toString("base64url");
}

export function sealSessionToken(
  sealer: SecretSealer,
  accessKeyId: string,
  payload: SessionTokenPayload,
): string {
  return seal(sealer, FORMAT_V1, accessKeyId, payload);
}

export function sealUserSessionToken(
  sealer: SecretSealer,
  accessKeyId: string,
  payload: UserSessionTokenPayload,
): string {
  return seal(sealer, FORMAT_V2, accessKeyId, payload);
}

/** Opens a token of either format for `accessKeyId`; refuses anything this issuer did not seal for it. */
export function openAnySessionToken(
  sealer: SecretSealer,
  accessKeyId: string,
  token: string,
): AnySessionToken {
  const malformed = () =>
    iamError("InvalidSecurityToken.Malformed", "The security token you provided is invalid.");
  if (token.length === 0 || token.length > MAX_TOKEN_CHARS || !/^[A-Za-z0-9_-]+={0,2}$/.test(token))
    throw malformed();
  const bytes = Buffer.from(token, "base64url");
  const format = bytes[0];
  if (bytes.length < 2 || (format !== FORMAT_V1 && format !== FORMAT_V2)) throw malformed();
  let json: Buffer;
  try {
    json = sealer.open(bytes.subarray(1), aad(format, accessKeyId));
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
  if (format === FORMAT_V1) {
    const parsed = payloadSchema.safeParse(value);
    if (!parsed.success) throw malformed();
    return { kind: "role", ...parsed.data };
  }
  const parsed = userPayloadSchema.safeParse(value);
  if (!parsed.success) throw malformed();
  return { kind: "user", ...parsed.data };
}

/** Opens an AssumeRole token (format 0x01) for `accessKeyId`; any other token is refused. */
export function openSessionToken(
  sealer: SecretSealer,
  accessKeyId: string,
  token: string,
): SessionTokenPayload {
  const t = openAnySessionToken(sealer, accessKeyId, token);
  if (t.kind !== "role")
    throw iamError("InvalidSecurityToken.Malformed", "The security token you provided is invalid.");
  const { kind: _kind, ...payload } = t;
  return payload;
}
