import { test } from "node:test";
import assert from "node:assert/strict";
import { encryptedObjectType } from "../../proto/encrypted-object.js";
import { decodeEncryptedObject } from "./encrypted-object.js";

test("fuzz finding: an annotation named __proto__ is an own key, so its invalid name is refused", () => {
  const bytes = Buffer.from(
    encryptedObjectType()
      .encode({
        encryptedData: Buffer.of(0),
        keyID: "k",
        encryptedDEKSource: Buffer.of(1),
        annotations: JSON.parse('{"__proto__":"eA=="}') as Record<string, unknown>,
        encryptedDEKSourceType: 0,
      })
      .finish(),
  );
  // The annotations object got a Buffer as its prototype: the key was lost and its name never checked.
  assert.throws(() => decodeEncryptedObject(bytes), { code: "data-corrupt", message: /__proto__/ });
});
