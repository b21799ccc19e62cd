import { setTimeout as delay } from 'node:timers/promises';
import type { Sleep } from './retry.ts';

export interface PacerOptions {
  /** Requests allowed in any rolling window. */
  limit: number;
  /** @defaultValue 60000 */
  windowMs?: number;
  /** Injected so tests run on a fake clock. */
  now?: () => number;
  sleep?: Sleep;
}

/**
 * Keeps request starts under `limit` in any rolling window by waiting for the oldest start to leave it. It counts
 * only the requests of this instance, so of this process: several processes sharing one key each keep their own
 * count and may, together, exceed the limit (the target's 429s are still waited out by the retry helper).
 */
export class RollingWindowPacer {
  private readonly starts: number[] = [];
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly now: () => number;
  private readonly sleep: Sleep;

  constructor(opts: PacerOptions) {
    if (!Number.isInteger(opts.limit) || opts.limit < 1) {
      throw new RangeError(`a pacer's limit must be a positive integer, got ${opts.limit}`);
    }
    this.limit = opts.limit;
    this.windowMs = opts.windowMs ?? 60_000;
    this.now = opts.now ?? Date.now;
    this.sleep = opts.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
  }

  /** Resolves when one more request may start, and counts it as started. */
  async take(signal?: AbortSignal): Promise<void> {
    for (;;) {
      signal?.throwIfAborted();
      const now = this.now();
      while (this.starts.length > 0 && this.starts[0]! <= now - this.windowMs) this.starts.shift();
      // Checked and counted without an await between: concurrent callers cannot both take the last slot.
      if (this.starts.length < this.limit) {
        this.starts.push(now);
        return;
      }
      await this.sleep(this.starts[0]! + this.windowMs - now, signal);
    }
  }
}
