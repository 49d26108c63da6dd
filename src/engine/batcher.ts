/**
 * Natural batching for the job lifecycle's write-backs (docs/decisions/0002): the first call
 * goes out at once; calls made while a batch is in flight wait and go out together as the next batch,
 * in one statement and one transaction. At low load nothing waits; under load, N concurrent jobs cost
 * one round trip and one commit instead of N.
 * If a batch fails, each of its items is run alone (`runOne`), so one bad item cannot fail the others.
 */
export class Batcher<I, O> {
  private queue: { item: I; resolve: (o: O) => void; reject: (e: unknown) => void }[] = [];
  private inFlight = 0;

  /**
   * @param runMany runs a batch; must return one output per input, in order
   * @param runOne  runs one item (the fallback after a failed batch)
   * @param maxBatch most items per batch
   */
  constructor(
    private readonly runMany: (items: I[]) => Promise<O[]>,
    private readonly runOne: (item: I) => Promise<O>,
    private readonly maxBatch = 100,
  ) {}

  call(item: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ item, resolve, reject });
      if (this.inFlight === 0) void this.flush();
    });
  }

  private async flush(): Promise<void> {
    this.inFlight++;
    while (this.queue.length) {
      const batch = this.queue.splice(0, this.maxBatch);
      try {
        const out = batch.length === 1 ? [await this.runOne(batch[0]!.item)] : await this.runMany(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(out[i]!));
      } catch (err) {
        if (batch.length === 1) batch[0]!.reject(err);
        else await Promise.all(batch.map((b) => this.runOne(b.item).then(b.resolve, b.reject)));
      }
    }
    this.inFlight--;
  }
}
