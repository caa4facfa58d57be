import { checkRotationInterval } from "./keys/key-policy.js";
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
    return JSON.parse(raw) as unknown;
  } catch {
    throw kmsError("InvalidParameter", `${name}: must be valid JSON`);
  }
}

export function parseTags(params: Params): Array<{ TagKey: string; TagValue: string }> {
  const v = parseJsonParam(params, "Tags");
  if (!Array.isArray(v) || v.length === 0 || v.length > 20)
    throw kmsError("InvalidParameter", "Tags: must be a JSON array of 1-20 {TagKey, TagValue}");
  return v.map((t: unknown, i) => {
    const o = t as { TagKey?: unknown; TagValue?: unknown } | null;
    if (
      o === null ||
      typeof o !== "object" ||
      typeof o.TagKey !== "string" ||
      typeof o.TagValue !== "string"
    ) {
      throw kmsError("InvalidParameter", `Tags[${i}]: must be {"TagKey": string, "TagValue": string}`);
    }
    if (o.TagKey.length < 1 || o.TagKey.length > 128 || /^(acs:|aliyun)/i.test(o.TagKey)) {
      throw kmsError(
        "InvalidParameter",
        `Tags[${i}].TagKey: 1-128 characters, not starting with acs: or aliyun`,
      );
    }
    if (o.TagValue.length > 128)
      throw kmsError("InvalidParameter", `Tags[${i}].TagValue: at most 128 characters`);
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
