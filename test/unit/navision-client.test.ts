import axios, { AxiosError, AxiosHeaders } from 'axios';
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { createMemoryLimits } from '../../connectors/limits-memory.ts';
import { NavisionClient, type NavisionClientOptions, parseCsdl } from '../../connectors/navision/client.ts';
import { FilterError } from '../../connectors/navision/company.ts';
import {
  classifyNavisionError,
  EntityChangedError,
  isEntityChanged,
  NavisionError,
  targetWords,
  toNavisionError,
} from '../../connectors/navision/errors.ts';
import { WINDOW_MS, WindowBudget, type WindowBudgetOptions } from '../../connectors/navision/limits.ts';
import { NavisionCredentials } from '../../connectors/navision/schemas.ts';
import { BudgetExhaustedError, type LinkLimits, TargetError } from '../../connectors/types.ts';
import { backoffMs } from '../../src/net/retry.ts';

const CID = '11111111-2222-3333-4444-555555555555';
const NAV = 'http://nav.test:7048';
const NAV_CO = `/NAV/ODataV4/Company('CRONUS')`;
const KEY = 'k'.repeat(44);

/** BC API v2.0 on-premises (Basic); the online flavour's URLs and tokens are in navision-auth.test.ts. */
const BCP = 'https://bc.test';
const bcCredentials = NavisionCredentials.parse({
  flavour: 'bc-onprem',
  baseUrl: BCP,
  serverInstance: 'BC',
  company: 'CRONUS',
  auth: { type: 'basic', user: 'SYNC', accessKey: KEY },
});
const BCP_ROOT = '/BC/api/v2.0';
const BCP_CO = `${BCP_ROOT}/companies(${CID})`;

function bc(over: Partial<NavisionClientOptions> = {}) {
  const sleep = vi.fn(async (_ms: number) => {});
  const client = new NavisionClient({
    http: axios.create(),
    credentials: bcCredentials,
    companyId: CID,
    sleep,
    random: () => 0.5,
    ...over,
  });
  return { client, sleep };
}

function nav(over: Partial<NavisionClientOptions> = {}) {
  const sleep = vi.fn(async (_ms: number) => {});
  const client = new NavisionClient({
    http: axios.create(),
    credentials: NavisionCredentials.parse({
      flavour: 'nav-odata',
      baseUrl: NAV,
      serverInstance: 'NAV',
      company: 'CRONUS',
      auth: { type: 'basic', user: 'SYNC', accessKey: KEY },
    }),
    sleep,
    random: () => 0.5,
    ...over,
  });
  return { client, sleep };
}

const odataError = (code: string, message: string) => ({
  error: { code, message: `${message}  CorrelationId:  4f1c3a52-8d1e-4c59-9d0c-2d0b5c1e7a10.` },
});

beforeAll(() => {
  nock.disableNetConnect();
});
afterEach(() => {
  nock.cleanAll();
});

describe('paging', () => {
  it('follows @odata.nextLink past three pages, never with $top', async () => {
    const paths: string[] = [];
    const prefer: unknown[] = [];
    const all = Array.from({ length: 7 }, (_, i) => ({ number: `C${i}` }));
    nock(BCP)
      .get(() => true)
      .times(4)
      .reply(function () {
        const path = this.req.path;
        paths.push(path);
        prefer.push(this.req.headers.prefer);
        const skip = Number(/skiptoken=(\d+)/.exec(path)?.[1] ?? 0);
        const value = all.slice(skip, skip + 2);
        const next =
          skip + 2 < all.length
            ? { '@odata.nextLink': `${BCP}${BCP_CO}/customers?aid=FIN&$skiptoken=${skip + 2}` }
            : {};
        return [200, { value, ...next }];
      });
    const rows = await bc().client.list('customers', { maxPageSize: 2 });
    expect(rows).toEqual(all);
    expect(paths).toEqual([
      `${BCP_CO}/customers`,
      `${BCP_CO}/customers?aid=FIN&$skiptoken=2`,
      `${BCP_CO}/customers?aid=FIN&$skiptoken=4`,
      `${BCP_CO}/customers?aid=FIN&$skiptoken=6`,
    ]);
    expect(paths.some((p) => /\$top/i.test(p))).toBe(false);
    expect(prefer).toEqual(Array(4).fill('odata.maxpagesize=2'));
  });

  it("puts NAV's next link back on our root and company segment, keeping its query", async () => {
    const paths: string[] = [];
    nock(NAV)
      .get(() => true)
      .times(2)
      .reply(function () {
        paths.push(this.req.path);
        return paths.length === 1
          ? [
              200,
              {
                value: [{ No: '1' }],
                // NAV writes its own public URL and may write the company name unencoded.
                '@odata.nextLink': `http://NAVSRV:7048/NAV/ODataV4/Company('CRONUS')/Customer?$skiptoken='1'`,
              },
            ]
          : [200, { value: [{ No: '2' }] }];
      });
    const rows = await nav().client.list('Customer');
    expect(rows.map((r) => r.No)).toEqual(['1', '2']);
    expect(paths[1]).toBe(`${NAV_CO}/Customer?$skiptoken=%271%27`);
  });

  it('does not follow a next link outside the service root', async () => {
    nock(BCP)
      .get(`${BCP_CO}/customers`)
      .reply(200, { value: [], '@odata.nextLink': 'https://evil.test/steal' });
    await expect(bc().client.list('customers')).rejects.toThrow(/outside the service root/);
  });
});

