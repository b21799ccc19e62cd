import { setTimeout as delay } from 'node:timers/promises';
import axios from 'axios';
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import {
  AutotaskClient,
  type AutotaskClientOptions,
  AutotaskError,
  classifyAutotaskError,
  type Filter,
} from '../../connectors/autotask/client.ts';
import { createMemoryLimits } from '../../connectors/limits-memory.ts';
import { BudgetExhaustedError, isBudgetExhausted, TargetError } from '../../connectors/types.ts';

const LOOKUP = 'https://lookup.test';
const ZONE = 'https://zone5.test';
const SECRET = 'top-secret-value';
const credentials = { userName: 'api@example.com', secret: SECRET, integrationCode: 'CODE-1' };

function makeClient(over: Partial<AutotaskClientOptions> = {}) {
  const sleep = vi.fn(async (_ms: number) => {});
  const client = new AutotaskClient({
    http: axios.create(),
    credentials,
    zoneLookupUrl: `${LOOKUP}/atservicesrest/v1.0/zoneInformation`,
    sleep,
    random: () => 0.5,
    ...over,
  });
  return { client, sleep };
}

function zone() {
  return nock(LOOKUP)
    .get('/atservicesrest/v1.0/zoneInformation')
    .query({ user: credentials.userName })
    .reply(200, { zoneName: 'Zone 5', url: `${ZONE}/ATServicesRest/`, webUrl: 'x', ci: 5 });
}

beforeAll(() => {
  nock.disableNetConnect();
});
afterEach(() => {
  nock.cleanAll();
});

