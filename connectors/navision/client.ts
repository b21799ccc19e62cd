import { setTimeout as delay } from 'node:timers/promises';
import axios, { type AxiosInstance, type AxiosRequestConfig, type AxiosResponse, type Method } from 'axios';
import { isCancellation } from '../../src/net/http.ts';
import { withRetry } from '../../src/net/retry.ts';
import { createMemoryLimits } from '../limits-memory.ts';
import { BudgetExhaustedError, type LinkLimits, type TargetBudget } from '../types.ts';
import { createAuth, type NavisionAuth } from './auth.ts';
import {
  buildFilter,
  companySegment,
  entityKey,
  type Filter,
  guid,
  queryString,
  segment,
} from './company.ts';
import { classifyNavisionError, NavisionError, toNavisionError } from './errors.ts';
import {
  CONCURRENT_REQUESTS,
  LIMITS_ENDPOINT,
  WINDOW_MS,
  WindowBudget,
  type WindowBudgetOptions,
} from './limits.ts';
import {
  BcCompany,
  CollectionResponse,
  type Flavour,
  type NavisionCredentials,
  secretsOf,
} from './schemas.ts';

/** A record as NAV / BC return it; `@odata.etag` is its version, sent back in `If-Match`. */
export type ODataRecord = Record<string, unknown> & { '@odata.etag'?: string };

/** The entity sets the connector works with, by use: NAV's published service names or BC's API names. */
export interface EntitySets {
  customer: string;
  item: string;
  salesInvoice: string;
  salesInvoiceLines: string;
  /** NAV: page 132's service (posted invoices leave page 43). BC: the same `salesInvoices` (status Open/Paid). */
  postedSalesInvoice: string;
}

const BC_SETS: EntitySets = {
  customer: 'customers',
  item: 'items',
  salesInvoice: 'salesInvoices',
  salesInvoiceLines: 'salesInvoiceLines',
  postedSalesInvoice: 'salesInvoices',
};

export interface ListQuery {
  filter?: Filter;
  select?: readonly string[];
  expand?: string;
  orderby?: string;
  /**
   * Ask for smaller pages (`Prefer: odata.maxpagesize`, which keeps the nextLink). Never `$top`: it would end
   * server-driven paging. Unset: the server's page size (NAV 1,000, BC 20,000).
   */
  maxPageSize?: number;
}

/** `$metadata` in brief: entity type → property → MaxLength, and entity set → entity type. */
export interface Csdl {
  entityTypes: Map<string, Map<string, number>>;
  entitySets: Map<string, string>;
}