describe('filters', () => {
  it('refuses OR across different fields before anything is sent', async () => {
    const sent = vi.fn();
    nock(BCP)
      .get(() => true)
      .reply(() => {
        sent();
        return [200, { value: [] }];
      });
    await expect(
      bc().client.list('customers', {
        filter: {
          or: [
            { field: 'number', op: 'eq', value: 'C1' },
            { field: 'displayName', op: 'eq', value: 'Contoso' },
          ],
        },
      }),
    ).rejects.toBeInstanceOf(FilterError);
    expect(sent).not.toHaveBeenCalled();
    expect(classifyNavisionError(new FilterError('x')).kind).toBe('permanent');
  });
});

describe('concurrency (ETags)', () => {
  const ETAG = `W/"JzQ0O0VnQUFBQUo3QlRnQU1RQXdBREFBTUFBd0FBQUFBQT09MTsyMDM0NDU0NjA7Jw=="`;
  const path = `salesInvoices(${CID})`;

  it("sends If-Match with the record's current ETag on update and delete", async () => {
    const seen: Record<string, unknown>[] = [];
    nock(BCP)
      .patch(`${BCP_CO}/${path}`)
      .reply(function (_uri, body) {
        seen.push({ ifMatch: this.req.headers['if-match'], type: this.req.headers['content-type'], body });
        return [200, { id: CID, '@odata.etag': 'W/"2"' }];
      })
      .delete(`${BCP_CO}/${path}`)
      .reply(function () {
        seen.push({ ifMatch: this.req.headers['if-match'] });
        return [204];
      });
    const { client } = bc();
    const updated = await client.update(path, ETAG, { externalDocumentNumber: 'SP-1' });
    expect(updated?.['@odata.etag']).toBe('W/"2"');
    expect(await client.remove(path, 'W/"2"')).toBe(true);
    expect(seen).toEqual([
      { ifMatch: ETAG, type: 'application/json', body: { externalDocumentNumber: 'SP-1' } },
      { ifMatch: 'W/"2"' },
    ]);
  });

  it('surfaces a 409 Request_EntityChanged as EntityChangedError, sent once', async () => {
    const scope = nock(BCP)
      .patch(`${BCP_CO}/${path}`)
      .once()
      .reply(409, odataError('Request_EntityChanged', 'Another user has already changed the record.'));
    const err = await bc()
      .client.update(path, ETAG, { externalDocumentNumber: 'SP-1' })
      .catch((e: unknown) => e);
    expect(scope.isDone()).toBe(true);
    expect(err).toBeInstanceOf(EntityChangedError);
    expect(isEntityChanged(err)).toBe(true);
    const e = err as NavisionError;
    expect(e.name).toBe('TargetError');
    expect(e.code).toBe('Request_EntityChanged');
    expect(e.targetMessages).toEqual(['Another user has already changed the record.']);
    expect(e.correlationId).toBe('4f1c3a52-8d1e-4c59-9d0c-2d0b5c1e7a10');
    expect(classifyNavisionError(err).kind).toBe('permanent');
  });

  it('treats a 412 on a write the same way', async () => {
    nock(BCP).delete(`${BCP_CO}/${path}`).reply(412, odataError('Request_EntityChanged', 'changed'));
    await expect(bc().client.remove(path, ETAG)).rejects.toBeInstanceOf(EntityChangedError);
  });

  it('refuses If-Match: * unless the record was read in this step, and an empty ETag always', async () => {
    const { client } = bc();
    await expect(client.update(path, '*', {})).rejects.toThrow(/read in this same step/);
    await expect(client.remove(path, '')).rejects.toThrow(/etag/);
    let ifMatch: unknown;
    nock(BCP)
      .patch(`${BCP_CO}/${path}`)
      .reply(function () {
        ifMatch = this.req.headers['if-match'];
        return [204];
      });
    expect(await client.update(path, '*', { x: 1 }, { readInThisStep: true })).toBeNull();
    expect(ifMatch).toBe('*');
  });
});

