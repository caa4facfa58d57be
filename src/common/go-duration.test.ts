import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatGoDuration, parseGoDurationNs } from "./go-duration.js";

describe("Go durations", () => {
  test("parse and print like Go's time package", () => {
    const cases: Array<[string, bigint, string]> = [
      ["3s", 3_000_000_000n, "3s"],
      ["1m30s", 90_000_000_000n, "1m30s"],
      ["1h", 3_600_000_000_000n, "1h0m0s"],
      ["1.5s", 1_500_000_000n, "1.5s"],
      ["100ms", 100_000_000n, "100ms"],
      ["2us", 2_000n, "2µs"],
      ["7ns", 7n, "7ns"],
      ["-1m30s", -90_000_000_000n, "-1m30s"],
      ["0", 0n, "0s"],
    ];
    for (const [text, ns, printed] of cases) {
      assert.equal(parseGoDurationNs(text), ns, text);
      assert.equal(formatGoDuration(ns), printed, text);
    }
    for (const bad of ["", "3", "s", "3 seconds", "1x", "."])
      assert.equal(parseGoDurationNs(bad), undefined, bad);
  });
});
