import { LRUCache } from "lru-cache";

/**
 * RAM wildcard patterns: `*` matches any run of characters (including none), `?` exactly one; every
 * other character is literal. Characters are Unicode code points.
 *
 * Matched without backtracking across stars, in time linear in the value for a given pattern: the
 * pattern is cut at its stars into segments (a `?` inside one matches any one character); the first
 * segment must start the value, the last must end it, and each middle segment is placed at its
 * leftmost position after the one before. Leftmost placement is always right for star-separated
 * segments (a later placement leaves less room for the rest and gains nothing), so no segment is
 * placed twice: at most |value| × |segment| comparisons per segment. (A regular expression of
 * `[\s\S]*` runs instead backtracks exponentially in the number of stars.)
 */

/** A string, or its code points when it holds characters outside the BMP; both index one character. */
type Chars = string | readonly string[];

interface CompiledPattern {
  /** The parts between the stars; `starred` is false for a pattern without any star. */
  readonly parts: readonly Chars[];
  readonly starred: boolean;
}

const NON_ASCII = /[^ -~\t\n\r]/; // anything but printable ASCII and common whitespace
const SURROGATE = /[\uD800-\uDFFF]/;

function chars(s: string, caseInsensitive: boolean): Chars {
  if (!NON_ASCII.test(s)) return caseInsensitive ? s.toLowerCase() : s;
  if (!caseInsensitive) return SURROGATE.test(s) ? Array.from(s) : s;
  // Unicode: fold each code point on its own, keeping the one-character-per-index shape.
  return Array.from(s, (c) => {
    const lower = c.toLowerCase();
    return Array.from(lower).length === 1 ? lower : c;
  });
}

const compiled = new LRUCache<string, CompiledPattern>({ max: 4096 });

function compile(pattern: string, caseInsensitive: boolean): CompiledPattern {
  const cacheKey = (caseInsensitive ? "i:" : "s:") + pattern;
  const hit = compiled.get(cacheKey);
  if (hit !== undefined) return hit;
  const split = pattern.split(/\*+/);
  const c: CompiledPattern = {
    parts: split.map((p) => chars(p, caseInsensitive)),
    starred: split.length > 1,
  };
  compiled.set(cacheKey, c);
  return c;
}

/** Counts character comparisons, for the test that proves the matcher linear. */
export interface MatchCost {
  steps: number;
}

function partAt(value: Chars, at: number, part: Chars, cost: MatchCost): boolean {
  for (let j = 0; j < part.length; j++) {
    cost.steps++;
    const p = part[j];
    if (p !== "?" && p !== value[at + j]) return false;
  }
  return true;
}

function matchCompiled(pattern: CompiledPattern, value: Chars, cost: MatchCost): boolean {
  const { parts } = pattern;
  const first = parts[0]!;
  if (!pattern.starred) return value.length === first.length && partAt(value, 0, first, cost);
  const last = parts[parts.length - 1]!;
  // The first part starts the value and the last ends it, without overlapping.
  if (first.length + last.length > value.length) return false;
  if (!partAt(value, 0, first, cost)) return false;
  const end = value.length - last.length;
  if (!partAt(value, end, last, cost)) return false;
  let pos = first.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const part = parts[i]!;
    let at = pos;
    while (at + part.length <= end && !partAt(value, at, part, cost)) at++;
    if (at + part.length > end) return false;
    pos = at + part.length;
  }
  return true;
}

export function wildcardMatch(
  pattern: string,
  value: string,
  options: { caseInsensitive?: boolean; cost?: MatchCost } = {},
): boolean {
  if (pattern === "*") return true;
  const ci = options.caseInsensitive ?? false;
  return matchCompiled(compile(pattern, ci), chars(value, ci), options.cost ?? { steps: 0 });
}