describe('writes', () => {
  it('creates with Content-Type application/json and returns the record made', async () => {
    let type: unknown;
    nock(BCP)
      .post(`${BCP_CO}/salesInvoices`, { customerNumber: '10000', salesInvoiceLines: [{ lineType: 'Item' }] })
      .reply(function () {
        type = this.req.headers['content-type'];
        return [201, { id: CID, number: '103001', '@odata.etag': 'W/"1"' }];
      });
    const made = await bc().client.create('salesInvoices', {
      customerNumber: '10000',
      salesInvoiceLines: [{ lineType: 'Item' }],
    });
    expect(made).toMatchObject({ id: CID, number: '103001' });
    expect(type).toBe('application/json');
  });

  it('never repeats a POST after a transient failure: the caller looks it up', async () => {
    const scope = nock(BCP).post(`${BCP_CO}/salesInvoices`).once().reply(502, 'Bad gateway');
    const err = await bc()
      .client.create('salesInvoices', { customerNumber: '10000' })
      .catch((e: unknown) => e);
    expect(scope.isDone()).toBe(true);
    expect(classifyNavisionError(err).kind).toBe('transient');
    expect((err as NavisionError).status).toBe(502);
  });

  it('waits out a 429 on a POST (it was not processed) and then sends it', async () => {
    nock(BCP)
      .post(`${BCP_CO}/salesInvoices`)
      .reply(429)
      .post(`${BCP_CO}/salesInvoices`)
      .reply(201, { id: CID });
    const { client, sleep } = bc();
    expect(await client.create('salesInvoices', { customerNumber: '10000' })).toEqual({ id: CID });
    expect(sleep).toHaveBeenCalledTimes(1);
  });

  it('posts an invoice with the bound action of each flavour', async () => {
    const paths: string[] = [];
    nock(BCP)
      .post(() => true)
      .reply(function () {
        paths.push(this.req.path);
        return [204];
      });
    nock(NAV)
      .get(NAV_CO)
      .reply(200, { Name: 'CRONUS' })
      .post(() => true)
      .reply(function () {
        paths.push(this.req.path);
        return [200, {}];
      });
    await bc().client.postInvoice(CID);
    await nav().client.postInvoice('SI-1001');
    expect(paths).toEqual([
      `${BCP_CO}/salesInvoices(${CID})/Microsoft.NAV.post`,
      `${NAV_CO}/SalesInvoice(Document_Type='Invoice',No='SI-1001')/NAV.Post`,
    ]);
  });
});

