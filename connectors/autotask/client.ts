import { setTimeout as delay } from 'node:timers/promises';
import axios, { type AxiosError, type AxiosInstance, type AxiosRequestConfig, type Method } from 'axios';
import { assertHostAllowed, type HostPolicy } from '../../src/net/host-policy.ts';
import { isCancellation, parseRetryAfter, plainTextHint } from '../../src/net/http.ts';
import { backoffMs, withRetry } from '../../src/net/retry.ts';
import { createMemoryLimits } from '../limits-memory.ts';
import {
  BudgetExhaustedError,
  type Classified,
  type FailureKind,
  isBudgetExhausted,
  type LinkLimits,
  TargetError,
} from '../types.ts';
import { type BudgetOptions, endpointOf, HourlyBudget, THREADS_PER_ENDPOINT } from './limits.ts';

export { backoffMs, isCancellation, parseRetryAfter };

import {
  type AutotaskCredentials,
  ItemIdResponse,
  QueryResponse,
  ThresholdInformation,
  ZoneInformation,
} from './schemas.ts';

/** One condition of an Autotask query; groups (`and`/`or`) nest `items`. */
export interface Filter {
  op: string;
  field?: string;
  value?: unknown;
  udf?: boolean;
  items?: Filter[];
}

/** The hosts Autotask serves its zones from (webservices1…N.autotask.net, sandboxes included). */
export const AUTOTASK_HOSTS: readonly string[] = ['*.autotask.net'];

/** Zones on Autotask's hosts over https, or on `extra` hosts a sandbox adds (http allowed). */
export const autotaskZonePolicy = (extra: readonly string[] = []): HostPolicy => ({
  owner: 'Autotask',
  https: AUTOTASK_HOSTS,
  extra,
});

/** Autotask's page size and the most an `in` list should carry. */
export const MAX_RECORDS = 500;

