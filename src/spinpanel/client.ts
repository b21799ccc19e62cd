import { setTimeout as delay } from 'node:timers/promises';
import axios, { type AxiosInstance } from 'axios';
import { RollingWindowPacer } from '../net/pacer.ts';
import { withRetry } from '../net/retry.ts';
import { classifySpinPanelError, isCancellation, SpinPanelError, toSpinPanelError } from './errors.ts';

export { classifySpinPanelError, SpinPanelError } from './errors.ts';

export interface SpinPanelClientOptions {
  /**
   * Items per list request, 1–500. @defaultValue 500 — the API's maximum, to spend as few of the
   * 600 requests per minute as possible.
   */
  pageSize?: number;
  /** How many 429/503 `Retry-After` waits one request may sit out before it gives up. @defaultValue 5 */
  maxThrottleWaits?: number;
  /** Tries of one request on transient failures (5xx, network, timeouts), the first included. @defaultValue 4 */
  maxAttempts?: number;
  /**
   * Requests this client starts in any rolling minute. @defaultValue 600 — SpinPanel's documented limit per
   * API key. Counted per client, so per process: runs of one key in several processes are not paced together.
   */
  requestsPerMinute?: number;
  /** Injected so tests do not wait in real time. */
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** The pacer's clock. */
  now?: () => number;
  /** Aborts in-flight requests and throttle waits (run cancelled, consent revoked). */
  signal?: AbortSignal;
}

export type Params = Record<string, string | number | undefined>;

interface Page {
  items: unknown[];
  nextPageToken: string | null;
}

/**
 * The SpinPanel source API. Records come back raw (`unknown`): validation and quarantine live in
 * `snapshot.ts`, so one bad record never fails a request. The axios instance comes from the gate, already
 * bound to one link (base URL, bearer key, consent check); this class never builds its own.
 */
export class SpinPanelClient {
  private readonly pageSize: number;
  private readonly maxThrottleWaits: number;
  private readonly maxAttempts: number;
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly random: (() => number) | undefined;
  private readonly signal: AbortSignal | undefined;
  private readonly pacer: RollingWindowPacer;

  constructor(
    private readonly http: AxiosInstance,
    opts: SpinPanelClientOptions = {},
  ) {
    const pageSize = opts.pageSize ?? 500;
    if (!Number.isInteger(pageSize) || pageSize < 1 || pageSize > 500) {
      throw new RangeError(`pageSize must be an integer between 1 and 500, got ${pageSize}`);
    }
    this.pageSize = pageSize;
    this.maxThrottleWaits = opts.maxThrottleWaits ?? 5;
    this.maxAttempts = opts.maxAttempts ?? 4;
    this.random = opts.random;
    this.signal = opts.signal;
    // The default wait ends early when the run is cancelled.
    this.sleep = opts.sleep ?? ((ms) => delay(ms, undefined, { signal: this.signal }));
    this.pacer = new RollingWindowPacer({
      limit: opts.requestsPerMinute ?? 600,
      windowMs: 60_000,
      now: opts.now,
      sleep: (ms) => this.sleep(ms),
    });
  }

  getAccount(): Promise<unknown> {
    return this.get('/account');
  }

  /** Every page of a list, following `nextPageToken` until it is null. */
  async *pages(path: string, params: Params = {}): AsyncGenerator<unknown[], void, undefined> {
    const seen = new Set<string>();
    let pageToken: string | undefined;
    do {
      const body = await this.get(path, { ...params, pageSize: this.pageSize, pageToken });
      const page = readPage(body, path);
      yield page.items;
      pageToken = page.nextPageToken ?? undefined;
      // A server that hands out the same token twice would otherwise keep us paging forever.
      if (pageToken !== undefined) {
        if (seen.has(pageToken)) throw malformed(path, 'nextPageToken repeats an earlier token');
        seen.add(pageToken);
      }
    } while (pageToken !== undefined);
  }

  listCustomers(opts: { updatedSince?: string } = {}): Promise<unknown[]> {
    return this.all('/customers', { updatedSince: opts.updatedSince });
  }

  listSubscriptions(customerId: string, opts: { updatedSince?: string } = {}): Promise<unknown[]> {
    return this.all(`/customers/${encodeURIComponent(customerId)}/subscriptions`, {
      updatedSince: opts.updatedSince,
    });
  }

  /** Azure usage of one month (`YYYY-MM`). */
  listUsage(customerId: string, period: string): Promise<unknown[]> {
    return this.all(`/customers/${encodeURIComponent(customerId)}/usage`, { period });
  }

  private async all(path: string, params: Params): Promise<unknown[]> {
    const items: unknown[] = [];
    for await (const page of this.pages(path, params)) items.push(...page);
    return items;
  }

  /**
   * One paced GET under the retry helper and `classifySpinPanelError`: sits out 429/503 `Retry-After` up to
   * `maxThrottleWaits` times, retries transient failures with backoff up to `maxAttempts`, throws everything else.
   * A page is a plain read, so repeating it is always safe.
   */
  private get(path: string, params?: Params): Promise<unknown> {
    return withRetry(
      async () => {
        await this.pacer.take(this.signal);
        try {
          const res = await this.http.get(path, { params: dropUndefined(params), signal: this.signal });
          return res.data;
        } catch (err) {
          // Cancellation and anything the gate throws (e.g. consent revoked) pass through untouched.
          if (isCancellation(err) || !axios.isAxiosError(err)) throw err;
          throw toSpinPanelError('GET', path, err);
        }
      },
      {
        classify: classifySpinPanelError,
        attempts: this.maxAttempts,
        maxThrottleWaits: this.maxThrottleWaits,
        signal: this.signal,
        sleep: (ms) => this.sleep(ms),
        random: this.random,
      },
    );
  }
}

function dropUndefined(params: Params | undefined): Record<string, string | number> | undefined {
  if (!params) return undefined;
  const out: Record<string, string | number> = {};
  for (const [k, v] of Object.entries(params)) if (v !== undefined) out[k] = v;
  return out;
}

function readPage(body: unknown, path: string): Page {
  if (typeof body !== 'object' || body === null) throw malformed(path, 'expected a JSON object');
  const { items, nextPageToken } = body as Record<string, unknown>;
  if (!Array.isArray(items)) throw malformed(path, 'items is not an array');
  if (nextPageToken !== null && nextPageToken !== undefined && typeof nextPageToken !== 'string') {
    throw malformed(path, 'nextPageToken is neither a string nor null');
  }
  return { items, nextPageToken: nextPageToken || null };
}

/** A list response we cannot page through is permanent: retrying gets the same body. */
function malformed(path: string, detail: string): SpinPanelError {
  return new SpinPanelError({
    method: 'GET',
    path,
    title: 'malformed list response',
    detail,
    transient: false,
  });
}
