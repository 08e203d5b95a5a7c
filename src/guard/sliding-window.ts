/**
 * The times of calls within a sliding window, oldest first. Expired calls are dropped by moving a
 * head index (the array is compacted only now and then), so a call costs O(1) amortised however
 * high the limit: a per-client window of 100 000 calls is not copied on every refresh.
 */
export class SlidingWindow {
  private times: number[] = [];
  private head = 0;

  /** Forgets calls at or before `now - windowMs`; returns how many are left. */
  prune(now: number, windowMs: number): number {
    const cutoff = now - windowMs;
    while (this.head < this.times.length && (this.times[this.head] ?? Infinity) <= cutoff) this.head++;
    if (this.head === this.times.length) {
      this.times = [];
      this.head = 0;
    } else if (this.head >= 1024 && this.head * 2 >= this.times.length) {
      this.times = this.times.slice(this.head);
      this.head = 0;
    }
    return this.size;
  }

  get size(): number {
    return this.times.length - this.head;
  }

  /** The `index`-th oldest call in the window. */
  at(index: number): number | undefined {
    return this.times[this.head + index];
  }

  /** Records a call; times are expected in order (they come from one clock). */
  push(time: number): void {
    this.times.push(time);
  }
}