export interface AutotaskClientOptions {
  http: AxiosInstance;
  credentials: AutotaskCredentials;
  /** e.g. https://webservices.autotask.net/atservicesrest/v1.0/zoneInformation */
  zoneLookupUrl: string;
  /** A zone already known (cached on the link): skips the lookup. */
  zoneUrl?: string;
  /**
   * Where a zone may be: checked before anything is sent to it, looked up or given. The registry always sets
   * it (`autotaskZonePolicy`); unset, any zone is used — only tests that build a client by hand leave it out.
   */
  zonePolicy?: HostPolicy;
  signal?: AbortSignal;
  /** Per-request timeout; unset leaves the gate's instance default in force. */
  timeoutMs?: number;
  /** Throttle waits one request may sit out; they do not count as attempts. @defaultValue 20 */
  maxThrottleWaits?: number;
  /** Attempts of an idempotent request on transient failures. @defaultValue 4 */
  maxAttempts?: number;
  /**
   * A throttle wait longer than this (e.g. the hourly budget is spent) is not sat out inside the request:
   * the error is thrown so the engine can reschedule the run. @defaultValue 30000
   */
  maxInlineWaitMs?: number;
  /**
   * The link's thread slots and request log, shared by every process (Redis). Unset: this client alone keeps
   * to 3 requests per endpoint.
   */
  limits?: LinkLimits;
  /** Watch the shared hourly budget (reads ThresholdInformation first). Unset: not watched, e.g. for verify. */
  budget?: BudgetOptions;
  /** Injected so tests do not wait in real time. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

/**
 * A failed Autotask request. `name` stays 'TargetError' (it is one); the extra fields let
 * `classifyAutotaskError` decide without re-reading the response. The message never holds headers.
 */
export class AutotaskError extends TargetError {
  constructor(
    message: string,
    status: number | undefined,
    targetMessages: string[],
    readonly failure: FailureKind,
    readonly retryAfterMs?: number,
    options?: { cause?: unknown },
  ) {
    super(message, status, targetMessages, options);
  }
}

const THROTTLE_TEXT = /thread threshold|request threshold|threshold of \d+ (threads|requests)/i;
/** The hourly budget is spent (as opposed to too many threads): waiting seconds will not help. */
const HOURLY_TEXT = /request threshold|threshold of \d+ requests/i;

/** Autotask's words from an error body: `{"errors":[...]}`, `{"Message":...}`, or short plain text. */
export function targetMessages(data: unknown): { messages: string[]; business: boolean } {
  let body = data;
  if (typeof data === 'string') {
    try {
      body = JSON.parse(data);
    } catch {
      const text = plainTextHint(data, 300);
      return { messages: text ? [text] : [], business: false };
    }
  }
  if (typeof body !== 'object' || body === null) return { messages: [], business: false };
  const b = body as Record<string, unknown>;
  if (Array.isArray(b.errors)) {
    const messages = b.errors.map((e) => (typeof e === 'string' ? e : JSON.stringify(e)));
    return { messages, business: messages.length > 0 };
  }
  for (const k of ['Message', 'message', 'error']) {
    if (typeof b[k] === 'string' && b[k]) return { messages: [b[k] as string], business: false };
  }
  return { messages: [], business: false };
}

/** The one place that decides how a status and Autotask's words are handled. */
export function failureKind(status: number | undefined, messages: string[], business: boolean): FailureKind {
  if (status === 429 || messages.some((m) => THROTTLE_TEXT.test(m))) return 'throttled';
  if (status === undefined) return 'transient';
  if (status === 408) return 'transient';
  // A 500 naming a rule ({"errors":[...]}) will fail the same way again.
  if (status >= 500) return business ? 'permanent' : 'transient';
  return 'permanent';
}

/** Turns an axios failure into an AutotaskError. Callers pass cancellations and non-axios errors through. */
export function toAutotaskError(
  err: AxiosError,
  method: string,
  path: string,
  secret?: string,
): AutotaskError {
  const redact = (s: string) => (secret ? s.split(secret).join('***') : s);
  // The original holds the request config and its Secret header: keep only what is safe to log.
  const cause = Object.assign(new Error(redact(err.message)), { name: err.name, code: err.code });
  const res = err.response;
  if (!res) {
    const what = err.code ?? 'network error';
    return new AutotaskError(
      `Autotask ${method} ${path} failed: ${what}: ${redact(err.message)}`,
      undefined,
      [],
      'transient',
      undefined,
      { cause },
    );
  }
  const { messages: raw, business } = targetMessages(res.data);
  const messages = raw.map(redact);
  const kind = failureKind(res.status, messages, business);
  const text = messages.length > 0 ? messages.join('; ') : res.statusText || 'no message';
  return new AutotaskError(
    `Autotask ${method} ${path} failed (${res.status}): ${text}`,
    res.status,
    messages,
    kind,
    parseRetryAfter(res.headers?.['retry-after']),
    { cause },
  );
}

/** Used when a throttled TargetError that crossed a process boundary no longer says how long to wait. */
const DEFAULT_THROTTLE_WAIT_MS = 1000;

/**
 * Decides once how a failure is handled, for the client's retries, the engine and the worker alike: throttled
 * (429, thread threshold) waits — `waitMs` only when Autotask said how long, else the retry helper backs off;
 * transient (network, 408, 5xx without a business message) retries; a cancellation is `cancelled` and a spent
 * hourly budget `budget`, both ending the call at once; everything else — business rules, 4xx, rejected
 * credentials, malformed answers, programming errors — is permanent.
 */
export function classifyAutotaskError(err: unknown): Classified {
  if (isBudgetExhausted(err))
    return { kind: 'budget', waitMs: Math.max(0, err.retryAt - Date.now()), message: err.message };
  if (axios.isAxiosError(err) && !axios.isCancel(err))
    err = toAutotaskError(err, err.config?.method ?? '', '');
  const message = err instanceof Error ? err.message : String(err);
  if (isCancellation(err)) return { kind: 'cancelled', message };
  if (err instanceof AutotaskError) {
    return err.failure === 'throttled' && err.retryAfterMs !== undefined
      ? { kind: 'throttled', waitMs: err.retryAfterMs, message }
      : { kind: err.failure, message };
  }
  // A TargetError that crossed a process boundary keeps its name, status and messages.
  if (err instanceof Error && err.name === 'TargetError') {
    const t = err as Partial<TargetError>;
    const messages = Array.isArray(t.targetMessages) ? t.targetMessages : [];
    const kind = t.status === undefined ? 'permanent' : failureKind(t.status, messages, messages.length > 0);
    return kind === 'throttled' ? { kind, waitMs: DEFAULT_THROTTLE_WAIT_MS, message } : { kind, message };
  }
  return { kind: 'permanent', message };
}

/**
 * Autotask REST v1.0 over the gate's axios instance (no base URL: the zone decides the host). Reads are
 * retried on transient failures; creates are not, because a create that timed out may have happened —
 * the connector looks the record up by its stable key instead.
 */
export class AutotaskClient {
  private zonePromise: Promise<string> | undefined;
  private readonly http: AxiosInstance;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly now: () => number;
  private readonly limits: LinkLimits;
  readonly budget: HourlyBudget;
  private sent = 0;