export interface NavisionClientOptions {
  /** The gate's instance for this link: every request, the token request included, goes through it. */
  http: AxiosInstance;
  credentials: NavisionCredentials;
  signal?: AbortSignal;
  /** Per-request timeout; unset leaves the gate's instance default in force. */
  timeoutMs?: number;
  /** Attempts of an idempotent request (GET, PATCH/DELETE with If-Match) on transient failures. @defaultValue 4 */
  maxAttempts?: number;
  /** Throttle waits one request may sit out; they do not count as attempts. @defaultValue 20 */
  maxThrottleWaits?: number;
  /** A Retry-After longer than this is not sat out inside the request: the run is deferred. @defaultValue 30000 */
  maxInlineWaitMs?: number;
  /**
   * The link's concurrency slots and request log shared by every worker process (Redis, with a 5-minute
   * window). Unset: this client alone keeps to 5 in flight.
   */
  limits?: LinkLimits;
  /** Watch BC online's 6,000-per-5-minutes window (a sync run). Unset, or another flavour: not watched. */
  budget?: WindowBudgetOptions;
  /** A BC company id already known (cached on the link): skips the lookup by name. */
  companyId?: string;
  /** Renew OAuth tokens this long before they expire. @defaultValue 300000 */
  refreshMarginMs?: number;
  /** Injected so tests do not wait in real time. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
  now?: () => number;
}

/** A path relative to the company root must be encoded already (built with `entityKey` / `segment`). */
const UNENCODED = /[\s"#<>?`{}\\\u0080-\uffff]/;
const NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * NAV 2016–2018 OData V4 page web services and Business Central API v2.0 (online and on-premises) over the
 * gate's axios instance.
 *
 * - Reads (GET) are retried on transient failures; updates and deletes carry `If-Match` and are retried too
 *   (a repeat of one that landed meets a changed ETag, never a second change). A POST (create, bound action)
 *   is never repeated after a transient failure — it may have happened: the caller looks up by external
 *   document number instead. Throttling (429, 503 with Retry-After) is waited out for every method: the
 *   request was not processed.
 * - At most 5 requests of a link are in flight (BC's per-user limit), shared across processes through
 *   `limits`; on BC online the 5-minute window is spent by `WindowBudget` when `budget` is set.
 * - Paging follows `@odata.nextLink` only.
 */
export class NavisionClient {
  readonly flavour: Flavour;
  readonly sets: EntitySets;
  readonly auth: NavisionAuth;
  /** Set on BC online when the window is watched. */
  readonly budget: WindowBudget | undefined;
  private readonly http: AxiosInstance;
  private readonly limits: LinkLimits;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;
  private readonly now: () => number;
  private readonly secrets: () => string[];
  private companyIdPromise: Promise<string> | undefined;
  private companyCheck: Promise<void> | undefined;
  private csdl: Promise<Csdl> | undefined;
  private sent = 0;

  constructor(private readonly opts: NavisionClientOptions) {
    const c = opts.credentials;
    this.flavour = c.flavour;
    this.sets = c.flavour === 'nav-odata' ? { ...c.services } : BC_SETS;
    this.http = opts.http;
    this.sleep = opts.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
    this.now = opts.now ?? Date.now;
    this.limits = opts.limits ?? createMemoryLimits(this.now, WINDOW_MS);
    this.auth = createAuth(c, {
      http: opts.http,
      signal: opts.signal,
      timeoutMs: opts.timeoutMs,
      now: this.now,
      refreshMarginMs: opts.refreshMarginMs,
    });
    const fixed = secretsOf(c);
    this.secrets = () => [...fixed, ...this.auth.secrets()];
    this.budget =
      c.flavour === 'bc-online' && opts.budget
        ? new WindowBudget(opts.budget, { limits: this.limits, now: this.now, sleep: this.sleep })
        : undefined;
    if (opts.companyId) this.companyIdPromise = Promise.resolve(guid(opts.companyId).guid);
  }

  /** The service root: `{base}/{instance}/ODataV4` (NAV) or `…/api/v2.0` (BC); `$metadata` lives here. */
  apiRoot(): string {
    const c = this.opts.credentials;
    switch (c.flavour) {
      case 'nav-odata':
        return `${c.baseUrl}/${segment(c.serverInstance)}/ODataV4`;
      case 'bc-onprem':
        return `${c.baseUrl}/${segment(c.serverInstance)}/api/v2.0`;
      case 'bc-online':
        return `${c.apiUrl}/v2.0/${segment(c.tenantId)}/${segment(c.environment)}/api/v2.0`;
    }
  }

  /** `…/ODataV4/Company('<name>')` (NAV) or `…/api/v2.0/companies(<id>)` (BC, the id looked up once). */
  async companyRoot(): Promise<string> {
    if (this.flavour === 'nav-odata')
      return `${this.apiRoot()}/${companySegment(this.opts.credentials.company)}`;
    return `${this.apiRoot()}/companies(${await this.companyId()})`;
  }

  /** BC: the company's id, found by its name in `GET …/companies` (once per client). */
  companyId(): Promise<string> {
    if (this.flavour === 'nav-odata') throw new TypeError('NAV addresses companies by name, not by id');
    this.companyIdPromise ??= this.findCompany().catch((err) => {
      this.companyIdPromise = undefined; // a failed lookup is not cached
      throw err;
    });
    return this.companyIdPromise;
  }

  /**
   * Proves the company is the one named before anything is written: on NAV reads `Company('<name>')` and
   * compares its `Name` (a proxy that re-encoded the quotes would land on the default company); on BC resolves
   * the id by name. Done once per client, and before the first write on its own.
   */
  async checkCompany(): Promise<{ name: string; id?: string }> {
    const name = this.opts.credentials.company;
    if (this.flavour !== 'nav-odata') return { name, id: await this.companyId() };
    const root = await this.companyRoot();
    const res = await this.request('GET', root, 'Company(…)', { idempotent: true });
    const got = (res.data as { Name?: unknown } | null)?.Name;
    if (got !== name) {
      throw new NavisionError(
        `NAV answered for company ${JSON.stringify(got)} instead of ${JSON.stringify(name)}: nothing is written`,
        res.status,
        [],
        'permanent',
        'CompanyMismatch',
      );
    }
    return { name };
  }

  /** Every record of a collection, page after page by `@odata.nextLink` until there is none. */
  async list<T extends ODataRecord = ODataRecord>(path: string, q: ListQuery = {}): Promise<T[]> {
    const out: T[] = [];
    for await (const page of this.pages<T>(path, q)) out.push(...page);
    return out;
  }

  /** The pages of a collection, as they come (server-driven paging: `@odata.nextLink` only). */
  async *pages<T extends ODataRecord = ODataRecord>(path: string, q: ListQuery = {}): AsyncGenerator<T[]> {
    const label = labelOf(path);
    let url: string | undefined = (await this.url(path)) + queryOf(q);
    const seen = new Set<string>();
    while (url) {
      if (seen.has(url)) {
        throw new NavisionError(
          `NAV/BC GET ${label}: the next page link repeats a page`,
          200,
          [],
          'permanent',
        );
      }
      seen.add(url);
      const page: { value: T[]; nextLink?: string } = await this.page<T>(url, label, q.maxPageSize);
      yield page.value;
      url = page.nextLink === undefined ? undefined : await this.rebase(page.nextLink, url);
    }
  }

  /** One record, or null when NAV / BC answer 404. */
  async get<T extends ODataRecord = ODataRecord>(
    path: string,
    q: Pick<ListQuery, 'select' | 'expand'> = {},
  ): Promise<T | null> {
    try {
      const res = await this.request('GET', (await this.url(path)) + queryOf(q), labelOf(path), {
        idempotent: true,
      });
      return record<T>(res.data, 'GET', path);
    } catch (err) {
      if (err instanceof NavisionError && err.status === 404) return null;
      throw err;
    }
  }

  /**
   * Creates a record (BC: with its lines in one deep insert) and returns it as the server made it (its number,
   * `id`, `@odata.etag`). Never repeated after a transient failure: the record may exist.
   */
  async create<T extends ODataRecord = ODataRecord>(path: string, body: Record<string, unknown>): Promise<T> {
    await this.beforeWrite();
    const res = await this.request('POST', await this.url(path), labelOf(path), { body, idempotent: false });
    return record<T>(res.data, 'POST', path);
  }

  /**
   * Changes the fields in `body` of the record at `path`, whose current `@odata.etag` is `etag` (read it back
   * after anything that may have changed it — adding lines changes the header). A record changed meanwhile
   * answers 409/412: EntityChangedError, for the caller to re-read and decide again. `*` is accepted only with
   * `readInThisStep` (the record was read in this same step). Returns the record, or null on 204.
   */
  async update<T extends ODataRecord = ODataRecord>(
    path: string,
    etag: string,
    body: Record<string, unknown>,
    o: { readInThisStep?: boolean } = {},
  ): Promise<T | null> {
    const ifMatch = checkEtag(etag, o);
    await this.beforeWrite();
    const res = await this.request('PATCH', await this.url(path), labelOf(path), {
      body,
      headers: { 'If-Match': ifMatch },
      idempotent: true,
    });
    return res.status === 204 || res.data === '' || res.data == null
      ? null
      : record<T>(res.data, 'PATCH', path);
  }

  /**
   * Deletes the record at `path` at version `etag` (same rules as `update`). Resolves false when it was gone
   * already (404), true when this call deleted it.
   */
  async remove(path: string, etag: string, o: { readInThisStep?: boolean } = {}): Promise<boolean> {
    const ifMatch = checkEtag(etag, o);
    await this.beforeWrite();
    try {
      await this.request('DELETE', await this.url(path), labelOf(path), {
        headers: { 'If-Match': ifMatch },
        idempotent: true,
      });
      return true;
    } catch (err) {
      if (err instanceof NavisionError && err.status === 404) return false;
      throw err;
    }
  }

  /**
   * Runs a bound action on the record at `path`: `…/NAV.<name>` on NAV page services (NAV 2018 and later, a
   * `[ServiceEnabled]` function of the page), `…/Microsoft.NAV.<name>` on the BC API. A POST: never repeated
   * after a transient failure. Returns the answer's body (BC's post answers 204: undefined).
   */
  async action(path: string, name: string): Promise<unknown> {
    if (!NAME.test(name)) throw new TypeError(`not an action name: ${JSON.stringify(name)}`);
    const ns = this.flavour === 'nav-odata' ? 'NAV' : 'Microsoft.NAV';
    await this.beforeWrite();
    const res = await this.request(
      'POST',
      `${await this.url(path)}/${ns}.${name}`,
      `${labelOf(path)}/${ns}.${name}`,
      {
        idempotent: false,
      },
    );
    return res.status === 204 || res.data === '' ? undefined : res.data;
  }

  /** The path of an unposted sales invoice: NAV by its `No`, BC by its `id`. */
  invoicePath(ref: string): string {
    return this.flavour === 'nav-odata'
      ? entityKey(this.sets.salesInvoice, { Document_Type: 'Invoice', No: ref })
      : entityKey(this.sets.salesInvoice, guid(ref));
  }

  /** Where an invoice's lines are read and added (NAV: the lines subpage's service under the header). */
  invoiceLinesPath(ref: string): string {
    return `${this.invoicePath(ref)}/${segment(this.sets.salesInvoiceLines)}`;
  }

  /**
   * Posts a sales invoice: BC `Microsoft.NAV.post` (204; the invoice keeps its id, gets a posted number);
   * NAV the page's bound action `navAction` (NAV 2018+ with a `[ServiceEnabled]` posting function on the
   * published Sales Invoice page; NAV 2016/2017 have no bound actions).
   */
  async postInvoice(ref: string, o: { navAction?: string } = {}): Promise<void> {
    await this.action(this.invoicePath(ref), this.flavour === 'nav-odata' ? (o.navAction ?? 'Post') : 'post');
  }

  /** `$metadata`, read once per client. */
  metadata(): Promise<Csdl> {
    this.csdl ??= this.request('GET', `${this.apiRoot()}/$metadata`, '$metadata', {
      idempotent: true,
      headers: { Accept: 'application/xml' },
      text: true,
    })
      .then((res) => parseCsdl(typeof res.data === 'string' ? res.data : String(res.data)))
      .catch((err) => {
        this.csdl = undefined;
        throw err;
      });
    return this.csdl;
  }

  /** The MaxLength of each text field of an entity set (NAV's page fields), from `$metadata`. */
  async maxLengths(entitySet: string): Promise<Map<string, number>> {
    const csdl = await this.metadata();
    return csdl.entityTypes.get(csdl.entitySets.get(entitySet) ?? entitySet) ?? new Map();
  }

  /** Requests this client sent to NAV / BC (refused ones too; not the token requests). */
  get requestsSent(): number {
    return this.sent;
  }

  /** BC online's window as this run saw it (see WindowBudget.report); undefined when not watched. */
  async report(fresh: boolean): Promise<TargetBudget | undefined> {
    return this.budget?.report(fresh, () => this.sent);
  }

  private async url(path: string): Promise<string> {
    if (UNENCODED.test(path)) {
      throw new TypeError(`path not encoded (build it with entityKey / segment): ${JSON.stringify(path)}`);
    }
    return path === '' ? this.companyRoot() : `${await this.companyRoot()}/${path}`;
  }

  private beforeWrite(): Promise<void> {
    if (this.flavour !== 'nav-odata') return Promise.resolve();
    this.companyCheck ??= this.checkCompany().then(
      () => {},
      (err) => {
        this.companyCheck = undefined;
        throw err;
      },
    );
    return this.companyCheck;
  }

  private async findCompany(): Promise<string> {
    const name = this.opts.credentials.company;
    const all: BcCompany[] = [];
    const url = `${this.apiRoot()}/companies`;
    for (let next: string | undefined = url; next; ) {
      const page: { value: ODataRecord[]; nextLink?: string } = await this.page(next, 'companies');
      for (const c of page.value) {
        const parsed = BcCompany.safeParse(c);
        if (parsed.success) all.push(parsed.data);
      }
      next = page.nextLink === undefined ? undefined : await this.rebase(page.nextLink, next);
    }
    const exact = all.filter((c) => c.name === name);
    // BC compares company names without regard to case; an exact match wins.
    const found = exact.length > 0 ? exact : all.filter((c) => c.name.toLowerCase() === name.toLowerCase());
    if (found.length !== 1) {
      const names = all.map((c) => JSON.stringify(c.name)).join(', ') || 'none';
      throw new NavisionError(
        `Business Central has no company named ${JSON.stringify(name)} for these credentials (companies: ${names})`,
        404,
        [],
        'permanent',
        'Internal_CompanyNotFound',
      );
    }
    return guid(found[0]!.id).guid;
  }

  private async page<T extends ODataRecord>(
    url: string,
    label: string,
    maxPageSize?: number,
  ): Promise<{ value: T[]; nextLink?: string }> {
    const headers: Record<string, string> = {};
    if (maxPageSize !== undefined) {
      if (!Number.isInteger(maxPageSize) || maxPageSize < 1) throw new RangeError('maxPageSize must be >= 1');
      headers.Prefer = `odata.maxpagesize=${maxPageSize}`;
    }
    const res = await this.request('GET', url, label, { idempotent: true, headers });
    const parsed = CollectionResponse.safeParse(res.data);
    if (!parsed.success) {
      throw new NavisionError(
        `NAV/BC GET ${label} answered without a value list`,
        res.status,
        [],
        'permanent',
      );
    }
    return { value: parsed.data.value as T[], nextLink: parsed.data['@odata.nextLink'] };
  }

  /**
   * The next page's URL on our own root: NAV writes its nextLink with its configured public URL and may write
   * the company name unencoded, so the part after the service root is kept (its query verbatim) and put on our
   * root, with our company segment. Credentials never follow a link to another host.
   */
  private async rebase(next: string, current: string): Promise<string> {
    const absolute = /^https?:\/\//i.test(next) ? next : new URL(next, current).href;
    // What follows the service root's last segment starts at the company: `/ODataV4/Company(…)…`,
    // `/api/v2.0/companies(…)…` (the host, instance or tenant before it may be written differently).
    const marker = this.flavour === 'nav-odata' ? '/odatav4/' : '/api/v2.0/';
    const at = absolute.toLowerCase().lastIndexOf(marker);
    if (at < 0) {
      throw new NavisionError(
        'NAV/BC answered a next page link outside the service root: not followed',
        200,
        [],
        'permanent',
      );
    }
    let rest = absolute.slice(at + marker.length);
    if (this.flavour === 'nav-odata') {
      const name = this.opts.credentials.company;
      const ours = companySegment(name);
      const forms = [ours, `Company('${name.replaceAll("'", "''")}')`, safeDecode(ours)];
      const form = forms.find((f) => rest.startsWith(f));
      if (form !== undefined) rest = ours + rest.slice(form.length);
    }
    return `${this.apiRoot()}/${rest}`;
  }

  /**
   * One request under the retry helper and `classifyNavisionError`. Each try takes one of the link's 5 slots
   * (for the whole NTLM handshake, or a token refresh and its one repeat); throttling waits without counting
   * attempts; a Retry-After beyond `maxInlineWaitMs` defers the run (BudgetExhaustedError). This is the only
   * retry of a NAV / BC request: nothing above it repeats the same request.
   */
  private async request(
    method: Method,
    url: string,
    label: string,
    o: { body?: unknown; headers?: Record<string, string>; idempotent: boolean; text?: boolean },
  ): Promise<AxiosResponse> {
    const { signal } = this.opts;
    const retry = {
      classify: classifyNavisionError,
      maxThrottleWaits: this.opts.maxThrottleWaits ?? 20,
      signal,
      sleep: this.sleep,
      random: this.opts.random,
    };
    // A token is fetched outside the request's slot and its attempts: a failed token request sent nothing to
    // NAV / BC, so even a POST may wait for it.
    if (this.auth.scheme === 'bearer') {
      await withRetry(() => this.auth.prepare(), { ...retry, attempts: this.opts.maxAttempts ?? 4 });
    }
    const config: AxiosRequestConfig = {
      method,
      url,
      data: o.body,
      headers: {
        Accept: 'application/json',
        ...(method !== 'GET' && method !== 'DELETE' ? { 'Content-Type': 'application/json' } : {}),
        ...o.headers,
      },
      signal,
      ...(o.text ? { responseType: 'text' as const } : {}),
      ...(this.opts.timeoutMs ? { timeout: this.opts.timeoutMs } : {}),
    };
    const maxInline = this.opts.maxInlineWaitMs ?? 30_000;
    return withRetry(
      async () => {
        if (this.budget) await this.budget.beforeRequest(signal);
        try {
          return await this.attempt(config);
        } catch (err) {
          // Cancellation and anything the gate throws (e.g. consent revoked) pass through untouched.
          if (isCancellation(err) || !axios.isAxiosError(err)) throw err;
          const error = toNavisionError(err, method, label, this.secrets());
          if (
            error.failure === 'throttled' &&
            error.retryAfterMs !== undefined &&
            error.retryAfterMs > maxInline
          ) {
            throw new BudgetExhaustedError(
              `${error.message}; Business Central asks to wait ${Math.round(error.retryAfterMs / 1000)} s`,
              this.now() + error.retryAfterMs,
              { cause: error },
            );
          }
          throw error;
        }
      },
      // A POST that failed transiently may have been carried out: the caller looks it up instead.
      { ...retry, attempts: o.idempotent ? (this.opts.maxAttempts ?? 4) : 1 },
    );
  }

  /** One try, holding one of the link's slots, with the credentials' scheme (which may send twice). */
  private async attempt(config: AxiosRequestConfig): Promise<AxiosResponse> {
    const release = await this.limits.acquire(
      LIMITS_ENDPOINT,
      CONCURRENT_REQUESTS,
      config.signal as AbortSignal | undefined,
    );
    try {
      return await this.auth.authorize((extra) =>
        this.wire({ ...config, ...extra, headers: { ...config.headers, ...extra.headers } }),
      );
    } finally {
      await release();
    }
  }

  private async wire(config: AxiosRequestConfig): Promise<AxiosResponse> {
    let left = true;
    try {
      return await this.http.request(config);
    } catch (err) {
      // Refused by the gate or cancelled before leaving: not a request NAV / BC counted.
      left = axios.isAxiosError(err) && !axios.isCancel(err);
      throw err;
    } finally {
      if (left) {
        this.sent++;
        // The log is advisory (it tells how full the window is): not waited for, and its failure is no failure
        // of the call.
        this.limits.record().catch(() => {});
      }
    }
  }
}

function checkEtag(etag: string, o: { readInThisStep?: boolean }): string {
  if (typeof etag !== 'string' || etag.trim() === '') {
    throw new TypeError('an update or delete needs the record’s current @odata.etag');
  }
  if (etag.trim() === '*' && o.readInThisStep !== true) {
    throw new TypeError('If-Match: * only for a record read in this same step; pass its @odata.etag');
  }
  return etag;
}

/** The OData system options of a query string (never `$top`). */
function queryOf(q: ListQuery): string {
  return queryString({
    $filter: q.filter ? buildFilter(q.filter) : undefined,
    $select: q.select?.join(','),
    $expand: q.expand,
    $orderby: q.orderby,
  });
}

/** A path without its keys' values (they may be customer names), for messages. */
const labelOf = (path: string): string => path.replace(/\(([^)]*)\)/g, '(…)') || 'company';

const safeDecode = (s: string): string => {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
};

function record<T extends ODataRecord>(data: unknown, method: string, path: string): T {
  if (typeof data !== 'object' || data === null || Array.isArray(data)) {
    throw new NavisionError(
      `NAV/BC ${method} ${labelOf(path)} answered without a record`,
      200,
      [],
      'permanent',
    );
  }
  return data as T;
}

/** The record's current version, to send in `If-Match`. */
export function etagOf(r: ODataRecord): string {
  const etag = r['@odata.etag'];
  if (typeof etag !== 'string' || etag === '') throw new TypeError('the record carries no @odata.etag');
  return etag;
}

const XML_ENTITIES: Record<string, string> = { amp: '&', lt: '<', gt: '>', quot: '"', apos: "'" };
const unescapeXml = (s: string) => s.replace(/&(amp|lt|gt|quot|apos);/g, (_, e: string) => XML_ENTITIES[e]!);

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:.]+)\s*=\s*"([^"]*)"/g)) out[m[1]!] = unescapeXml(m[2]!);
  return out;
}

/**
 * A minimal reading of a CSDL document: each EntityType's properties with a MaxLength, and each EntitySet's
 * entity type (namespace dropped). Enough to cut text to NAV's field lengths; nothing else is interpreted.
 */
export function parseCsdl(xml: string): Csdl {
  const entityTypes = new Map<string, Map<string, number>>();
  for (const m of xml.matchAll(/<EntityType\b([^>]*?)(?:\/>|>([\s\S]*?)<\/EntityType>)/g)) {
    const name = attributes(m[1]!).Name;
    if (!name) continue;
    const props = new Map<string, number>();
    for (const p of (m[2] ?? '').matchAll(/<Property\b([^>]*)>/g)) {
      const a = attributes(p[1]!);
      const max = Number(a.MaxLength);
      if (a.Name && Number.isInteger(max) && max > 0) props.set(a.Name, max);
    }
    entityTypes.set(name, props);
  }
  const entitySets = new Map<string, string>();
  for (const m of xml.matchAll(/<EntitySet\b([^>]*)>/g)) {
    const a = attributes(m[1]!);
    if (a.Name && a.EntityType) entitySets.set(a.Name, a.EntityType.slice(a.EntityType.lastIndexOf('.') + 1));
  }
  return { entityTypes, entitySets };
}
