import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from "node:crypto";
import { iamError } from "./iam-error.js";

/**
 * Console passwords, stored as `scrypt$<N>$<r>$<p>$<salt b64>$<hash b64>`: memory-hard, salted per
 * user, parameters kept with the hash so they can be raised later and old hashes still verify.
 */
const DEFAULT_COST = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_BYTES = 32;
/** RAM's password rules: 8 to 32 characters (printable ASCII), letters and digits both present. */
const PASSWORD = /^[\x21-\x7e]{8,32}$/;

function scryptAsync(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(
      password,
      salt,
      KEY_BYTES,
      { ...options, maxmem: 128 * options.N! * options.r! * 2 },
      (err, key) => (err === null ? resolve(key) : reject(err)),
    ),
  );
}

export function checkPasswordRules(password: string): void {
  if (!PASSWORD.test(password) || !/[A-Za-z]/.test(password) || !/[0-9]/.test(password))
    throw iamError(
      "InvalidParameter.Password",
      "Password: 8-32 printable ASCII characters (no spaces), with at least one letter and one digit",
    );
}

export async function hashPassword(
  password: string,
  cost: { N: number; r: number; p: number } = DEFAULT_COST,
): Promise<string> {
  checkPasswordRules(password);
  const salt = randomBytes(16);
  const hash = await scryptAsync(password, salt, cost);
  return `scrypt$${cost.N}$${cost.r}$${cost.p}$${salt.toString("base64")}$${hash.toString("base64")}`;
}

/** True when `password` matches the stored hash (constant-time compare); false for a damaged hash. */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const parts = stored.split("$");
  if (parts.length !== 6 || parts[0] !== "scrypt") return false;
  const [N, r, p] = [Number(parts[1]), Number(parts[2]), Number(parts[3])];
  if (![N, r, p].every((n) => Number.isInteger(n) && n > 0)) return false;
  const salt = Buffer.from(parts[4]!, "base64");
  const expected = Buffer.from(parts[5]!, "base64");
  if (expected.length !== KEY_BYTES || password.length > 128) return false;
  const actual = await scryptAsync(password, salt, { N, r, p });
  return timingSafeEqual(actual, expected);
}