  constructor(private readonly opts: AutotaskClientOptions) {
    this.http = opts.http;
    this.sleep = opts.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.now = opts.now ?? Date.now;
    this.limits = opts.limits ?? createMemoryLimits(this.now);
    this.budget = new HourlyBudget(opts.budget ?? {}, {
      read: () => this.readThreshold(),
      limits: this.limits,
      now: this.now,
      sleep: this.sleep,
    });
  }

  /**
   * The zone's API root (`https://webservicesN.autotask.net/ATServicesRest/`), looked up once, and only once it
   * is inside the zone policy: the lookup's answer decides where the API user's Secret goes next.
   */
  zoneUrl(): Promise<string> {
    const { zoneUrl, zonePolicy } = this.opts;
    this.zonePromise ??= (zoneUrl ? Promise.resolve(withSlash(zoneUrl)) : this.lookupZone())
      .then((url) => {
        if (zonePolicy) assertHostAllowed(url, zonePolicy, 'the Autotask zone');
        return url;
      })
      .catch((err) => {
        this.zonePromise = undefined; // a failed lookup is not cached
        throw err;
      });
    return this.zonePromise;
  }

  private async lookupZone(): Promise<string> {
    const data = await this.send('GET', this.opts.zoneLookupUrl, 'zoneInformation', {
      params: { user: this.opts.credentials.userName },
      auth: false,
      idempotent: true,
    });
    const zone = ZoneInformation.safeParse(data);
    if (!zone.success) {
      const { messages } = targetMessages(data);
      const words = messages.length > 0 ? messages : ['Zone information could not be determined'];
      throw new AutotaskError(`Autotask zone lookup failed: ${words.join('; ')}`, 200, words, 'permanent');
    }
    return withSlash(zone.data.url);
  }

  /** One page of a query, as Autotask returns it. */
  async queryPage(
    entity: string,
    filter: Filter[],
    opts: { maxRecords?: number; includeFields?: string[] } = {},
  ): Promise<unknown[]> {
    const body: Record<string, unknown> = { MaxRecords: opts.maxRecords ?? MAX_RECORDS, filter };
    if (opts.includeFields) body.IncludeFields = [...new Set(['id', ...opts.includeFields])];
    const data = await this.entityCall('POST', `${entity}/query`, { body, idempotent: true });
    const parsed = QueryResponse.safeParse(data);
    if (!parsed.success) {
      throw new AutotaskError(`Autotask ${entity} query answered without items`, 200, [], 'permanent');
    }
    return parsed.data.items;
  }

  /**
   * Every record matching `filter`, by Autotask's id-walk: repeat with `id gt <last id>` until a page comes
   * back short. Never stops silently at 500.
   */
  async query(entity: string, filter: Filter[], opts: { includeFields?: string[] } = {}): Promise<unknown[]> {
    const out: unknown[] = [];
    const seen = new Set<number>();
    // Autotask refuses a query without a condition; `id gte 0` matches everything (company 0 included).
    let page = filter.length > 0 ? filter : [{ op: 'gte', field: 'id', value: 0 }];
    for (;;) {
      const items = await this.queryPage(entity, page, opts);
      let last = -1;
      for (const item of items) {
        const id = (item as { id?: unknown } | null)?.id;
        if (typeof id !== 'number')
          throw new AutotaskError(`Autotask ${entity} record without id`, 200, [], 'permanent');
        if (!seen.has(id)) out.push(item);
        seen.add(id);
        last = Math.max(last, id);
      }
      if (items.length < MAX_RECORDS) return out;
      page = [...filter, { op: 'gt', field: 'id', value: last }];
    }
  }

