import assert from "node:assert/strict";
import { test } from "node:test";
import { silentLogger } from "../common/logger.js";
import { serveUntilSignal, untilStopSignal } from "./until-signal.js";

const listeners = () => process.listenerCount("SIGINT") + process.listenerCount("SIGTERM");

test("the first signal stops; its handlers are gone after it", async () => {
  const before = listeners();
  const stopped = untilStopSignal();
  assert.equal(listeners(), before + 2);
  process.emit("SIGTERM", "SIGTERM");
  assert.equal(await stopped, "SIGTERM");
  assert.equal(listeners(), before);
});

test("serveUntilSignal closes once; a failed close is logged, not thrown", async () => {
  let closes = 0;
  const served = serveUntilSignal(silentLogger(), (signal) => {
    closes++;
    assert.equal(signal, "SIGINT");
    return Promise.reject(new Error("close failed"));
  });
  process.emit("SIGINT", "SIGINT");
  await served;
  assert.equal(closes, 1);
});

test("with onForce, handlers stay; a signal right after the first is the same request", async () => {
  const before = listeners();
  let forced = 0;
  const stopped = untilStopSignal({ onForce: () => forced++ });
  process.emit("SIGINT", "SIGINT");
  process.emit("SIGINT", "SIGINT");
  assert.equal(await stopped, "SIGINT");
  assert.equal(forced, 0);
  assert.equal(listeners(), before + 2);
  for (const s of ["SIGINT", "SIGTERM"] as const)
    for (const l of process.listeners(s).slice(-1)) process.off(s, l as never);
});
