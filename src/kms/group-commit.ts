/**
 * Collects items submitted while a flush is running and writes them together in the next flush (group
 * commit): one transaction per batch instead of one per request. A submitter's promise settles only
 * after its batch's flush has finished, so nothing is acknowledged before it is durable.
 */
export class GroupCommit<T, R> {
  readonly #flush: (items: T[]) => Promise<R[]>;
  readonly #maxBatch: number;
  #queue: Array<{ item: T; resolve: (r: R) => void; reject: (e: unknown) => void }> = [];
  #running: Promise<void> | undefined;

  constructor(flush: (items: T[]) => Promise<R[]>, options: { maxBatch?: number } = {}) {
    this.#flush = flush;
    this.#maxBatch = options.maxBatch ?? 256;
  }

  submit(item: T): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (this.#running === undefined) this.#running = this.#drain();
    });
  }

  /** Resolves when everything submitted so far has been flushed. */
  async idle(): Promise<void> {
    while (this.#running !== undefined) await this.#running;
  }

  async #drain(): Promise<void> {
    // Let the requests of this event-loop turn join the batch.
    await new Promise<void>((r) => setImmediate(r));
    while (this.#queue.length > 0) {
      const batch = this.#queue.splice(0, this.#maxBatch);
      try {
        const results = await this.#flush(batch.map((b) => b.item));
        batch.forEach((b, i) => b.resolve(results[i] as R));
      } catch (err) {
        for (const b of batch) b.reject(err);
      }
    }
    this.#running = undefined;
  }
}
