import { setTimeout as delay } from 'node:timers/promises';
import axios, { type AxiosInstance } from 'axios';
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
  /** Injected so tests do not wait in real time. */
  sleep?: (ms: number) => Promise<void>;
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
  private readonly sleep: (ms: number) => Promise<void>;
  private readonly signal: AbortSignal | undefined;

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
    this.signal = opts.signal;
    // The default wait ends early when the run is cancelled.
    this.sleep = opts.sleep ?? ((ms) => delay(ms, undefined, { signal: this.signal }));
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

  /** One GET; sits out 429/503 `Retry-After` up to `maxThrottleWaits` times, throws everything else. */
  private async get(path: string, params?: Params): Promise<unknown> {
    for (let waits = 0; ; waits++) {
      try {
        const res = await this.http.get(path, { params: dropUndefined(params), signal: this.signal });
        return res.data;
      } catch (err) {
        // Cancellation and anything the gate throws (e.g. consent revoked) pass through untouched.
        if (isCancellation(err) || !axios.isAxiosError(err)) throw err;
        const error = toSpinPanelError('GET', path, err);
        const c = classifySpinPanelError(error);
        if (c.kind !== 'throttled' || waits >= this.maxThrottleWaits) throw error;
        await this.sleep(c.waitMs ?? 0);
        // The wait may have outlived the run: do not send another request for a cancelled one.
        this.signal?.throwIfAborted();
      }
    }
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
