import { BudgetExhaustedError, type LinkLimits, type TargetBudget } from '../types.ts';

/**
 * Business Central online's limits per user or service principal (NOTES 10): 5 requests processed at once
 * (more queue, and a full queue answers 429) and 6,000 requests in any 5 minutes (then 429).
 */
export const CONCURRENT_REQUESTS = 5;
export const WINDOW_LIMIT = 6_000;
const MINUTE = 60_000;
export const WINDOW_MS = 5 * MINUTE;
/**
 * BC counts requests per user, not per endpoint: every request of a link takes a slot under this one key.
 * (Two links sharing one service principal share BC's limits but not these slots: see the report.)
 */
export const LIMITS_ENDPOINT = 'navision';

/** Near the stopping point, our own log is read again before stopping, but not more often than this. */
const CONFIRM_AFTER_MS = 1_000;

export interface WindowBudgetOptions {
  /** Requests allowed in the window. @defaultValue 6000 */
  limit?: number;
  /** @defaultValue 300000 (5 minutes) — the LinkLimits' request log must cover the same window. */
  windowMs?: number;
  /** Share of the window left to the user's other integrations: never spent by a run. @defaultValue 0.1 */
  reserve?: number;
  /**
   * Least gap between this client's requests once half the window is used; doubled from 75%.
   * @defaultValue 50 (6,000 requests in 5 minutes is one per 50 ms)
   */
  spacingMs?: number;
  /** The shared log is read again after this many of our requests… @defaultValue 100 */
  refreshEvery?: number;
  /** …or when the last reading is this old (the window slides quickly). @defaultValue 10000 */
  refreshAfterMs?: number;
  /** A spent window that clears within this long is waited for in place; a longer wait defers the run. @defaultValue 30000 */
  maxInlineWaitMs?: number;
}

export interface WindowBudgetDeps {
  /** The link's request log, shared by every worker process, over the same window. */
  limits: Pick<LinkLimits, 'usage'>;
  now?: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * BC's sliding window of 6,000 requests per 5 minutes, spent like Autotask's hourly budget: BC does not tell
 * how much of it is used, so the count is the link's own request log (every worker process's requests), read
 * now and then, plus this client's requests since. From half the window it spaces requests; before the
 * reserve it waits for the window to clear when that is soon, else stops the run with BudgetExhaustedError
 * whose `retryAt` is when the window should have room. The user's other integrations are not seen: the
 * reserve is left for them, and BC's own 429s are waited out by the retry helper.
 */
export class WindowBudget {
  private count: number | undefined;
  private first: number | undefined;
  private since = 0;
  private reading: Promise<void> | undefined;
  private readAt: number | undefined;
  private nextAt = 0;
  private readonly limit: number;
  private readonly windowMs: number;
  private readonly reserve: number;
  private readonly spacingMs: number;
  private readonly refreshEvery: number;
  private readonly refreshAfterMs: number;
  private readonly maxInlineWaitMs: number;
  private readonly now: () => number;

  constructor(
    opts: WindowBudgetOptions,
    private readonly deps: WindowBudgetDeps,
  ) {
    this.limit = opts.limit ?? WINDOW_LIMIT;
    this.windowMs = opts.windowMs ?? WINDOW_MS;
    this.reserve = opts.reserve ?? 0.1;
    this.spacingMs = opts.spacingMs ?? Math.round(this.windowMs / this.limit);
    this.refreshEvery = opts.refreshEvery ?? 100;
    this.refreshAfterMs = opts.refreshAfterMs ?? 10_000;
    this.maxInlineWaitMs = opts.maxInlineWaitMs ?? 30_000;
    this.now = deps.now ?? Date.now;
    if (!(this.reserve >= 0 && this.reserve < 0.5)) throw new RangeError('reserve must be in [0, 0.5)');
  }

  /** The window as last read plus our requests since (for logs). */
  snapshot(): { limit: number; used: number } | undefined {
    return this.count === undefined ? undefined : { limit: this.limit, used: this.count + this.since };
  }

