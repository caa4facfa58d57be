import { test } from "node:test";
import assert from "node:assert/strict";
import { mergeRpcParams } from "../iam/rpc/rpc-request.js";
import { canonicalEncryptionContext, parseEncryptionContext } from "./encryption-context.js";

test("an EncryptionContext key __proto__ is bound like any other (it was silently dropped)", () => {
  const withProto = parseEncryptionContext({ EncryptionContext: '{"__proto__":"x","a":"b"}' });
  assert.deepEqual(Object.keys(withProto), ["__proto__", "a"]);
  const without = parseEncryptionContext({ EncryptionContext: '{"a":"b"}' });
  assert.notDeepEqual(canonicalEncryptionContext(withProto), canonicalEncryptionContext(without));
  const flattened = parseEncryptionContext({ "EncryptionContext.__proto__": "x" });
  assert.deepEqual(Object.keys(flattened), ["__proto__"]);
  assert.deepEqual(Object.keys(parseEncryptionContext({})), []);
});

test("RPC parameters named __proto__ are kept as parameters, from query, form and JSON bodies", () => {
  const base = { method: "POST", pathname: "/", headers: {}, sourceIp: "127.0.0.1" };
  const q = mergeRpcParams({
    ...base,
    query: JSON.parse('{"__proto__":"q"}') as Record<string, string>,
    rawBody: Buffer.alloc(0),
  });
  assert.deepEqual(Object.keys(q), ["__proto__"]);
  const form = mergeRpcParams({
    ...base,
    query: {},
    headers: { "content-type": "application/x-www-form-urlencoded" },
    rawBody: Buffer.from("__proto__=f&a=1"),
  });
  assert.deepEqual(Object.keys(form), ["__proto__", "a"]);
  const json = mergeRpcParams({
    ...base,
    query: {},
    headers: { "content-type": "application/json" },
    rawBody: Buffer.from('{"__proto__":{"b":1}}'),
  });
  assert.deepEqual(Object.keys(json), ["__proto__"]);
  assert.equal((json as { b?: unknown }).b, undefined);
});