describe('AutotaskClient', () => {
  it('discovers the zone once and sends the Autotask headers', async () => {
    const lookup = zone();
    const seen: Record<string, unknown>[] = [];
    const api = nock(ZONE)
      .post('/ATServicesRest/V1.0/Companies/query')
      .times(2)
      .reply(function (_uri, body) {
        seen.push({ ...this.req.headers, body });
        return [200, { items: [{ id: 1, companyName: 'A' }], pageDetails: { count: 1 } }];
      });
    const { client } = makeClient();
    await client.query('Companies', [{ op: 'eq', field: 'id', value: 1 }]);
    await client.query('Companies', [{ op: 'eq', field: 'id', value: 1 }]);
    expect(lookup.isDone() && api.isDone()).toBe(true);
    expect(seen[0]).toMatchObject({
      apiintegrationcode: 'CODE-1',
      username: 'api@example.com',
      secret: SECRET,
      'content-type': 'application/json',
      body: { MaxRecords: 500, filter: [{ op: 'eq', field: 'id', value: 1 }] },
    });
  });

  it('does not send the Secret to the zone lookup host', async () => {
    let headers: Record<string, unknown> = {};
    nock(LOOKUP)
      .get('/atservicesrest/v1.0/zoneInformation')
      .query(true)
      .reply(function () {
        headers = this.req.headers;
        return [200, { url: `${ZONE}/ATServicesRest/` }];
      });
    await makeClient().client.zoneUrl();
    expect(headers.secret).toBeUndefined();
  });

  it('walks every page by id, past 500, until a short page', async () => {
    zone();
    const all = Array.from({ length: 1200 }, (_, i) => ({ id: i + 1, name: `S${i + 1}` }));
    const filters: Filter[][] = [];
    nock(ZONE)
      .post('/ATServicesRest/V1.0/Services/query')
      .times(3)
      .reply((_uri, body) => {
        const { filter, MaxRecords } = body as { filter: Filter[]; MaxRecords: number };
        filters.push(filter);
        const after = filter.find((f) => f.op === 'gt' && f.field === 'id')?.value as number | undefined;
        const items = all.filter((s) => after === undefined || s.id > after).slice(0, MaxRecords);
        return [200, { items, pageDetails: { count: items.length } }];
      });
    const { client } = makeClient();
    const base: Filter[] = [{ op: 'beginsWith', field: 'name', value: 'S' }];
    const items = (await client.query('Services', base)) as { id: number }[];
    expect(items).toHaveLength(1200);
    expect(new Set(items.map((i) => i.id)).size).toBe(1200);
    expect(filters).toEqual([
      base,
      [...base, { op: 'gt', field: 'id', value: 500 }],
      [...base, { op: 'gt', field: 'id', value: 1000 }],
    ]);
  });

  it('splits in-lists into chunks of at most 500 values', async () => {
    zone();
    const sizes: number[] = [];
    nock(ZONE)
      .post('/ATServicesRest/V1.0/Companies/query')
      .times(3)
      .reply((_uri, body) => {
        const values = (body as { filter: Filter[] }).filter[0]!.value as number[];
        sizes.push(values.length);
        return [200, { items: values.slice(0, 2).map((id) => ({ id })) }];
      });
    const ids = Array.from({ length: 1100 }, (_, i) => i + 1);
    const items = await makeClient().client.queryIn('Companies', 'id', [...ids, 1, 2]);
    expect(sizes).toEqual([500, 500, 100]);
    expect(items).toHaveLength(6);
  });

  it('surfaces {"errors":[...]} as a permanent TargetError with Autotask’s words, without retrying', async () => {
    zone();
    const api = nock(ZONE)
      .post('/ATServicesRest/V1.0/Contracts')
      .reply(500, { errors: ['endDate must be on or after startDate', `echo ${SECRET}`] });
    const { client, sleep } = makeClient();
    const err = await client.create('Contracts', { contractName: 'x' }).catch((e) => e);
    expect(err).toBeInstanceOf(TargetError);
    expect(err.name).toBe('TargetError');
    expect(err.status).toBe(500);
    expect(err.targetMessages[0]).toBe('endDate must be on or after startDate');
    expect(err.message).toContain('endDate must be on or after startDate');
    expect(`${err.message} ${JSON.stringify(err.targetMessages)} ${String(err.cause)}`).not.toContain(SECRET);
    expect(classifyAutotaskError(err).kind).toBe('permanent');
    expect(sleep).not.toHaveBeenCalled();
    expect(api.isDone()).toBe(true);
  });

  it('waits out 429s without burning attempts, honouring Retry-After', async () => {
    zone();
    const api = nock(ZONE)
      .post('/ATServicesRest/V1.0/Companies/query')
      .times(5)
      .reply(429, { errors: ['API thread threshold of 3 threads has been exceeded'] })
      .post('/ATServicesRest/V1.0/Companies/query')
      .reply(429, '', { 'Retry-After': '2' })
      .post('/ATServicesRest/V1.0/Companies/query')
      .reply(200, { items: [{ id: 7 }] });
    const { client, sleep } = makeClient({ maxAttempts: 2 });
    const items = await client.query('Companies', [{ op: 'eq', field: 'id', value: 7 }]);
    expect(items).toEqual([{ id: 7 }]);
    expect(api.isDone()).toBe(true);
    expect(sleep.mock.calls.map((c) => c[0])).toEqual([150, 300, 600, 1200, 2400, 2000]);
  });

  it('treats a thread-threshold message under any status as throttling, also for creates', async () => {
    zone();
    nock(ZONE)
      .post('/ATServicesRest/V1.0/Services')
      .reply(500, { errors: ['API thread threshold of 3 threads has been exceeded'] })
      .post('/ATServicesRest/V1.0/Services')
      .reply(200, { itemId: 42 });
    const { client, sleep } = makeClient();
    expect(await client.create('Services', { name: 'x' })).toBe(42);
    expect(sleep).toHaveBeenCalledTimes(1);
  });

  it('gives up after the throttle-wait bound and leaves long waits to the engine', async () => {
    zone();
    nock(ZONE).get('/ATServicesRest/V1.0/ThresholdInformation').times(3).reply(429, {});
    const bounded = makeClient({ maxThrottleWaits: 2 });
    const err = await bounded.client.thresholdInformation().catch((e) => e);
    expect(classifyAutotaskError(err)).toMatchObject({ kind: 'throttled' });
    expect(bounded.sleep).toHaveBeenCalledTimes(2);

    nock(ZONE).get('/ATServicesRest/V1.0/ThresholdInformation').reply(429, {}, { 'Retry-After': '3600' });
    const long = makeClient({ zoneUrl: `${ZONE}/ATServicesRest/`, now: () => 5_000 });
    const err2 = await long.client.thresholdInformation().catch((e) => e);
    // Too long to sit out inside a request: the run is deferred (no attempt spent) until then.
    expect(isBudgetExhausted(err2)).toBe(true);
    expect(err2.retryAt).toBe(5_000 + 3_600_000);
    // A spent budget ends the call at once (no wait inside it) and defers the run.
    expect(classifyAutotaskError(err2).kind).toBe('budget');
    expect(long.sleep).not.toHaveBeenCalled();
  });

  it('defers the run at once when the hourly budget is spent, at Retry-After or an estimate', async () => {
    const refusal = { errors: ['The request threshold of 10000 requests per 60 minutes has been exceeded'] };
    nock(ZONE)
      .post('/ATServicesRest/V1.0/Companies/query')
      .reply(429, refusal, { 'Retry-After': '120' })
      .post('/ATServicesRest/V1.0/Companies/query')
      .reply(429, refusal);
    const { client, sleep } = makeClient({ zoneUrl: `${ZONE}/ATServicesRest/`, now: () => 1_000_000 });
    const told = await client.query('Companies', []).catch((e) => e);
    expect(told).toBeInstanceOf(BudgetExhaustedError);
    expect(told.retryAt).toBe(1_000_000 + 120_000);
    expect(told.message).toContain('request threshold of 10000');
    const guessed = await client.query('Companies', []).catch((e) => e);
    // Nothing known of the window: the 10% reserve's worth leaves an evenly used hour in 6 minutes.
    expect(guessed.retryAt).toBe(1_000_000 + 6 * 60_000);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('keeps to 3 requests in flight per endpoint, each endpoint on its own', async () => {
    let active = 0;
    let peak = 0;
    const slow = (status: number, body: unknown) => async () => {
      active++;
      peak = Math.max(peak, active);
      await new Promise((r) => setTimeout(r, 20));
      active--;
      return [status, body] as [number, unknown];
    };
    nock(ZONE)
      .post('/ATServicesRest/V1.0/Companies/query')
      .times(8)
      .reply(slow(200, { items: [] }));
    let contracts = 0;
    nock(ZONE)
      .post('/ATServicesRest/V1.0/Contracts/query')
      .reply(() => {
        contracts = active;
        return [200, { items: [] }];
      });
    const { client } = makeClient({ zoneUrl: `${ZONE}/ATServicesRest/` });
    const queries = Array.from({ length: 8 }, (_, i) =>
      client.query('Companies', [{ op: 'eq', field: 'id', value: i }]),
    );
    await new Promise((r) => setTimeout(r, 5));
    await client.query('Contracts', []);
    await Promise.all(queries);
    expect(peak).toBe(3);
    expect(contracts).toBe(3); // another endpoint did not wait for Companies' slots
  });

  it('reads ThresholdInformation first when watching the budget, then paces from 50% and stops before the reserve', async () => {
    const threshold = (count: number) => ({
      externalRequestThreshold: 100,
      requestThresholdTimeframe: 60,
      currentTimeframeRequestCount: count,
    });
    const order: string[] = [];
    nock(ZONE)
      .get('/ATServicesRest/V1.0/ThresholdInformation')
      .reply(() => {
        order.push('threshold');
        return [200, threshold(86)];
      })
      .post('/ATServicesRest/V1.0/Companies/query')
      .times(3)
      .reply(() => {
        order.push('query');
        return [200, { items: [] }];
      });
    const { client, sleep } = makeClient({
      zoneUrl: `${ZONE}/ATServicesRest/`,
      budget: { reserve: 0.1, spacingMs: 40 },
      now: () => 1_000,
    });
    for (let i = 0; i < 3; i++) await client.query('Companies', []);
    expect(order).toEqual(['threshold', 'query', 'query', 'query']);
    // 86% of the budget used: two gaps of 2 × 40 ms between three requests (a fake sleep does not move time).
    expect(sleep.mock.calls.map((c) => c[0])).toEqual([80, 160]);
    const err = await client.query('Companies', []).catch((e) => e);
    expect(isBudgetExhausted(err)).toBe(true);
    expect(err.message).toMatch(/90 of 100/);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('counts in the request log only the requests that left', async () => {
    const limits = createMemoryLimits();
    const http = axios.create();
    let refuse = true;
    http.interceptors.request.use((config) => {
      if (refuse) throw new Error('gate closed');
      return config;
    });
    nock(ZONE)
      .post('/ATServicesRest/V1.0/Contracts/query')
      .reply(503, 'busy')
      .post('/ATServicesRest/V1.0/Contracts/query')
      .reply(200, { items: [] });
    const { client } = makeClient({ http, limits, zoneUrl: `${ZONE}/ATServicesRest/` });
    await expect(client.query('Contracts', [])).rejects.toThrow('gate closed');
    expect((await limits.usage()).count).toBe(0);
    refuse = false;
    await client.query('Contracts', []);
    expect((await limits.usage()).count).toBe(2); // the 503 and its retry
  });

  it('retries transient failures of reads at most 4 attempts, and never a create', async () => {
    zone();
    const reads = nock(ZONE)
      .post('/ATServicesRest/V1.0/Contracts/query')
      .times(4)
      .reply(503, 'Service Unavailable');
    const { client, sleep } = makeClient();
    const err = await client.query('Contracts', [{ op: 'eq', field: 'id', value: 1 }]).catch((e) => e);
    expect(reads.isDone()).toBe(true);
    expect(err).toBeInstanceOf(AutotaskError);
    expect(classifyAutotaskError(err).kind).toBe('transient');
    expect(sleep).toHaveBeenCalledTimes(3);

    const creates = nock(ZONE).post('/ATServicesRest/V1.0/Contracts').reply(502, '<html>Bad gateway</html>');
    const err2 = await client.create('Contracts', {}).catch((e) => e);
    expect(creates.isDone()).toBe(true);
    expect(err2.message).toContain('Bad gateway');
    expect(classifyAutotaskError(err2).kind).toBe('transient');
    expect(sleep).toHaveBeenCalledTimes(3);
  });

  it('retries a read after a network error and succeeds', async () => {
    zone();
    nock(ZONE)
      .post('/ATServicesRest/V1.0/Contracts/query')
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      .post('/ATServicesRest/V1.0/Contracts/query')
      .reply(200, { items: [] });
    const { client, sleep } = makeClient();
    expect(await client.query('Contracts', [{ op: 'eq', field: 'id', value: 1 }])).toEqual([]);
    expect(sleep).toHaveBeenCalledTimes(1);
  });

  it('rethrows a cancellation unchanged and does not retry it', async () => {
    zone();
    const controller = new AbortController();
    nock(ZONE).post('/ATServicesRest/V1.0/Contracts/query').delay(200).reply(200, { items: [] });
    const { client, sleep } = makeClient({ signal: controller.signal });
    const pending = client.query('Contracts', [{ op: 'eq', field: 'id', value: 1 }]).catch((e) => e);
    setTimeout(() => controller.abort(), 50);
    const err = await pending;
    expect(axios.isCancel(err)).toBe(true);
    expect(classifyAutotaskError(err).kind).toBe('cancelled');
    expect(sleep).not.toHaveBeenCalled();
  });

  it('sends a request Autotask refused with 401 once: rejected credentials are not retried', async () => {
    zone();
    const api = nock(ZONE)
      .post('/ATServicesRest/V1.0/Companies/query')
      .reply(401, { errors: ['Authentication failed: invalid UserName, Secret or ApiIntegrationCode'] })
      .post('/ATServicesRest/V1.0/Companies/query')
      .reply(200, { items: [] });
    const { client, sleep } = makeClient();
    const err = await client.query('Companies', []).catch((e) => e);
    expect(err).toBeInstanceOf(AutotaskError);
    expect(err.status).toBe(401);
    expect(classifyAutotaskError(err)).toEqual({
      kind: 'permanent',
      message:
        'Autotask POST V1.0/Companies/query failed (401): Authentication failed: invalid UserName, Secret or ApiIntegrationCode',
    });
    expect(sleep).not.toHaveBeenCalled();
    expect(api.pendingMocks()).toHaveLength(1); // the second answer was never asked for
  });

  it('ends a backoff wait at once when the client’s signal is aborted, and sends nothing more', async () => {
    zone();
    const controller = new AbortController();
    const api = nock(ZONE)
      .post('/ATServicesRest/V1.0/Contracts/query')
      .reply(503, 'busy')
      .post('/ATServicesRest/V1.0/Contracts/query')
      .reply(200, { items: [] });
    const { client } = makeClient({
      signal: controller.signal,
      // The real wait, aborted from outside after it started.
      sleep: (ms, signal) => {
        setTimeout(() => controller.abort(new Error('run cancelled')), 5);
        return delay(ms * 1000, undefined, { signal });
      },
    });
    const started = Date.now();
    const err = await client.query('Contracts', []).catch((e) => e);
    expect(err.name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(api.pendingMocks()).toHaveLength(1);
  });

  it('passes an error thrown by the gate through untouched', async () => {
    class GateClosed extends Error {}
    const http = axios.create();
    http.interceptors.request.use(() => {
      throw new GateClosed('consent revoked');
    });
    const { client, sleep } = makeClient({ http, zoneUrl: `${ZONE}/ATServicesRest/` });
    await expect(client.get('Contracts', 1)).rejects.toBeInstanceOf(GateClosed);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('answers null for a record Autotask says does not exist, and PATCHes the collection URL', async () => {
    zone();
    nock(ZONE)
      .get('/ATServicesRest/V1.0/Contracts/5')
      .reply(404, { errors: ['not found'] })
      .get('/ATServicesRest/V1.0/Contracts/6')
      .reply(200, { item: { id: 6 } })
      .patch('/ATServicesRest/V1.0/Contracts', { id: 6, status: 0 })
      .reply(200, { itemId: 6 });
    const { client } = makeClient();
    expect(await client.get('Contracts', 5)).toBeNull();
    expect(await client.get('Contracts', 6)).toEqual({ id: 6 });
    expect(await client.update('Contracts', { id: 6, status: 0 })).toBe(6);
  });

  it('reports a zone lookup failure in Autotask’s words', async () => {
    nock(LOOKUP)
      .get('/atservicesrest/v1.0/zoneInformation')
      .query(true)
      .reply(500, { errors: ['Zone information could not be determined'] });
    const err = await makeClient()
      .client.zoneUrl()
      .catch((e) => e);
    expect(err.targetMessages).toEqual(['Zone information could not be determined']);
    expect(classifyAutotaskError(err).kind).toBe('permanent');
  });
});

describe('classifyAutotaskError', () => {
  const made = (status: number | undefined, messages: string[]) => new TargetError('m', status, messages);
  it('classifies by status and Autotask’s words', () => {
    expect(classifyAutotaskError(made(500, ['duplicate data into contract_service_period'])).kind).toBe(
      'permanent',
    );
    expect(classifyAutotaskError(made(500, [])).kind).toBe('transient');
    expect(classifyAutotaskError(made(408, [])).kind).toBe('transient');
    expect(classifyAutotaskError(made(429, [])).kind).toBe('throttled');
    expect(classifyAutotaskError(made(403, ['x'])).kind).toBe('permanent');
    expect(
      classifyAutotaskError(made(400, ['API thread threshold of 3 threads has been exceeded'])).kind,
    ).toBe('throttled');
    expect(classifyAutotaskError(new TypeError('bug')).kind).toBe('permanent');
  });

  it('calls a cancellation cancelled and a spent budget budget, so neither is retried nor recorded as failed', () => {
    const aborted = Object.assign(new Error('This operation was aborted'), { name: 'AbortError' });
    expect(classifyAutotaskError(aborted).kind).toBe('cancelled');
    expect(classifyAutotaskError(new axios.CanceledError('canceled')).kind).toBe('cancelled');
    const spent = new BudgetExhaustedError('spent', Date.now() + 60_000);
    const verdict = classifyAutotaskError(spent);
    expect(verdict.kind).toBe('budget');
    expect(verdict.waitMs).toBeGreaterThan(59_000);
  });
});
