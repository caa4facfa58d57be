import { AtrestError } from "../../src/common/errors.js";
import type { Transformer } from "../../src/envelope/transformer.js";

/** "v1:" values are current, "v0:" values are readable but stale; anything else does not decode. */
export const versioned: Transformer = {
  transformFromStorage(data) {
    const buf = Buffer.from(data);
    const tag = buf.subarray(0, 3).toString();
    if (tag !== "v0:" && tag !== "v1:")
      return Promise.reject(new AtrestError("data-corrupt", "no provider matched the value's prefix"));
    return Promise.resolve({
      plaintext: buf.subarray(3),
      stale: tag === "v0:",
      origin: { provider: "aesgcm", keyName: tag.slice(0, 2) },
    });
  },
  transformToStorage(plaintext) {
    return Promise.resolve(Buffer.concat([Buffer.from("v1:"), Buffer.from(plaintext)]));
  },
};