  /** Records whose `field` is one of `values`, in `in` lists of at most 500 values per query. */
  async queryIn(
    entity: string,
    field: string,
    values: readonly (string | number)[],
    extraFilter: Filter[] = [],
    opts: { includeFields?: string[] } = {},
  ): Promise<unknown[]> {
    const unique = [...new Set(values)];
    const out: unknown[] = [];
    const seen = new Set<number>();
    for (let i = 0; i < unique.length; i += MAX_RECORDS) {
      const chunk = unique.slice(i, i + MAX_RECORDS);
      const items = await this.query(entity, [{ op: 'in', field, value: chunk }, ...extraFilter], opts);
      for (const item of items) {
        const id = (item as { id: number }).id;
        if (!seen.has(id)) out.push(item);
        seen.add(id);
      }
    }
    return out;
  }

  /** One record by id, or null when Autotask says it does not exist. */
  async get(entity: string, id: number): Promise<unknown | null> {
    try {
      const data = await this.entityCall('GET', `${entity}/${id}`, { idempotent: true });
      return (data as { item?: unknown } | null)?.item ?? null;
    } catch (err) {
      if (err instanceof AutotaskError && err.status === 404) return null;
      throw err;
    }
  }

  /** A metadata read such as `ContractCharges/entityInformation/fields` (picklists differ per instance). */
  async metadata(path: string): Promise<unknown> {
    return this.entityCall('GET', path, { idempotent: true });
  }

  /**
   * Creates a record (`Contracts` or a child path like `Contracts/123/Services`). Returns the new id, or null
   * when Autotask created it without saying which (the caller looks it up). Never retried on a transient
   * failure: the record may exist.
   */
  async create(pathOrEntity: string, body: Record<string, unknown>): Promise<number | null> {
    const data = await this.entityCall('POST', pathOrEntity, { body, idempotent: false });
    return ItemIdResponse.safeParse(data).data?.itemId ?? null;
  }

  /** PATCH to the collection URL with `id` in the body: only the fields sent change. */
  async update(entity: string, body: Record<string, unknown> & { id: number }): Promise<number | null> {
    const data = await this.entityCall('PATCH', entity, { body, idempotent: true });
    return ItemIdResponse.safeParse(data).data?.itemId ?? body.id;
  }

  /**
   * Repeats a connector step whose write may have landed without an answer (`lost`), at most `tries` times in
   * all, under the same retry helper, signal and sleep as requests. The step must look up before it writes again.
   * Its requests keep their own retries and only a lost write repeats the step, so retries never stack; any other
   * failure leaves the step as it is, for the engine to classify.
   */
  repeatWhileLost<T>(step: () => Promise<T>, lost: (err: unknown) => boolean, tries: number): Promise<T> {
    return withRetry(step, {
      classify: (err) => ({
        kind: lost(err) ? 'transient' : 'permanent',
        message: err instanceof Error ? err.message : String(err),
      }),
      attempts: tries,
      signal: this.opts.signal,
      sleep: this.sleep,
      random: this.opts.random,
    });
  }

  /** Entity requests this client sent to Autotask (refused ones too): each counts against the hourly budget. */
  get requestsSent(): number {
    return this.sent;
  }

  /** The shared hourly budget of the database (this call counts against it too). */
  async thresholdInformation(): Promise<ThresholdInformation> {
    return this.readThreshold();
  }

  /** Not paced by the budget it feeds (it still takes a thread slot and counts as a request). */
  private async readThreshold(): Promise<ThresholdInformation> {
    const data = await this.entityCall('GET', 'ThresholdInformation', { idempotent: true, paced: false });
    return ThresholdInformation.parse(data);
  }

  private async entityCall(
    method: Method,
    path: string,
    o: { body?: unknown; idempotent: boolean; paced?: boolean },
  ): Promise<unknown> {
    const zone = await this.zoneUrl();
    return this.send(method, `${zone}V1.0/${path}`, `V1.0/${path}`, {
      ...o,
      auth: true,
      endpoint: endpointOf(path),
      paced: o.paced !== false && this.opts.budget !== undefined,
    });
  }

