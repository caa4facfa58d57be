import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { isAtrestError } from "../../common/errors.js";
import { SignInLimiter } from "./signin-limiter.js";

const refusal = (f: () => void): string => {
  try {
    f();
    return "";
  } catch (err) {
    assert.ok(isAtrestError(err, "resource-exhausted"));
    assert.equal(err.details["code"], "SignIn.Throttled");
    assert.ok(Number(err.details["retryAfterSeconds"]) > 0);
    return err.message;
  }
};

describe("console sign-in limiter", () => {
  it("refuses a user past its failures, even with any password, until the window ends", () => {
    let now = 0;
    const l = new SignInLimiter({ perUser: 3, perAddress: 100, windowMs: 60_000, now: () => now });
    for (let i = 0; i < 3; i++) {
      assert.equal(
        refusal(() => l.check("Alice", "a1")),
        "",
      );
      l.failed("Alice", "a1");
    }
    assert.match(
      refusal(() => l.check("alice", "a2")),
      /for this user/,
      "names are case-insensitive",
    );
    assert.equal(
      refusal(() => l.check("bob", "a1")),
      "",
      "another user from the same address",
    );
    now = 59_999;
    assert.notEqual(
      refusal(() => l.check("alice", "a1")),
      "",
    );
    now = 60_000;
    assert.equal(
      refusal(() => l.check("alice", "a1")),
      "",
      "the window from the first failure ended",
    );
  });

  it("refuses an address past its failures across users; a success clears only the user's count", () => {
    const l = new SignInLimiter({ perUser: 3, perAddress: 4, windowMs: 60_000, now: () => 0 });
    l.failed("u1", "a");
    l.failed("u1", "a");
    l.succeeded("u1");
    l.failed("u2", "a");
    l.failed(undefined, "a"); // an access key attempt counts for the address
    assert.match(
      refusal(() => l.check("u3", "a")),
      /from this address/,
    );
    assert.equal(
      refusal(() => l.check("u1", "b")),
      "",
      "u1's count was cleared by its success",
    );
  });
});