describe('retries and throttling', () => {
  it('waits a 429 without Retry-After with backoff, not counted as an attempt', async () => {
    nock(BCP)
      .get(`${BCP_CO}/items`)
      .reply(429, odataError('Application_TooManyRequests', 'Too many requests'))
      .get(`${BCP_CO}/items`)
      .reply(429)
      .get(`${BCP_CO}/items`)
      .reply(500)
      .get(`${BCP_CO}/items`)
      .reply(200, { value: [{ number: 'I1' }] });
    // Two attempts in all: the two 429s must not use them up.
    const { client, sleep } = bc({ maxAttempts: 2 });
    expect(await client.list('items')).toEqual([{ number: 'I1' }]);
    expect(sleep.mock.calls.map((c) => c[0])).toEqual([
      backoffMs(0, () => 0.5),
      backoffMs(1, () => 0.5),
      backoffMs(0, () => 0.5),
    ]);
  });

  it('gives up a GET after its attempts on transient failures', async () => {
    const scope = nock(BCP).get(`${BCP_CO}/items`).times(2).reply(503);
    await expect(bc({ maxAttempts: 2 }).client.list('items')).rejects.toMatchObject({ status: 503 });
    expect(scope.isDone()).toBe(true);
  });

  it('waits as long as a 503 Retry-After says', async () => {
    nock(BCP)
      .get(`${BCP_CO}/items`)
      .reply(503, '', { 'Retry-After': '7' })
      .get(`${BCP_CO}/items`)
      .reply(200, { value: [] });
    const { client, sleep } = bc();
    await client.list('items');
    expect(sleep.mock.calls.map((c) => c[0])).toEqual([7000]);
  });

  it('defers the run when asked to wait longer than it waits in place', async () => {
    nock(BCP).get(`${BCP_CO}/items`).reply(429, '', { 'Retry-After': '120' });
    const err = await bc({ maxInlineWaitMs: 30_000, now: () => 1_000_000 })
      .client.list('items')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExhaustedError);
    expect((err as BudgetExhaustedError).retryAt).toBe(1_000_000 + 120_000);
  });

  it('retries a lock timeout on a read', async () => {
    nock(BCP)
      .get(`${BCP_CO}/items`)
      .reply(
        500,
        odataError(
          'Internal_ServerError',
          'The operation could not complete because a record in the Item table was locked by another user. Please retry the activity.',
        ),
      )
      .get(`${BCP_CO}/items`)
      .reply(200, { value: [] });
    const { client, sleep } = bc();
    expect(await client.list('items')).toEqual([]);
    expect(sleep).toHaveBeenCalledTimes(1);
  });

  it('keeps at most 5 requests of a link in flight', async () => {
    const local = createMemoryLimits(Date.now, WINDOW_MS);
    let active = 0;
    let peak = 0;
    const limits: LinkLimits = {
      ...local,
      acquire: async (endpoint, max, signal) => {
        expect(max).toBe(5);
        const release = await local.acquire(endpoint, max, signal);
        peak = Math.max(peak, ++active);
        return async () => {
          active--;
          await release();
        };
      },
    };
    nock(BCP).get(`${BCP_CO}/items`).times(12).delay(10).reply(200, { value: [] });
    const { client } = bc({ limits });
    await Promise.all(Array.from({ length: 12 }, () => client.list('items')));
    expect(peak).toBe(5);
    expect(client.requestsSent).toBe(12);
    expect((await local.usage()).count).toBe(12);
  });
});

describe('BC company and metadata', () => {
  it('resolves the company id by name once, and addresses it by id', async () => {
    const paths: string[] = [];
    nock(BCP)
      .get(() => true)
      .times(3)
      .reply(function () {
        paths.push(this.req.path);
        return this.req.path.endsWith('/companies')
          ? [
              200,
              {
                value: [
                  { id: '99999999-2222-3333-4444-555555555555', name: 'CRONUS (Test)' },
                  { id: CID, name: 'CRONUS', displayName: 'CRONUS USA, Inc.' },
                ],
              },
            ]
          : [200, { value: [] }];
      });
    const { client } = bc({ companyId: undefined });
    await client.list('customers');
    await client.list('items');
    expect(paths).toEqual([`${BCP_ROOT}/companies`, `${BCP_CO}/customers`, `${BCP_CO}/items`]);
  });

  it('says which companies the credentials reach when the name is not one of them', async () => {
    nock(BCP)
      .get(`${BCP_ROOT}/companies`)
      .reply(200, { value: [{ id: CID, name: 'Other Co' }] });
    const err = await bc({ companyId: undefined })
      .client.companyId()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NavisionError);
    expect((err as Error).message).toContain('"Other Co"');
    expect(classifyNavisionError(err).kind).toBe('permanent');
  });

  it("reads NAV's field lengths from $metadata", async () => {
    const xml = `<?xml version="1.0" encoding="utf-8"?>
<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>
<Schema Namespace="NAV" xmlns="http://docs.oasis-open.org/odata/ns/edm">
<EntityType Name="SalesInvoiceSalesLines"><Key><PropertyRef Name="Document_No" /></Key>
<Property Name="Document_No" Type="Edm.String" Nullable="false" MaxLength="20" />
<Property Name="Description" Type="Edm.String" MaxLength="50"><Annotation Term="NAV.LabelId" String="x" /></Property>
<Property Name="Quantity" Type="Edm.Decimal" Scale="Variable" />
</EntityType>
<EntityType Name="Customer"><Property Name="Name" Type="Edm.String" MaxLength="50" /></EntityType>
<EntityContainer Name="NAV"><EntitySet Name="SalesInvoiceSalesLines" EntityType="NAV.SalesInvoiceSalesLines" />
<EntitySet Name="Customers_WS" EntityType="NAV.Customer"></EntitySet></EntityContainer>
</Schema></edmx:DataServices></edmx:Edmx>`;
    let accept: unknown;
    const scope = nock(NAV)
      .get('/NAV/ODataV4/$metadata')
      .once()
      .reply(function () {
        accept = this.req.headers.accept;
        return [200, xml, { 'Content-Type': 'application/xml' }];
      });
    const { client } = nav();
    expect(await client.maxLengths('SalesInvoiceSalesLines')).toEqual(
      new Map([
        ['Document_No', 20],
        ['Description', 50],
      ]),
    );
    expect(await client.maxLengths('Customers_WS')).toEqual(new Map([['Name', 50]]));
    expect(scope.isDone()).toBe(true);
    expect(accept).toBe('application/xml');
    expect(parseCsdl('<nothing/>').entityTypes.size).toBe(0);
  });
});

