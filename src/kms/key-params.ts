import { decodeJson } from "../common/json-decode.js";
import { checkAtrestTag } from "./keys/cluster-tags.js";
import { checkRotationInterval } from "./keys/key-policy.js";
import type { TagInput } from "./keys/key-types.js";
import { kmsError } from "./kms-error.js";

/** Pure parameter parsers for KMS actions. Every failure names the parameter and the rule. */

export type Params = Readonly<Record<string, string>>;

export function requireParam(params: Params, name: string): string {
  const v = params[name];
  if (v === undefined || v === "")
    throw kmsError(
      "MissingParameter",
      `The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
    );
  return v;
}

export function optionalParam(params: Params, name: string): string | undefined {
  const v = params[name];
  return v === undefined || v === "" ? undefined : v;
}

export function parseBool(params: Params, name: string, fallback: boolean): boolean {
  const v = optionalParam(params, name);
  if (v === undefined) return fallback;
  if (v === "true" || v === "True" || v === "TRUE") return true;
  if (v === "false" || v === "False" || v === "FALSE") return false;
  throw kmsError("InvalidParameter", `${name}: must be true or false`);
}

export function parseIntParam(
  params: Params,
  name: string,
  range: { min: number; max: number },
  fallback?: number,
): number {
  const v = optionalParam(params, name);
  if (v === undefined) {
    if (fallback !== undefined) return fallback;
    throw kmsError(
      "MissingParameter",
      `The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
    );
  }
  if (!/^-?\d{1,10}$/.test(v)) throw kmsError("InvalidParameter", `${name}: must be an integer`);
  const n = Number(v);
  if (n < range.min || n > range.max)
    throw kmsError("InvalidParameter", `${name}: must be between ${range.min} and ${range.max}`);
  return n;
}

/** RotationInterval: `<n>d|h|m|s` (e.g. `30d`, `604800s`), 7 to 730 days. Returns seconds. */
export function parseRotationInterval(value: string, name = "RotationInterval"): number {
  const m = /^(\d{1,12})([dhms])$/.exec(value);
  if (m === null) throw kmsError("InvalidParameter", `${name}: must look like 30d or 604800s`);
  const unit = { d: 86_400, h: 3_600, m: 60, s: 1 }[m[2] as "d" | "h" | "m" | "s"];
  const seconds = Number(m[1]) * unit;
  checkRotationInterval(seconds, name);
  return seconds;
}

export function parsePage(params: Params): { pageNumber: number; pageSize: number } {
  return {
    pageNumber: parseIntParam(params, "PageNumber", { min: 1, max: 1_000_000 }, 1),
    pageSize: parseIntParam(params, "PageSize", { min: 1, max: 100 }, 10),
  };
}

const ALIAS = /^alias\/[a-zA-Z0-9:/_-]{1,255}$/;

export function parseAliasName(value: string, name = "AliasName"): string {
  if (!ALIAS.test(value) || value.startsWith("alias/acs")) {
    throw kmsError(
      "InvalidParameter",
      `${name}: must be alias/ followed by 1-255 of [a-zA-Z0-9:/_-], not starting with alias/acs`,
    );
  }
  return value;
}

export function parseJsonParam(params: Params, name: string): unknown {
  const raw = requireParam(params, name);
  try {
    return decodeJson(raw);
  } catch {
    throw kmsError("InvalidParameter", `${name}: must be valid JSON`);
  }
}

/** Alibaba's tag limits (the tag service's rules, which KMS keys follow). */
export const MAX_TAG_KEY_CHARS = 128;
export const MAX_TAG_VALUE_CHARS = 128;
export const MAX_TAGS_PER_REQUEST = 20;
// eslint-disable-next-line no-control-regex -- control characters are what this finds
const CONTROL = /[\u0000-\u001f\u007f]/;
const URL_TEXT = /https?:\/\//i;

