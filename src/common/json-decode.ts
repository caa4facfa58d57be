import { AtrestError } from "./errors.js";

/**
 * JSON from users, decoded as Go's encoding/json decodes it (the decoder every Kubernetes and Alibaba
 * server uses): at most 10,000 levels of nesting, and on bad input Go's SyntaxError text (which names
 * one offending byte and never echoes the body, unlike V8's `JSON.parse` messages). `JSON.parse` does the
 * decoding: it defines every member as an own property, `__proto__` included, so no key is special in
 * what it returns (copy such objects with `setOwn`, never with `obj[key] = value`).
 */

/** Go's encoding/json maxNestingDepth, which kube's decoders (sigs.k8s.io/json) share. */
export const MAX_JSON_DEPTH = 10_000;

export class JsonSyntaxError extends AtrestError {
  constructor(message: string) {
    super("invalid-argument", message);
    this.name = "JsonSyntaxError";
  }
}

/** Decodes `input` (bytes or text); a JsonSyntaxError with Go's message when it is not valid JSON. */
export function decodeJson(input: Uint8Array | string, maxDepth = MAX_JSON_DEPTH): unknown {
  const bytes = typeof input === "string" ? Buffer.from(input, "utf8") : input;
  const text = typeof input === "string" ? input : Buffer.from(input).toString("utf8");
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new JsonSyntaxError(goJsonSyntaxError(bytes, maxDepth) ?? "invalid JSON input");
  }
  const tooDeep = depthError(bytes, maxDepth);
  if (tooDeep !== undefined) throw new JsonSyntaxError(tooDeep);
  return value;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;

/** The nesting check for input already known to be valid JSON: brackets outside strings. */
function depthError(b: Uint8Array, maxDepth: number): string | undefined {
  const buf = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
  let depth = 0;
  for (let i = 0; i < buf.length; i++) {
    const c = buf[i] as number;
    if (c === QUOTE) {
      // Skip the string: the next quote not escaped by an odd run of backslashes.
      let j = i;
      for (;;) {
        j = buf.indexOf(QUOTE, j + 1);
        if (j < 0) return undefined;
        let backslashes = 0;
        while (buf[j - 1 - backslashes] === BACKSLASH) backslashes++;
        if (backslashes % 2 === 0) break;
      }
      i = j;
    } else if (c === 0x5b || c === 0x7b) {
      if (++depth > maxDepth) return `invalid character ${quoteChar(c)} exceeded max depth`;
    } else if (c === 0x5d || c === 0x7d) {
      depth--;
    }
  }
  return undefined;
}

/** Go's quoteChar: the byte as strconv.Quote writes the rune, in single quotes. */
export function quoteChar(c: number): string {
  if (c === 0x27) return `'\\''`;
  if (c === QUOTE) return `'"'`;
  const named: Record<number, string> = { 7: "a", 8: "b", 9: "t", 10: "n", 11: "v", 12: "f", 13: "r" };
  if (named[c] !== undefined) return `'\\${named[c]}'`;
  if (c === BACKSLASH) return `'\\\\'`;
  if (c < 0x20 || c === 0x7f) return `'\\x${c.toString(16).padStart(2, "0")}'`;
  // A byte ≥ 0x80 is the rune U+0080…U+00FF in Go's string(c); C1 controls, NBSP and SHY are not printable.
  if ((c >= 0x80 && c <= 0xa0) || c === 0xad) return `'\\u00${c.toString(16).padStart(2, "0")}'`;
  return `'${String.fromCharCode(c)}'`;
}

const isSpace = (c: number | undefined): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d;
const isDigit = (c: number | undefined): boolean => c !== undefined && c >= 0x30 && c <= 0x39;
const isHex = (c: number | undefined): boolean =>
  isDigit(c) || (c !== undefined && ((c >= 0x61 && c <= 0x66) || (c >= 0x41 && c <= 0x46)));
const ESCAPES = new Set([0x62, 0x66, 0x6e, 0x72, 0x74, 0x5c, 0x2f, 0x22, 0x75]);

const EOF = "unexpected end of JSON input";

/**
 * The first error Go's encoding/json scanner (scanner.go) reports for `b`, with its exact text, or
 * undefined when the input is valid. Hand-written because the wire text must match Go's; it runs only
 * on input `JSON.parse` already refused.
 */
