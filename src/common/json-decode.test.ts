import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeJson, goJsonSyntaxError, JsonSyntaxError, MAX_JSON_DEPTH } from "./json-decode.js";

test("Go's encoding/json texts for malformed input, naming one byte and never echoing the body", () => {
  const cases: Array<[string, string]> = [
    ["", "unexpected end of JSON input"],
    ['{"a":"secret-value"', "unexpected end of JSON input"],
    ['{"a":"secret-value"x', "invalid character 'x' after object key:value pair"],
    ['{"a" "b"}', "invalid character '\"' after object key"],
    ["{a:1}", "invalid character 'a' looking for beginning of object key string"],
    ['{"a":1,}', "invalid character '}' looking for beginning of object key string"],
    ["[1,]", "invalid character ']' looking for beginning of value"],
    ["[1 2]", "invalid character '2' after array element"],
    ["nul", "unexpected end of JSON input"],
    ["nulx", "invalid character 'x' in literal null (expecting 'l')"],
    ["tru", "unexpected end of JSON input"],
    ["-x", "invalid character 'x' in numeric literal"],
    ["1.x", "invalid character 'x' after decimal point in numeric literal"],
    ["1ex", "invalid character 'x' in exponent of numeric literal"],
    ["01", "invalid character '1' after top-level value"],
    ['"a\\x"', "invalid character 'x' in string escape code"],
    ['"\\u12g4"', "invalid character 'g' in \\u hexadecimal character escape"],
    ['"a\nb"', "invalid character '\\n' in string literal"],
    ["{}{}", "invalid character '{' after top-level value"],
    ["\u00e9", "invalid character 'Ã' looking for beginning of value"],
    ["'", "invalid character '\\'' looking for beginning of value"],
  ];
  for (const [input, message] of cases) {
    assert.equal(goJsonSyntaxError(Buffer.from(input)), message, input);
    assert.throws(
      () => decodeJson(input),
      (e: unknown) => e instanceof JsonSyntaxError && e.message === message,
    );
  }
  for (const valid of ['{"a":[1,-2.5e+3,true,false,null,"\\u00e9\\n"]}', " 1 ", '""'])
    assert.equal(goJsonSyntaxError(Buffer.from(valid)), undefined, valid);
});

test("nesting: 10,000 levels decode, one more is Go's exceeded max depth", () => {
  const deep = (n: number): string => "[".repeat(n) + "]".repeat(n);
  assert.ok(Array.isArray(decodeJson(deep(MAX_JSON_DEPTH))));
  assert.throws(
    () => decodeJson(deep(MAX_JSON_DEPTH + 1)),
    /^JsonSyntaxError: invalid character '\[' exceeded max depth$/,
  );
  // Brackets inside strings (with escaped quotes) do not count.
  assert.deepEqual(decodeJson(`{"a":"\\"[[[[","b":[[1]]}`, 3), { a: '"[[[[', b: [[1]] });
  assert.throws(() => decodeJson('{"a":[[1]]}', 2), /exceeded max depth/);
  // The scanner's own depth check (for input that is also malformed later) reports depth first.
  assert.equal(goJsonSyntaxError(Buffer.from("[[[x"), 2), "invalid character '[' exceeded max depth");
});

test("__proto__ and other Object.prototype names are own members of what is decoded", () => {
  const v = decodeJson('{"__proto__":{"polluted":1},"constructor":2}') as Record<string, unknown>;
  assert.deepEqual(Object.keys(v), ["__proto__", "constructor"]);
  assert.equal(Object.getPrototypeOf(v), Object.prototype);
  assert.equal((v as { polluted?: unknown }).polluted, undefined);
});
