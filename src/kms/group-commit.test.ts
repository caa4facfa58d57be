import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { GroupCommit } from "./group-commit.js";

describe("GroupCommit", () => {
  it("batches items submitted together and settles each after its flush", async () => {
    const batches: number[][] = [];
    const gc = new GroupCommit<number, number>(async (items) => {
      batches.push(items);
      await new Promise((r) => setTimeout(r, 5));
      return items.map((i) => i * 10);
    });
    const first = await Promise.all([1, 2, 3].map((i) => gc.submit(i)));
    assert.deepEqual(first, [10, 20, 30]);
    assert.deepEqual(batches, [[1, 2, 3]]);
  });

  it("a failed flush rejects exactly that batch; later batches still run", async () => {
    let calls = 0;
    const gc = new GroupCommit<number, number>((items) => {
      calls++;
      return calls === 1 ? Promise.reject(new Error("disk full")) : Promise.resolve(items);
    });
    await assert.rejects(gc.submit(1), /disk full/);
    assert.equal(await gc.submit(2), 2);
    await gc.idle();
  });

  it("respects maxBatch", async () => {
    const sizes: number[] = [];
    const gc = new GroupCommit<number, number>(
      (items) => (sizes.push(items.length), Promise.resolve(items)),
      { maxBatch: 2 },
    );
    await Promise.all([1, 2, 3, 4, 5].map((i) => gc.submit(i)));
    assert.deepEqual(sizes, [2, 2, 1]);
  });
});
