import YAML from "yaml";
import { AtrestError } from "./errors.js";

/**
 * YAML from users. The yaml library defines `__proto__` as an own key (no key is special), but its
 * pretty errors quote the source around the fault (a body must never be echoed) and, for deeply nested
 * flow collections, build that quote with a regular expression that exhausts the heap; so pretty errors
 * are always off. Nesting deeper than its recursive parser handles ends in a RangeError, answered as a
 * typed error.
 */

export type YamlDecodeOptions = Pick<YAML.ParseOptions & YAML.DocumentOptions, "uniqueKeys" | "version"> & {
  readonly maxAliasCount?: number;
};

export class YamlSyntaxError extends AtrestError {
  constructor(message: string, cause?: unknown) {
    super("invalid-argument", message, cause === undefined ? {} : { cause });
    this.name = "YamlSyntaxError";
  }
}

const TOO_DEEP = /Maximum call stack size exceeded/;

/**
 * The rule a yaml library message states, without the source it quotes: `Unexpected scalar token in
 * YAML stream: "<the token>"` and `Not a YAML token: <source>` would echo a Secret's value (found by
 * the fuzzing campaign); only the first line, and nothing from the first double quote or ": " on.
 */
export function yamlErrorRule(message: string): string {
  const line = message.split("\n")[0] ?? "";
  // The source follows the rule after ": " (`Not a YAML token: <source>`) or in quotes.
  const cut = [line.indexOf('"'), line.indexOf(": ")].filter((i) => i >= 0);
  return (cut.length === 0 ? line : line.slice(0, Math.min(...cut))).replace(/[\s:]+$/, "");
}

/** The first YAML document of `text` as plain values; a YamlSyntaxError (first line only) when malformed. */
export function decodeYaml(text: string, options: YamlDecodeOptions = {}): unknown {
  try {
    // logLevel error: a warning (an unknown tag or directive) would quote the input on stderr.
    return YAML.parse(text, { maxAliasCount: 100, ...options, prettyErrors: false, logLevel: "error" });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof RangeError || TOO_DEEP.test(message))
      throw new YamlSyntaxError("exceeded max depth", err);
    throw new YamlSyntaxError(yamlErrorRule(message), err);
  }
}