export function goJsonSyntaxError(b: Uint8Array, maxDepth = MAX_JSON_DEPTH): string | undefined {
  const n = b.length;
  let i = 0;
  const stack: Array<"object" | "array"> = [];
  const bad = (context: string): string => `invalid character ${quoteChar(b[i] as number)} ${context}`;
  const ws = (): void => {
    while (i < n && isSpace(b[i])) i++;
  };
  const scanString = (): string | undefined => {
    i++; // the opening quote
    while (i < n) {
      const c = b[i] as number;
      if (c === QUOTE) {
        i++;
        return undefined;
      }
      if (c === BACKSLASH) {
        i++;
        if (i >= n) return EOF;
        if (!ESCAPES.has(b[i] as number)) return bad("in string escape code");
        if (b[i] === 0x75) {
          for (let k = 0; k < 4; k++) {
            i++;
            if (i >= n) return EOF;
            if (!isHex(b[i])) return bad("in \\u hexadecimal character escape");
          }
        }
        i++;
        continue;
      }
      if (c < 0x20) return bad("in string literal");
      i++;
    }
    return EOF;
  };
  const scanNumber = (): string | undefined => {
    if (b[i] === 0x2d) {
      i++;
      if (i >= n) return EOF;
      if (!isDigit(b[i])) return bad("in numeric literal");
    }
    if (b[i] === 0x30) i++;
    else while (isDigit(b[i])) i++;
    if (b[i] === 0x2e) {
      i++;
      if (i >= n) return EOF;
      if (!isDigit(b[i])) return bad("after decimal point in numeric literal");
      while (isDigit(b[i])) i++;
    }
    if (b[i] === 0x65 || b[i] === 0x45) {
      i++;
      if (b[i] === 0x2b || b[i] === 0x2d) i++;
      if (i >= n) return EOF;
      if (!isDigit(b[i])) return bad("in exponent of numeric literal");
      while (isDigit(b[i])) i++;
    }
    return undefined;
  };
  const scanLiteral = (word: string): string | undefined => {
    for (let k = 1; k < word.length; k++) {
      i++;
      if (i >= n) return EOF;
      if (b[i] !== word.charCodeAt(k)) return bad(`in literal ${word} (expecting '${word[k] ?? ""}')`);
    }
    i++;
    return undefined;
  };
  const push = (kind: "object" | "array"): string | undefined => {
    stack.push(kind);
    return stack.length > maxDepth ? bad("exceeded max depth") : undefined;
  };
  /** After `{` or `,` in an object: a key string, then `:`. */
  const scanKey = (): string | undefined => {
    if (i >= n) return EOF;
    if (b[i] !== QUOTE) return bad("looking for beginning of object key string");
    const e = scanString();
    if (e !== undefined) return e;
    ws();
    if (i >= n) return EOF;
    if (b[i] !== 0x3a) return bad("after object key");
    i++;
    ws();
    return undefined;
  };

  ws();
  for (;;) {
    // A value begins at i.
    if (i >= n) return EOF;
    const c = b[i] as number;
    let e: string | undefined;
    let opened = false;
    if (c === 0x7b) {
      e = push("object");
      if (e !== undefined) return e;
      i++;
      ws();
      if (b[i] === 0x7d) {
        stack.pop();
        i++;
      } else {
        e = scanKey();
        opened = true;
      }
    } else if (c === 0x5b) {
      e = push("array");
      if (e !== undefined) return e;
      i++;
      ws();
      if (b[i] === 0x5d) {
        stack.pop();
        i++;
      } else opened = true;
    } else if (c === QUOTE) e = scanString();
    else if (c === 0x2d || isDigit(c)) e = scanNumber();
    else if (c === 0x74) e = scanLiteral("true");
    else if (c === 0x66) e = scanLiteral("false");
    else if (c === 0x6e) e = scanLiteral("null");
    else return bad("looking for beginning of value");
    if (e !== undefined) return e;
    if (opened) continue;
    // After a value: close containers or move to the next element.
    for (;;) {
      ws();
      const top = stack[stack.length - 1];
      if (top === undefined) return i < n ? bad("after top-level value") : undefined;
      if (i >= n) return EOF;
      const d = b[i];
      if (d === 0x2c) {
        i++;
        ws();
        if (top === "object") {
          e = scanKey();
          if (e !== undefined) return e;
        }
        break;
      }
      if ((top === "object" && d === 0x7d) || (top === "array" && d === 0x5d)) {
        stack.pop();
        i++;
        continue;
      }
      return bad(top === "object" ? "after object key:value pair" : "after array element");
    }
  }
}
