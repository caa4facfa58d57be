import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { SessionStore } from "./session-store.js";

const identity = {
  accountId: "1",
  arn: "acs:ram::1:user/a",
  principalId: "u",
  identityType: "RAMUser",
  displayName: "a",
};
const credentials = { accessKeyId: "LTAI-test", accessKeySecret: "secret-test" };

describe("console sessions", () => {
  it("ends a session left idle, and one past its maximum age even while used", () => {
    let now = 1_000_000;
    const store = new SessionStore({ idleTimeoutMs: 1_000, maxAgeMs: 5_000, now: () => now });
    const s = store.create(identity, credentials);
    assert.match(s.id, /^[A-Za-z0-9_-]{43}$/);
    assert.notEqual(s.id, s.csrfToken);
    now += 900;
    assert.equal(store.get(s.id)?.id, s.id, "used within the idle timeout");
    now += 900;
    assert.equal(store.get(s.id)?.id, s.id, "each use restarts the idle timer");
    now += 1_100;
    assert.equal(store.get(s.id), undefined, "idle too long");

    const t = store.create(identity, credentials);
    for (let i = 0; i < 6; i++) {
      now += 900;
      if (now - t.createdAtMs < 5_000) assert.ok(store.get(t.id));
    }
    assert.equal(store.get(t.id), undefined, "past the maximum age");
  });

  it("refuses ids that are not its own shape and forgets deleted sessions", () => {
    const store = new SessionStore();
    const s = store.create(identity, credentials);
    assert.equal(store.get(undefined), undefined);
    assert.equal(store.get(""), undefined);
    assert.equal(store.get(`${s.id}x`), undefined);
    assert.equal(store.get(s.csrfToken), undefined, "the CSRF token is not a session id");
    store.delete(s.id);
    assert.equal(store.get(s.id), undefined);
    assert.equal(store.size, 0);
  });
});