  /**
   * One request under the retry helper and `classifyAutotaskError`: throttled answers are waited out without
   * counting attempts; a wait longer than `maxInlineWaitMs`, or the hourly budget spent, ends the run for later
   * instead (BudgetExhaustedError); transient failures are retried only when the request is idempotent. This is
   * the only retry of an Autotask request: nothing above it retries the same request again.
   */
  private async send(
    method: Method,
    url: string,
    label: string,
    o: {
      body?: unknown;
      params?: Record<string, string>;
      auth: boolean;
      idempotent: boolean;
      /** The Autotask endpoint whose 3 threads this request takes; unset for the zone lookup. */
      endpoint?: string;
      /** Paced by the hourly budget. */
      paced?: boolean;
    },
  ): Promise<unknown> {
    const { credentials, signal } = this.opts;
    const headers: Record<string, string> = { 'Content-Type': 'application/json' };
    if (o.auth) {
      headers.ApiIntegrationCode = credentials.integrationCode;
      headers.UserName = credentials.userName;
      headers.Secret = credentials.secret;
      if (credentials.impersonationResourceId !== undefined) {
        headers.ImpersonationResourceId = String(credentials.impersonationResourceId);
      }
    }
    const maxInline = this.opts.maxInlineWaitMs ?? 30_000;
    return withRetry(
      async () => {
        if (o.paced) await this.budget.beforeRequest(signal);
        try {
          return await this.attempt(o.endpoint, {
            method,
            url,
            data: o.body,
            params: o.params,
            headers,
            signal,
            ...(this.opts.timeoutMs ? { timeout: this.opts.timeoutMs } : {}),
          });
        } catch (err) {
          // Cancellation and anything the gate throws (e.g. consent revoked) pass through untouched.
          if (isCancellation(err) || !axios.isAxiosError(err)) throw err;
          const error = toAutotaskError(err, method.toUpperCase(), label, credentials.secret);
          if (error.failure !== 'throttled') throw error;
          if (error.targetMessages.some((m) => HOURLY_TEXT.test(m))) throw await this.spent(error);
          if (error.retryAfterMs !== undefined && error.retryAfterMs > maxInline) {
            throw new BudgetExhaustedError(
              `${error.message}; Autotask asks to wait ${Math.round(error.retryAfterMs / 1000)} s`,
              this.now() + error.retryAfterMs,
              { cause: error },
            );
          }
          throw error;
        }
      },
      {
        classify: classifyAutotaskError,
        // A create that failed transiently may have happened: the connector looks it up instead.
        attempts: o.idempotent ? (this.opts.maxAttempts ?? 4) : 1,
        maxThrottleWaits: this.opts.maxThrottleWaits ?? 20,
        signal,
        sleep: this.sleep,
        random: this.opts.random,
      },
    );
  }

  /** One try on the wire, holding one of the endpoint's thread slots (none for the zone lookup). */
  private async attempt(endpoint: string | undefined, config: AxiosRequestConfig): Promise<unknown> {
    const release = endpoint
      ? await this.limits.acquire(endpoint, THREADS_PER_ENDPOINT, config.signal as AbortSignal | undefined)
      : undefined;
    let left = true;
    try {
      const res = await this.http.request(config);
      return res.data;
    } catch (err) {
      // Refused by the gate or cancelled before leaving: not a request Autotask counted.
      left = axios.isAxiosError(err) && !axios.isCancel(err);
      throw err;
    } finally {
      if (release) {
        await release();
        if (left) {
          this.sent++;
          // The request log is advisory (it tells when room comes back): not waited for, and its failure is no
          // failure of the call.
          this.limits.record().catch(() => {});
        }
      }
    }
  }

  /** Autotask refused because the hourly budget is spent: the run resumes when the window should have room. */
  private async spent(error: AutotaskError): Promise<BudgetExhaustedError> {
    const retryAt =
      error.retryAfterMs !== undefined ? this.now() + error.retryAfterMs : await this.budget.refusedRetryAt();
    return new BudgetExhaustedError(
      `${error.message}; resuming at ${new Date(retryAt).toISOString()}`,
      retryAt,
      { cause: error },
    );
  }
}

const withSlash = (url: string): string => (url.endsWith('/') ? url : `${url}/`);