describe('classifyNavisionError', () => {
  const fail = (
    status: number | undefined,
    data: unknown = '',
    headers: Record<string, string> = {},
    method = 'get',
  ) =>
    new AxiosError(
      'Request failed',
      status === undefined ? 'ECONNRESET' : 'ERR_BAD_RESPONSE',
      { method, headers: new AxiosHeaders() },
      {},
      status === undefined
        ? undefined
        : {
            status,
            statusText: '',
            data,
            headers,
            config: { headers: new AxiosHeaders() },
          },
    );
  const kind = (e: unknown) => classifyNavisionError(e);

  const lock = odataError(
    'Internal_LockTimeout',
    'The operation could not complete because a record in the Sales Header table was locked by another user.',
  );
  const tooLong = odataError(
    'Application_StringExceededLength',
    'The length of the string is 57, but it must be less than or equal to 50 characters. Value: x',
  );
  const rejected = odataError(
    'Authentication_InvalidCredentials',
    'The server has rejected the client credentials.',
  );
  it.each([
    ['a network error', 'transient', fail(undefined), undefined],
    ['408', 'transient', fail(408), undefined],
    ['500', 'transient', fail(500), undefined],
    ['502 with Retry-After', 'transient', fail(502, '', { 'retry-after': '3' }), 3000],
    ['503 without Retry-After', 'transient', fail(503), undefined],
    ['503 with Retry-After', 'throttled', fail(503, '', { 'retry-after': '5' }), 5000],
    ['429 without Retry-After', 'throttled', fail(429), undefined],
    ['429 with Retry-After', 'throttled', fail(429, '', { 'retry-after': '2' }), 2000],
    ['a lock timeout', 'transient', fail(409, lock), undefined],
    ['400', 'permanent', fail(400, odataError('BadRequest', 'bad')), undefined],
    ['401', 'permanent', fail(401), undefined],
    ['403', 'permanent', fail(403), undefined],
    ['404', 'permanent', fail(404), undefined],
    ['412 on a write', 'permanent', fail(412, '', {}, 'patch'), undefined],
    ['Application_StringExceededLength', 'permanent', fail(400, tooLong), undefined],
    ['Authentication_InvalidCredentials, even on a 500', 'permanent', fail(500, rejected), undefined],
  ])('%s is %s', (_name, expected, error, waitMs) => {
    const c = kind(error);
    expect(c.kind).toBe(expected);
    expect(c.waitMs).toBe(waitMs);
  });

  it('classifies cancellation, a spent budget, a TargetError from another process and programming errors', () => {
    const abort = new Error('stop');
    abort.name = 'AbortError';
    expect(kind(abort).kind).toBe('cancelled');
    expect(kind(new axios.CanceledError()).kind).toBe('cancelled');
    expect(kind(new BudgetExhaustedError('spent', Date.now() + 60_000)).kind).toBe('budget');
    expect(kind(new TargetError('x', 429, [])).kind).toBe('throttled');
    expect(kind(new TargetError('x', 503, [])).kind).toBe('transient');
    const lock = Object.assign(new TargetError('x', 409, ['…was locked by another user…']), { code: 'X' });
    expect(kind(lock).kind).toBe('transient');
    expect(kind(new TypeError('bug')).kind).toBe('permanent');
  });

  it("keeps the target's words, without the CorrelationId, in XML and Entra ID bodies too", () => {
    expect(
      targetWords(
        `<?xml version="1.0"?><m:error xmlns:m="x"><m:code>Application_DialogException</m:code><m:message xml:lang="en-US">You may not enter numbers manually. &amp; more  CorrelationId:  abc-123.</m:message></m:error>`,
      ),
    ).toEqual({
      code: 'Application_DialogException',
      message: 'You may not enter numbers manually. & more',
      correlationId: 'abc-123',
    });
    expect(
      targetWords({
        error: 'invalid_client',
        error_description:
          'AADSTS7000215: Invalid client secret provided.\r\nTrace ID: 1\r\nCorrelation ID: 2',
      }),
    ).toEqual({ code: 'invalid_client', message: 'AADSTS7000215: Invalid client secret provided.' });
    expect(targetWords('<html><body><h1>502 Bad Gateway</h1></body></html>')).toEqual({
      message: '502 Bad Gateway',
    });
  });

  it('never puts a secret in the message', () => {
    const e = toNavisionError(
      new AxiosError(
        'boom',
        'ERR_BAD_REQUEST',
        { headers: new AxiosHeaders() },
        {},
        {
          status: 400,
          statusText: '',
          data: odataError('BadRequest', `key ${KEY} refused`),
          headers: {},
          config: { headers: new AxiosHeaders() },
        },
      ),
      'GET',
      'items',
      [KEY],
    );
    expect(e.message).not.toContain(KEY);
    expect(e.targetMessages.join()).not.toContain(KEY);
  });
});