function checkTagText(
  text: string,
  path: string,
  max: number,
  reservedPrefix: RegExp,
  required: boolean,
): void {
  const chars = [...text].length;
  if (required && chars < 1) throw kmsError("InvalidParameter", `${path}: must not be empty`);
  if (chars > max) throw kmsError("InvalidParameter", `${path}: at most ${max} characters`);
  const reserved = reservedPrefix.exec(text);
  if (reserved !== null)
    throw kmsError(
      "InvalidParameter",
      `${path}: must not start with ${reserved[0].toLowerCase()} (reserved)`,
    );
  if (URL_TEXT.test(text))
    throw kmsError("InvalidParameter", `${path}: must not contain http:// or https://`);
  if (CONTROL.test(text)) throw kmsError("InvalidParameter", `${path}: must not contain control characters`);
}

/**
 * A `Tags` parameter: a JSON array of `{"TagKey": string, "TagValue": string}` (nothing else), each key
 * 1-128 characters not starting with `aliyun` or `acs:` (any case), each value 0-128 not starting with
 * `acs:`, neither containing http:// or https:// or control characters, no key twice, at most 20.
 * Keys in atrest's reserved `atrest:` namespace must be cluster tags (cluster-tags.ts).
 * `optional` (CreateKey): absent means none, and `[]` is allowed.
 */
export function parseTags(params: Params, options: { optional?: boolean } = {}): TagInput[] {
  if (options.optional === true && optionalParam(params, "Tags") === undefined) return [];
  const v = parseJsonParam(params, "Tags");
  const min = options.optional === true ? 0 : 1;
  if (!Array.isArray(v) || v.length < min || v.length > MAX_TAGS_PER_REQUEST)
    throw kmsError(
      "InvalidParameter",
      `Tags: must be a JSON array of ${min}-${MAX_TAGS_PER_REQUEST} {"TagKey": string, "TagValue": string} (at most ${MAX_TAGS_PER_REQUEST})`,
    );
  const seen = new Map<string, number>();
  return v.map((t: unknown, i) => {
    const path = `Tags[${i}]`;
    if (t === null || typeof t !== "object" || Array.isArray(t))
      throw kmsError("InvalidParameter", `${path}: must be {"TagKey": string, "TagValue": string}`);
    const o = t as Record<string, unknown>;
    const extra = Object.keys(o).find((k) => k !== "TagKey" && k !== "TagValue");
    if (typeof o.TagKey !== "string" || typeof o.TagValue !== "string")
      throw kmsError(
        "InvalidParameter",
        `${path}: must be {"TagKey": string, "TagValue": string}${extra === undefined ? "" : ` (found ${extra.slice(0, 64)})`}`,
      );
    if (extra !== undefined)
      throw kmsError("InvalidParameter", `${path}: unknown field ${extra.slice(0, 64)}`);
    checkTagText(o.TagKey, `${path}.TagKey`, MAX_TAG_KEY_CHARS, /^(aliyun|acs:)/i, true);
    checkTagText(o.TagValue, `${path}.TagValue`, MAX_TAG_VALUE_CHARS, /^acs:/i, false);
    checkAtrestTag(o.TagKey, o.TagValue, path);
    const earlier = seen.get(o.TagKey);
    if (earlier !== undefined)
      throw kmsError("InvalidParameter", `${path}.TagKey: repeats Tags[${earlier}].TagKey`);
    seen.set(o.TagKey, i);
    return { TagKey: o.TagKey, TagValue: o.TagValue };
  });
}

export function parseTagKeys(params: Params): string[] {
  const v = parseJsonParam(params, "TagKeys");
  if (!Array.isArray(v) || v.length === 0 || v.some((k) => typeof k !== "string")) {
    throw kmsError("InvalidParameter", "TagKeys: must be a JSON array of strings");
  }
  return v as string[];
}

/** Alibaba's timestamps: ISO 8601 UTC without milliseconds. */
export function isoSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
