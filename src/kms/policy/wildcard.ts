/**
 * RAM wildcard patterns: `*` matches any run of characters (including none), `?` exactly one; every
 * other character is literal. Compiled once per distinct pattern (policies are few, requests many).
 */
const cache = new Map<string, RegExp>();
const MAX_CACHED = 4096;

function compile(pattern: string, caseInsensitive: boolean): RegExp {
  const key = (caseInsensitive ? "i:" : "s:") + pattern;
  const hit = cache.get(key);
  if (hit !== undefined) return hit;
  let source = "^";
  for (const ch of pattern) {
    if (ch === "*") source += "[\\s\\S]*";
    else if (ch === "?") source += "[\\s\\S]";
    else source += ch.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
  }
  source += "$";
  const re = new RegExp(source, caseInsensitive ? "iu" : "u");
  if (cache.size >= MAX_CACHED) cache.clear();
  cache.set(key, re);
  return re;
}

export function wildcardMatch(
  pattern: string,
  value: string,
  options: { caseInsensitive?: boolean } = {},
): boolean {
  if (pattern === "*") return true;
  return compile(pattern, options.caseInsensitive ?? false).test(value);
}
