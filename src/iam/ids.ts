import { randomBytes, randomInt } from "node:crypto";
import type { PrincipalType } from "./store/schema.js";

const ALNUM = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** `n` characters of [A-Za-z0-9], uniformly (rejection sampling). */
export function randomAlnum(n: number): string {
  const bytes = randomBytes(n * 2);
  let out = "";
  for (let i = 0; out.length < n && i < bytes.length; i++) {
    const b = bytes[i]!;
    if (b < 248) out += ALNUM[b % 62];
  }
  return out.length === n ? out : randomAlnum(n);
}

function digits(n: number): string {
  let s = String(randomInt(1, 10));
  while (s.length < n) s += String(randomInt(0, 10));
  return s;
}

/** RAM's ids: a UserId has 16 digits, a RoleId 19 (as Alibaba Cloud's do). */
export function newPrincipalId(type: PrincipalType): string {
  return digits(type === "role" ? 19 : 16);
}

/** A permanent access key id (`LTAI…`, as Alibaba's) and its secret. */
export function newAccessKey(): { accessKeyId: string; accessKeySecret: string } {
  return { accessKeyId: `LTAI${randomAlnum(20)}`, accessKeySecret: randomAlnum(30) };
}

/** STS access key ids start with `STS.`: that is how every verifier tells them apart. */
export const STS_ACCESS_KEY_PREFIX = "STS.";

export function newStsAccessKey(): { accessKeyId: string; accessKeySecret: string } {
  return { accessKeyId: `${STS_ACCESS_KEY_PREFIX}${randomAlnum(28)}`, accessKeySecret: randomAlnum(44) };
}
