import { test } from "node:test";
import assert from "node:assert/strict";
import { jsonProgress, ttyProgress } from "./progress.js";

const progress = (done: number, total: number) => ({
  event: "progress" as const,
  stage: "rewrite" as const,
  total,
  rewritten: done,
  unchanged: 0,
  conflictsRetried: 1,
  skippedDeleted: 0,
  remaining: total - done,
  ratePerSecond: 1234.5,
  etaSeconds: total - done > 0 ? 75 : 0,
});

test("on a TTY: stage lines and a progress bar with count, rate and ETA, redrawn in place", () => {
  let out = "";
  let now = 0;
  const sink = ttyProgress(
    (s) => (out += s),
    () => now,
    100,
  );
  sink({ event: "stage", stage: "rewrite", state: "started" });
  sink(progress(500, 1000));
  now = 50;
  sink(progress(600, 1000)); // too soon: not drawn
  now = 200;
  sink(progress(1000, 1000));
  sink({ event: "stage", stage: "rewrite", state: "succeeded" });
  assert.match(out, /^▶ rewrite\n/);
  assert.match(
    out,
    /\r {2}rewrite \[#{15}\.{15}\] 500\/1000 \(500 rewritten, 1 conflicts\) 1234\.5\/s ETA 1m15s/,
  );
  assert.doesNotMatch(out, /600\/1000/);
  assert.match(out, /\[#{30}\] 1000\/1000 .* ETA 0s {3}\n✓ rewrite\n$/);
});

test("otherwise: one JSON line per event, rewrite progress throttled but the last always written", () => {
  const lines: string[] = [];
  let now = 0;
  const sink = jsonProgress(
    (l) => lines.push(l),
    () => now,
    250,
  );
  sink(progress(1, 10));
  now = 10;
  sink(progress(2, 10));
  now = 20;
  sink(progress(10, 10));
  const events = lines.map((l) => JSON.parse(l) as { event: string; rewritten: number; ts: string });
  assert.deepEqual(
    events.map((e) => e.rewritten),
    [1, 10],
  );
  assert.ok(lines.every((l) => l.endsWith("\n")));
  assert.equal(events[0]?.ts, new Date(0).toISOString());
});
