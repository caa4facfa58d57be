import { test } from "node:test";
import assert from "node:assert/strict";
import { resourceByName } from "./resources.js";
import { humanDuration, toTable } from "./table.js";

test("humanDuration matches kube's rounding", () => {
  const cases: Array<[number, string]> = [
    [0, "0s"],
    [59_000, "59s"],
    [119_000, "119s"],
    [150_000, "2m30s"],
    [600_000, "10m"],
    [3 * 3600_000, "3h"],
    [3 * 3600_000 + 120_000, "3h2m"],
    [50 * 3600_000, "2d2h"],
    [400 * 86400_000, "400d"],
    [800 * 86400_000, "2y70d"],
    [-5_000, "<invalid>"],
  ];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, String(ms));
});

test("Secret table: NAME, TYPE, DATA, AGE, metadata objects by default, headers omitted on request", () => {
  const info = resourceByName("secrets");
  assert.ok(info);
  const now = Date.parse("2026-01-01T00:01:00Z");
  const secret = {
    apiVersion: "v1",
    kind: "Secret",
    metadata: { name: "s", namespace: "d", creationTimestamp: "2026-01-01T00:00:00Z" },
    data: { a: "", b: "" },
  };
  const t = toTable(
    info,
    [secret],
    { resourceVersion: "5" },
    { includeObject: "Metadata", noHeaders: false, nowMs: now },
  ) as {
    columnDefinitions: Array<{ name: string }>;
    rows: Array<{ cells: unknown[]; object: { kind: string } }>;
  };
  assert.deepEqual(
    t.columnDefinitions.map((c) => c.name),
    ["Name", "Type", "Data", "Age"],
  );
  assert.deepEqual(t.rows[0]?.cells, ["s", "Opaque", 2, "60s"]);
  assert.equal(t.rows[0]?.object.kind, "PartialObjectMetadata");
  const bare = toTable(info, [secret], {}, { includeObject: "None", noHeaders: true, nowMs: now });
  assert.equal(bare.columnDefinitions, undefined);
  assert.equal((bare.rows as Array<Record<string, unknown>>)[0]?.object, undefined);
});