describe("BC's 5-minute window", () => {
  const MIN = 60_000;
  /** A request log that says what `log()` returns, and a clock that sleeping moves. */
  function window(
    log: () => { count: number; byMinute: { at: number; count: number }[] },
    opts: WindowBudgetOptions = {},
  ) {
    const clock = { now: 100 * MIN };
    const sleep = vi.fn(async (ms: number) => {
      clock.now += ms;
    });
    const budget = new WindowBudget(opts, {
      limits: { usage: async () => log() },
      now: () => clock.now,
      sleep,
    });
    return { budget, sleep, clock };
  }

  it('sends at once below half the window, spaced from half, twice as far apart from three quarters', async () => {
    let count = 100;
    const { budget, sleep } = window(() => ({ count, byMinute: [] }), { refreshEvery: 1 });
    await budget.beforeRequest();
    await budget.beforeRequest();
    expect(sleep).not.toHaveBeenCalled();
    count = 3000;
    await budget.beforeRequest(); // the first spaced request goes at once…
    await budget.beforeRequest(); // …the next 50 ms after it
    count = 4500;
    await budget.beforeRequest(); // still 50 ms after the one before…
    await budget.beforeRequest(); // …and from 75% the gap is 100 ms
    expect(sleep.mock.calls.map((c) => c[0])).toEqual([50, 50, 100]);
  });

  it('waits in place when the window clears soon', async () => {
    let count = 5400;
    const { budget, sleep, clock } = window(() => ({
      count,
      byMinute: count > 100 ? [{ at: clock.now - 5 * MIN + 10_000, count: 5400 }] : [],
    }));
    const started = clock.now;
    sleep.mockImplementation(async (ms: number) => {
      clock.now += ms;
      count = 100; // the old requests left the window meanwhile
    });
    await budget.beforeRequest();
    expect(sleep.mock.calls.map((c) => c[0])).toEqual([15_000]); // the bucket's end, 5 minutes on
    expect(clock.now - started).toBe(15_000);
  });

  it('defers the run with BudgetExhaustedError when the window clears later', async () => {
    const { budget, sleep, clock } = window(() => ({
      count: 5400,
      byMinute: [{ at: 100 * MIN - 10_000, count: 5400 }],
    }));
    const err = await budget.beforeRequest().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(BudgetExhaustedError);
    expect((err as BudgetExhaustedError).retryAt).toBe(clock.now + 5 * MIN - 10_000 + 5_000);
    expect(classifyNavisionError(err).kind).toBe('budget');
    expect(sleep).not.toHaveBeenCalled();
  });

  it('reports the window as a TargetBudget of 5 minutes', async () => {
    let count = 40;
    const { budget } = window(() => ({ count, byMinute: [] }));
    await budget.beforeRequest();
    count = 47;
    expect(await budget.report(true, () => 7)).toEqual({
      threshold: 6000,
      timeframeMinutes: 5,
      usedAtStart: 40,
      usedAtEnd: 47,
      requestsThisRun: 7,
    });
    expect(await budget.report(false, () => 7)).toMatchObject({ usedAtEnd: 41, usedAtEndEstimated: true });
  });

  it('is watched on BC online only', () => {
    expect(bc({ budget: {} }).client.budget).toBeUndefined();
  });
});
