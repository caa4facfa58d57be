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

/** The first YAML document of `text` as plain values; a YamlSyntaxError (first line only) when malformed. */
export function decodeYaml(text: string, options: YamlDecodeOptions = {}): unknown {
  try {
    return YAML.parse(text, { maxAliasCount: 100, ...options, prettyErrors: false });
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (err instanceof RangeError || TOO_DEEP.test(message))
      throw new YamlSyntaxError("exceeded max depth", err);
    throw new YamlSyntaxError(message.split("\n")[0] ?? "", err);
  }
}
