import { getOwn, setOwn } from "../common/own-keys.js";
import { decodeJson } from "../common/json-decode.js";
import { kmsError } from "./kms-error.js";

export type EncryptionContext = Readonly<Record<string, string>>;

/** Alibaba's limit on the EncryptionContext JSON text. */
export const MAX_ENCRYPTION_CONTEXT_CHARS = 8192;

/**
 * Reads the EncryptionContext of a request: a JSON object of strings in `name`, or flattened
 * `name.<k>=<v>` parameters (some SDKs flatten maps). Absent → empty context.
 */
export function parseEncryptionContext(
  params: Readonly<Record<string, string>>,
  name = "EncryptionContext",
): EncryptionContext {
  const out: Record<string, string> = {};
  const raw = getOwn(params, name) as string | undefined;
  if (raw !== undefined && raw !== "") {
    if (raw.length > MAX_ENCRYPTION_CONTEXT_CHARS) {
      throw kmsError(
        "InvalidParameter",
        `${name}: must be at most ${MAX_ENCRYPTION_CONTEXT_CHARS} characters`,
      );
    }
    let parsed: unknown;
    try {
      parsed = decodeJson(raw);
    } catch {
      throw kmsError("InvalidParameter", `${name}: must be a JSON object of string values`);
    }
    if (parsed === null || typeof parsed !== "object" || Array.isArray(parsed)) {
      throw kmsError("InvalidParameter", `${name}: must be a JSON object of string values`);
    }
    for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
      if (typeof v !== "string") throw kmsError("InvalidParameter", `${name}.${k}: must be a string`);
      setOwn(out, k, v);
    }
  }
  const prefix = `${name}.`;
  for (const [k, v] of Object.entries(params)) {
    if (k.startsWith(prefix) && k.length > prefix.length) setOwn(out, k.slice(prefix.length), v);
  }
  return Object.freeze(out);
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

/**
 * The canonical bytes of a context, authenticated with the blob header: u32 pair count, then for each
 * pair sorted by key bytes: u32 key length, key, u32 value length, value (UTF-8). Never change this.
 */
export function canonicalEncryptionContext(ctx: EncryptionContext): Buffer {
  const pairs = Object.entries(ctx)
    .map(([k, v]) => [Buffer.from(k, "utf8"), Buffer.from(v, "utf8")] as const)
    .sort((a, b) => Buffer.compare(a[0], b[0]));
  const parts: Buffer[] = [u32(pairs.length)];
  for (const [k, v] of pairs) parts.push(u32(k.length), k, u32(v.length), v);
  return Buffer.concat(parts);
}
