import { iamError } from "../iam-error.js";

/** Pure parameter parsers of the identity APIs. Every failure names the parameter and the rule. */
export type Params = Readonly<Record<string, string>>;

export function requireParam(p: Params, name: string): string {
  const v = p[name];
  if (v === undefined || v === "")
    throw iamError(
      "MissingParameter",
      `The input parameter "${name}" that is mandatory for processing this request is not supplied.`,
    );
  return v;
}

export function optionalParam(p: Params, name: string): string | undefined {
  const v = p[name];
  return v === undefined || v === "" ? undefined : v;
}

export function intParam(
  p: Params,
  name: string,
  range: { min: number; max: number },
  code: "InvalidParameter" | "InvalidParameter.DurationSeconds" = "InvalidParameter",
): number | undefined {
  const v = optionalParam(p, name);
  if (v === undefined) return undefined;
  if (!/^\d{1,10}$/.test(v)) throw iamError(code, `${name}: must be an integer`);
  const n = Number(v);
  if (n < range.min || n > range.max)
    throw iamError(code, `${name}: must be between ${range.min} and ${range.max}`);
  return n;
}

export function boolParam(p: Params, name: string): boolean | undefined {
  const v = optionalParam(p, name);
  if (v === undefined) return undefined;
  if (v === "true" || v === "True") return true;
  if (v === "false" || v === "False") return false;
  throw iamError("InvalidParameter", `${name}: must be true or false`);
}

/** `2026-01-01T00:00:00Z` (RAM and ActionTrail times: UTC, seconds). */
export function timeParam(p: Params, name: string): number | undefined {
  const v = optionalParam(p, name);
  if (v === undefined) return undefined;
  const ms = Date.parse(v);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?Z$/.test(v) || !Number.isFinite(ms))
    throw iamError("InvalidParameter.Time", `${name}: must be a UTC time like 2026-01-01T00:00:00Z`);
  return ms;
}

/** RPC's repeated parameters: `Name.1.Key`, `Name.1.Value`, `Name.2.Key`, … in index order. */
export function repeatedPairs(p: Params, name: string): Array<{ key: string; value: string }> {
  const out = new Map<number, { key?: string; value?: string }>();
  const re = new RegExp(`^${name}\\.(\\d{1,3})\\.(Key|Value)$`);
  for (const [k, v] of Object.entries(p)) {
    const m = re.exec(k);
    if (m === null) continue;
    const i = Number(m[1]);
    const e = out.get(i) ?? {};
    if (m[2] === "Key") e.key = v;
    else e.value = v;
    out.set(i, e);
  }
  return [...out.entries()]
    .sort(([a], [b]) => a - b)
    .map(([i, e]) => {
      if (e.key === undefined || e.key === "" || e.value === undefined)
        throw iamError("InvalidParameter.LookupAttribute", `${name}.${i}: needs both Key and Value`);
      return { key: e.key, value: e.value };
    });
}
