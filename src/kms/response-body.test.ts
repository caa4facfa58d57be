import assert from "node:assert/strict";
import { it } from "node:test";
import { isAtrestError } from "../common/errors.js";
import { fallbackResponseFormat, parseResponseFormat, renderResponseBody } from "./response-body.js";

it("XML: declaration, root, nested objects, repeated list items, escaped text, scalars as text", () => {
  const { contentType, payload } = renderResponseBody("XML", "ListKeysResponse", {
    Keys: { Key: [{ KeyId: "a&b" }, { KeyId: "<c>" }] },
    TotalCount: 2,
    Truncated: false,
    Empty: { Item: [] },
    Skipped: undefined,
    RequestId: "R",
  });
  assert.equal(contentType, "text/xml;charset=utf-8");
  assert.equal(
    payload,
    '<?xml version="1.0" encoding="UTF-8"?><ListKeysResponse><Keys><Key><KeyId>a&amp;b</KeyId></Key>' +
      "<Key><KeyId>&lt;c&gt;</KeyId></Key></Keys><TotalCount>2</TotalCount><Truncated>false</Truncated>" +
      "<Empty></Empty><RequestId>R</RequestId></ListKeysResponse>",
  );
});

it("XML: characters XML 1.0 cannot carry become U+FFFD; astral characters stay", () => {
  const { payload } = renderResponseBody("XML", "R", { D: "a\u0000b\u001fc\ud800d😀\tok" });
  assert.ok(payload.endsWith("<R><D>a\ufffdb\ufffdc\ufffdd😀\tok</D></R>"), payload);
});

it("JSON is the body as it is; Format is JSON or XML in any case, anything else is refused", () => {
  assert.deepEqual(renderResponseBody("JSON", "X", { A: 1 }), {
    contentType: "application/json;charset=utf-8",
    payload: '{"A":1}',
  });
  assert.equal(parseResponseFormat(undefined), "JSON");
  assert.equal(parseResponseFormat("json"), "JSON");
  assert.equal(parseResponseFormat("Xml"), "XML");
  assert.throws(
    () => parseResponseFormat("yaml"),
    (e: unknown) => isAtrestError(e) && e.details.kmsCode === "InvalidParameter",
  );
  assert.equal(fallbackResponseFormat({ Format: "yaml" }), "JSON");
  assert.equal(fallbackResponseFormat({ Format: ["xml", "json"] }), "XML");
});
