import { BudgetExhaustedError, type LinkLimits, type TargetBudget } from '../types.ts';

/** Autotask: at most 3 concurrent requests per (integration code, object endpoint). */
export const THREADS_PER_ENDPOINT = 3;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;
/** Near the reserve, ThresholdInformation is read again before stopping, but not more often than this. */
const CONFIRM_AFTER_MS = 10_000;

/**
 * The endpoint Autotask counts a request against: the entity of `V1.0/<Entity>/…`, and for a child path
 * (`Contracts/12/Services`) the child entity (`ContractServices`), as Autotask names it.
 */
export function endpointOf(path: string): string {
  const seg = path.replace(/^V1\.0\//i, '').split(/[/?]/);
  const [head = '', id, child] = seg;
  if (id && /^\d+$/.test(id) && child) return `${head.replace(/ies$/i, 'y').replace(/s$/i, '')}${child}`;
  return head;
}

export interface BudgetOptions {
  /**
   * Share of the hourly threshold left to other integrations: the run stops before using it and resumes
   * when the window has room. @defaultValue 0.1
   */
  reserve?: number;
  /** Least gap between this link's requests once the database is at 50% of its budget; doubled from 75%. @defaultValue 500 */
  spacingMs?: number;
  /** ThresholdInformation is read again after this many of our requests (others use the budget too). @defaultValue 250 */
  refreshEvery?: number;
}

export interface Threshold {
  externalRequestThreshold: number;
  requestThresholdTimeframe?: number | null;
  currentTimeframeRequestCount: number;
}

export interface BudgetDeps {
  /** Reads ThresholdInformation; the call itself must not pass through `beforeRequest`. */
  read: () => Promise<Threshold>;
  limits: Pick<LinkLimits, 'usage'>;
  now?: () => number;
  sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/**
 * The shared hourly budget of an Autotask database (10,000 requests per rolling hour, every integration
 * together). Reads ThresholdInformation before the first request of a run and now and then after; between
 * reads it adds our own requests. From 50% it spaces our requests; before the reserve it stops the run with
 * BudgetExhaustedError, whose `retryAt` is when enough of the window should have cleared.
 */
export class HourlyBudget {
  private info: { limit: number; count: number } | undefined;
  /** The first and the latest reading, for the run record. */
  private first: Threshold | undefined;
  private last: Threshold | undefined;
  /** Our requests since the last read (reserved before they are sent, so concurrent ones count). */
  private since = 0;
  private reading: Promise<void> | undefined;
  private readAt: number | undefined;
  private nextAt = 0;
  private readonly reserve: number;
  private readonly spacingMs: number;
  private readonly refreshEvery: number;
  private readonly now: () => number;

  constructor(
    opts: BudgetOptions,
    private readonly deps: BudgetDeps,
  ) {
    this.reserve = opts.reserve ?? 0.1;
    this.spacingMs = opts.spacingMs ?? 500;
    this.refreshEvery = opts.refreshEvery ?? 250;
    this.now = deps.now ?? Date.now;
    if (!(this.reserve >= 0 && this.reserve < 0.5)) throw new RangeError('reserve must be in [0, 0.5)');
  }

  /** What the budget looked like at the last read, plus our requests since (for run records and logs). */
  snapshot(): { limit: number; used: number } | undefined {
    return this.info && { limit: this.info.limit, used: this.info.count + this.since };
  }

  /**
   * The budget as this run saw it: the first reading and, when `fresh`, one more read now (it counts too);
   * otherwise the last reading plus this run's requests since. Never throws; undefined without any reading.
   */
  async report(fresh: boolean, requestsThisRun: () => number): Promise<TargetBudget | undefined> {
    const end = fresh ? await this.deps.read().catch(() => undefined) : undefined;
    const seen = end ?? this.last;
    if (!seen) return undefined;
    const estimate = end ? undefined : this.snapshot()?.used;
    return {
      threshold: seen.externalRequestThreshold,
      timeframeMinutes: seen.requestThresholdTimeframe ?? null,
      usedAtStart: this.first?.currentTimeframeRequestCount ?? null,
      usedAtEnd: end?.currentTimeframeRequestCount ?? estimate ?? null,
      ...(estimate !== undefined ? { usedAtEndEstimated: true as const } : {}),
      requestsThisRun: requestsThisRun(),
    };
  }

  /** Waits as the budget asks before one request, or throws BudgetExhaustedError. */
  async beforeRequest(signal?: AbortSignal): Promise<void> {
    // Requests arriving while a read is under way wait for its numbers.
    if (this.reading || this.readAt === undefined || this.since >= this.refreshEvery) await this.refresh();
    let used = this.used();
    if (used === undefined) {
      this.since++;
      return;
    }
    const { limit } = this.info!;
    const stopAt = Math.floor(limit * (1 - this.reserve));
    if (used + 1 > stopAt && this.since > 0 && this.now() - (this.readAt ?? 0) >= CONFIRM_AFTER_MS) {
      // Others' requests age out of the window too: confirm with fresh numbers before stopping.
      await this.refresh(true);
      used = this.used() ?? used;
    }
    if (used + 1 > stopAt) {
      const retryAt = await this.retryAt(used + 1 - stopAt, used);
      throw new BudgetExhaustedError(
        `Autotask's hourly request budget is at ${used} of ${limit} (stopping before the ${Math.round(this.reserve * 100)}% reserve); resuming at ${new Date(retryAt).toISOString()}`,
        retryAt,
      );
    }
    this.since++;
    const share = used / limit;
    if (share < 0.5) return;
    const gap = this.spacingMs * (share >= 0.75 ? 2 : 1);
    const now = this.now();
    const at = Math.max(now, this.nextAt);
    this.nextAt = at + gap;
    if (at > now) await this.deps.sleep(at - now, signal);
  }

  /**
   * When `need` requests should have left the rolling hour: our own oldest requests first (we know when they
   * age out); what others hold is assumed spread evenly over the hour. Between one minute and one hour ahead.
   */
  async retryAt(need: number, used: number): Promise<number> {
    const now = this.now();
    const own = await this.deps.limits
      .usage()
      .catch(() => ({ byMinute: [] as { at: number; count: number }[] }));
    let freed = 0;
    let at: number | undefined;
    for (const m of own.byMinute) {
      freed += m.count;
      if (freed >= need) {
        at = m.at + HOUR + MINUTE;
        break;
      }
    }
    at ??= now + Math.ceil((HOUR * need) / Math.max(used, 1));
    return Math.min(now + HOUR, Math.max(now + MINUTE, at));
  }

  /** Autotask refused at 100% without saying for how long: resume once the reserve's worth has cleared. */
  async refusedRetryAt(): Promise<number> {
    const limit = this.info?.limit ?? 10_000;
    return this.retryAt(Math.max(1, Math.ceil(limit * this.reserve)), limit);
  }

  private used(): number | undefined {
    return this.info ? this.info.count + this.since : undefined;
  }

  private refresh(force = false): Promise<void> {
    if (this.reading) return this.reading;
    if (!force && this.readAt !== undefined && this.since < this.refreshEvery) return Promise.resolve();
    this.readAt = this.now();
    this.reading = this.deps
      .read()
      .then((t) => {
        // The read itself is counted in currentTimeframeRequestCount.
        this.info = { limit: t.externalRequestThreshold, count: t.currentTimeframeRequestCount };
        this.first ??= t;
        this.last = t;
        this.since = 0;
      })
      .catch((err: unknown) => {
        if (err instanceof BudgetExhaustedError) throw err;
        // Without the numbers the run goes on unpaced; Autotask's own refusal at 100% still stops it.
        this.since = 0;
      })
      .finally(() => {
        this.reading = undefined;
      });
    return this.reading;
  }
}
