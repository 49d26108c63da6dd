/** The write-back batcher (src/engine/batcher.ts): natural batching and the per-item fallback. */
import { describe, expect, it } from "vitest";
import { Batcher } from "../../src/engine/batcher.js";

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("Batcher", () => {
  it("sends the first call alone and the calls made meanwhile together, in order", async () => {
    const batches: number[][] = [];
    const b = new Batcher<number, number>(
      async (items) => {
        batches.push(items);
        await tick();
        return items.map((i) => i * 10);
      },
      async (item) => {
        batches.push([item]);
        await tick();
        return item * 10;
      },
    );
    const out = await Promise.all([1, 2, 3, 4].map((i) => b.call(i)));
    expect(out).toEqual([10, 20, 30, 40]);
    expect(batches).toEqual([[1], [2, 3, 4]]);
  });

  it("runs each item of a failed batch alone, so one bad item fails only its own call", async () => {
    const b = new Batcher<number, number>(
      async (items) => {
        await tick();
        if (items.includes(3)) throw new Error("batch failed");
        return items;
      },
      async (item) => {
        await tick();
        if (item === 3) throw new Error("item 3 is bad");
        return item;
      },
    );
    const results = await Promise.allSettled([1, 2, 3, 4].map((i) => b.call(i)));
    expect(results.map((r) => (r.status === "fulfilled" ? r.value : (r.reason as Error).message))).toEqual([1, 2, "item 3 is bad", 4]);
  });

  it("keeps at most maxBatch items in one batch", async () => {
    const sizes: number[] = [];
    const b = new Batcher<number, number>(
      async (items) => {
        sizes.push(items.length);
        await tick();
        return items;
      },
      async (item) => {
        sizes.push(1);
        await tick();
        return item;
      },
      3,
    );
    await Promise.all(Array.from({ length: 8 }, (_, i) => b.call(i)));
    expect(sizes).toEqual([1, 3, 3, 1]);
  });
});