  /** Waits as the window asks before one request, or throws BudgetExhaustedError. */
  async beforeRequest(signal?: AbortSignal): Promise<void> {
    let waited = false;
    for (;;) {
      if (this.reading || this.stale()) await this.refresh();
      let used = this.used();
      if (used === undefined) {
        // No reading (the log could not be read): unpaced; BC's own 429s are still waited out.
        this.since++;
        return;
      }
      const stopAt = Math.floor(this.limit * (1 - this.reserve));
      if (used + 1 > stopAt && this.since > 0 && this.now() - (this.readAt ?? 0) >= CONFIRM_AFTER_MS) {
        // Requests leave the window every second: confirm with fresh numbers before waiting or stopping.
        await this.refresh(true);
        used = this.used() ?? used;
      }
      if (used + 1 > stopAt) {
        const retryAt = await this.retryAt(used + 1 - stopAt, used);
        const wait = retryAt - this.now();
        if (!waited && wait <= this.maxInlineWaitMs) {
          waited = true;
          await this.deps.sleep(wait, signal);
          await this.refresh(true);
          continue;
        }
        throw new BudgetExhaustedError(
          `Business Central's request window is at ${used} of ${this.limit} requests in ${this.windowMs / MINUTE} minutes (stopping before the ${Math.round(this.reserve * 100)}% reserve); resuming at ${new Date(retryAt).toISOString()}`,
          retryAt,
        );
      }
      this.since++;
      const share = used / this.limit;
      if (share < 0.5) return;
      const gap = this.spacingMs * (share >= 0.75 ? 2 : 1);
      const now = this.now();
      const at = Math.max(now, this.nextAt);
      this.nextAt = at + gap;
      if (at > now) await this.deps.sleep(at - now, signal);
      return;
    }
  }

  /**
   * When `need` requests should have left the window: the log's oldest buckets first (we know when they age
   * out), else assuming the window's requests spread evenly. Between one bucket and one window ahead.
   */
  async retryAt(need: number, used: number): Promise<number> {
    const now = this.now();
    const bucketMs = Math.round(this.windowMs / 60);
    const own = await this.deps.limits
      .usage()
      .catch(() => ({ byMinute: [] as { at: number; count: number }[] }));
    let freed = 0;
    let at: number | undefined;
    for (const b of own.byMinute) {
      freed += b.count;
      if (freed >= need) {
        at = b.at + this.windowMs + bucketMs;
        break;
      }
    }
    at ??= now + Math.ceil((this.windowMs * need) / Math.max(used, 1));
    return Math.min(now + this.windowMs, Math.max(now + bucketMs, at));
  }

  /**
   * The window as this run saw it, for the run record: the first reading and, when `fresh`, one more read of
   * the log now (it sends nothing to BC); otherwise the last reading plus this run's requests since. `used`
   * counts this link's requests, every worker process's — BC does not say what the user's others sent.
   * Never throws; undefined when the log was never read.
   */
  async report(fresh: boolean, requestsThisRun: () => number): Promise<TargetBudget | undefined> {
    const end = fresh
      ? await this.deps.limits
          .usage()
          .then((u) => u.count)
          .catch(() => undefined)
      : undefined;
    if (end === undefined && this.count === undefined) return undefined;
    const estimate = end === undefined ? this.snapshot()?.used : undefined;
    return {
      threshold: this.limit,
      timeframeMinutes: this.windowMs / MINUTE,
      usedAtStart: this.first ?? null,
      usedAtEnd: end ?? estimate ?? null,
      ...(estimate !== undefined ? { usedAtEndEstimated: true as const } : {}),
      requestsThisRun: requestsThisRun(),
    };
  }

  private stale(): boolean {
    return (
      this.readAt === undefined ||
      this.since >= this.refreshEvery ||
      this.now() - this.readAt >= this.refreshAfterMs
    );
  }

  private used(): number | undefined {
    return this.count === undefined ? undefined : this.count + this.since;
  }

  private refresh(force = false): Promise<void> {
    if (this.reading) return this.reading;
    if (!force && !this.stale()) return Promise.resolve();
    this.readAt = this.now();
    this.reading = this.deps.limits
      .usage()
      .then((u) => {
        this.count = u.count;
        this.first ??= u.count;
        this.since = 0;
      })
      .catch(() => {
        // Without the numbers the run goes on with the last ones (or unpaced); BC's 429s still stop it.
        this.since = 0;
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }
}
