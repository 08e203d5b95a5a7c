/**
 * Group commit for one kind of statement: calls made in the same turn of the event loop, or while a
 * batch is running, run together as one batch. A lone call waits one setImmediate hop at most (no
 * timer); under load many statements become one, which is where an embedded PGlite (each statement
 * a synchronous WASM run that blocks the loop) and a PostgreSQL round trip spend their time.
 *
 * A batch's callers are resumed RESOLVE_SLICE at a time, a setImmediate hop apart: each goes on
 * synchronously (a refresh: the guard, the Plaid client, a new connection), and 200 of them in one
 * microtask run held the event loop for hundreds of milliseconds when 10,000 refreshes arrived at once.
 */
const RESOLVE_SLICE = 16;

export class GroupBatcher<I, O> {
  private queue: { readonly input: I; resolve(output: O): void; reject(error: unknown): void }[] = [];
  private running = false;

  /**
   * `run` answers one output per input, in order. If it throws, the batch is run again one input at
   * a time when `retrySingly(error)` says so (one caller's bad input must not fail the others');
   * otherwise every call of that batch rejects.
   */
  constructor(
    private readonly run: (inputs: readonly I[]) => Promise<readonly O[]>,
    private readonly options: { readonly maxBatch?: number; readonly retrySingly?: (error: unknown) => boolean } = {},
  ) {}

  call(input: I): Promise<O> {
    return new Promise<O>((resolve, reject) => {
      this.queue.push({ input, resolve, reject });
      if (!this.running) {
        this.running = true;
        // After the I/O callbacks of this turn, so requests parsed together are read together.
        setImmediate(() => void this.drain());
      }
    });
  }

  private async drain(): Promise<void> {
    try {
      while (this.queue.length > 0) {
        const batch = this.queue.splice(0, this.options.maxBatch ?? 200);
        try {
          const outputs = await this.run(batch.map((entry) => entry.input));
          for (let start = 0; start < batch.length; start += RESOLVE_SLICE) {
            if (start > 0) await new Promise<void>((resolve) => setImmediate(resolve));
            const end = Math.min(batch.length, start + RESOLVE_SLICE);
            for (let i = start; i < end; i++) batch[i]?.resolve(outputs[i] as O);
          }
        } catch (error) {
          if (batch.length > 1 && this.options.retrySingly?.(error)) await this.runSingly(batch);
          else for (const entry of batch) entry.reject(error);
        }
      }
    } finally {
      this.running = false;
    }
  }

  private async runSingly(batch: readonly { readonly input: I; resolve(output: O): void; reject(error: unknown): void }[]): Promise<void> {
    await Promise.all(
      batch.map(async (entry) => {
        try {
          const [output] = await this.run([entry.input]);
          entry.resolve(output as O);
        } catch (error) {
          entry.reject(error);
        }
      }),
    );
  }
}
