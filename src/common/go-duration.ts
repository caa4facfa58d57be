/**
 * Go's `time.ParseDuration` and `Duration.String`, because kube-apiserver reads `timeout: 3s` with the
 * former and prints durations in its validation messages with the latter. Durations are in integer
 * nanoseconds (bigint) so that formatting is exact.
 */

const NS_PER_UNIT: ReadonlyMap<string, bigint> = new Map([
  ["ns", 1n],
  ["us", 1_000n],
  ["µs", 1_000n], // U+00B5 micro sign
  ["μs", 1_000n], // U+03BC Greek mu
  ["ms", 1_000_000n],
  ["s", 1_000_000_000n],
  ["m", 60_000_000_000n],
  ["h", 3_600_000_000_000n],
]);

const MAX_INT64 = (1n << 63n) - 1n;

/** Parses a Go duration string ("3s", "1m30s", "1.5h", "-2ms", "0"); returns undefined when invalid. */
export function parseGoDurationNs(input: string): bigint | undefined {
  let s = input;
  let negative = false;
  if (s.startsWith("-") || s.startsWith("+")) {
    negative = s.startsWith("-");
    s = s.slice(1);
  }
  if (s === "0") return 0n;
  if (s === "") return undefined;
  let total = 0n;
  while (s !== "") {
    const m = /^([0-9]*)(?:\.([0-9]*))?([^0-9.]+)/.exec(s);
    if (m === null) return undefined;
    const whole = m[1] ?? "";
    const frac = m[2];
    const unitText = m[3] ?? "";
    if (whole === "" && (frac === undefined || frac === "")) return undefined;
    // The unit runs until the next digit or '.'.
    const unit = NS_PER_UNIT.get(unitText);
    if (unit === undefined) return undefined;
    let value = BigInt(whole === "" ? "0" : whole) * unit;
    if (frac !== undefined && frac !== "") {
      const scale = 10n ** BigInt(frac.length);
      value += (BigInt(frac) * unit) / scale;
    }
    total += value;
    if (total > MAX_INT64) return undefined;
    s = s.slice(m[0].length);
  }
  return negative ? -total : total;
}

/** Formats nanoseconds the way Go's `time.Duration.String` does ("3s", "1m0s", "1.5ms", "0s"). */
export function formatGoDuration(ns: bigint): string {
  const negative = ns < 0n;
  let u = negative ? -ns : ns;
  let out: string;
  if (u < 1_000_000_000n) {
    if (u === 0n) return "0s";
    let prec: number;
    let unit: string;
    if (u < 1_000n) {
      prec = 0;
      unit = "ns";
    } else if (u < 1_000_000n) {
      prec = 3;
      unit = "µs";
    } else {
      prec = 6;
      unit = "ms";
    }
    const [intPart, fracText] = splitFraction(u, prec);
    out = `${intPart}${fracText}${unit}`;
  } else {
    const [seconds, fracText] = splitFraction(u, 9);
    u = seconds;
    out = `${u % 60n}${fracText}s`;
    u /= 60n;
    if (u > 0n) {
      out = `${u % 60n}m${out}`;
      u /= 60n;
      if (u > 0n) out = `${u}h${out}`;
    }
  }
  return negative ? `-${out}` : out;
}

/** v / 10**prec as [integer part, ".fraction" without trailing zeros, or "" when the fraction is 0]. */
function splitFraction(v: bigint, prec: number): [bigint, string] {
  if (prec === 0) return [v, ""];
  const scale = 10n ** BigInt(prec);
  const frac = v % scale;
  if (frac === 0n) return [v / scale, ""];
  const digits = frac.toString().padStart(prec, "0").replace(/0+$/, "");
  return [v / scale, `.${digits}`];
}
