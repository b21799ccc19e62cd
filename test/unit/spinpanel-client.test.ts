import axios, { type AxiosInstance } from 'axios';
import nock from 'nock';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { classifySpinPanelError, SpinPanelClient, SpinPanelError } from '../../src/spinpanel/client.ts';
import { parseRetryAfter } from '../../src/spinpanel/errors.ts';

const ORIGIN = 'http://spinpanel.test';
const KEY = 'sp-live-secret-key-123';
const PROBLEM = { 'Content-Type': 'application/problem+json' };

function http(): AxiosInstance {
  return axios.create({ baseURL: `${ORIGIN}/v1`, headers: { Authorization: `Bearer ${KEY}` } });
}

async function caught(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error('expected a rejection');
}

beforeEach(() => nock.disableNetConnect());
afterEach(() => {
  nock.cleanAll();
  nock.enableNetConnect();
});

describe('SpinPanelClient errors', () => {
  it('turns a problem+json answer into a SpinPanelError with SpinPanel’s own words', async () => {
    const body = {
      type: 'https://x/problems/not-found',
      title: 'Not Found',
      status: 404,
      detail: 'Customer abc does not exist.',
    };
    nock(ORIGIN).get('/v1/customers/abc/subscriptions').query(true).reply(404, body, PROBLEM);
    const err = await caught(new SpinPanelClient(http()).listSubscriptions('abc'));
    expect(err).toBeInstanceOf(SpinPanelError);
    const e = err as SpinPanelError;
    expect(e.name).toBe('SpinPanelError');
    expect(e.message).toBe(
      'SpinPanel GET /customers/abc/subscriptions failed: 404 Not Found — Customer abc does not exist.',
    );
    expect({ status: e.status, title: e.title, type: e.type, transient: e.transient }).toEqual({
      status: 404,
      title: 'Not Found',
      type: 'https://x/problems/not-found',
      transient: false,
    });
    expect(classifySpinPanelError(e).kind).toBe('permanent');
  });

  it('never carries the API key, not in the message nor in the cause', async () => {
    nock(ORIGIN)
      .get('/v1/account')
      .reply(401, { title: 'Unauthorized', status: 401, detail: 'bad key' }, PROBLEM);
    const err = (await caught(new SpinPanelClient(http()).getAccount())) as SpinPanelError;
    expect(err.status).toBe(401);
    expect(err.cause).toBeInstanceOf(Error);
    const everything = `${err.message} ${err.stack} ${JSON.stringify(err)} ${JSON.stringify(err.cause)} ${String(
      (err.cause as Error).stack,
    )}`;
    expect(everything).not.toContain(KEY);
    expect(Object.values(err.cause as object).join(' ')).not.toContain(KEY);
  });

  it('retries a 502 with backoff, and after maxAttempts throws it marked transient', async () => {
    const scope = nock(ORIGIN)
      .get('/v1/account')
      .times(3)
      .reply(502, 'Bad gateway', { 'Content-Type': 'text/plain' });
    const sleep = vi.fn(async (_ms: number) => {});
    const client = new SpinPanelClient(http(), { sleep, random: () => 0.5, maxAttempts: 3 });
    const err = (await caught(client.getAccount())) as SpinPanelError;
    expect(scope.isDone()).toBe(true);
    expect(err.transient).toBe(true);
    expect(err.message).toBe('SpinPanel GET /account failed: 502 Bad Gateway — Bad gateway');
    expect(classifySpinPanelError(err).kind).toBe('transient');
    // 200 ms·2^n, half of it jitter (random 0.5 → 3/4).
    expect(sleep.mock.calls).toEqual([[150], [300]]);
  });

  it('retries network failures and timeouts, and throws the last one as transient', async () => {
    nock(ORIGIN)
      .get('/v1/account')
      .replyWithError(Object.assign(new Error('timeout of 5000ms exceeded'), { code: 'ECONNABORTED' }))
      .get('/v1/account')
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }));
    const sleep = vi.fn(async (_ms: number) => {});
    const err = (await caught(
      new SpinPanelClient(http(), { sleep, maxAttempts: 2 }).getAccount(),
    )) as SpinPanelError;
    expect(err).toBeInstanceOf(SpinPanelError);
    expect(err.status).toBeUndefined();
    expect(err.transient).toBe(true);
    expect(err.message).toContain('socket hang up');
    expect(sleep).toHaveBeenCalledTimes(1);
  });

  it('sends a request SpinPanel refused with 401 once: a rejected key is not retried', async () => {
    const scope = nock(ORIGIN)
      .get('/v1/account')
      .reply(401, { title: 'Unauthorized', status: 401, detail: 'The API key is not valid.' }, PROBLEM)
      .get('/v1/account')
      .reply(200, { id: 'acc' });
    const sleep = vi.fn(async (_ms: number) => {});
    const err = await caught(new SpinPanelClient(http(), { sleep }).getAccount());
    expect(classifySpinPanelError(err)).toEqual({
      kind: 'permanent',
      message: 'SpinPanel GET /account failed: 401 Unauthorized — The API key is not valid.',
    });
    expect(sleep).not.toHaveBeenCalled();
    expect(scope.pendingMocks()).toHaveLength(1);
  });
});

describe('SpinPanelClient throttling', () => {
  it('waits out 429 Retry-After with the injected sleep, then succeeds', async () => {
    nock(ORIGIN)
      .get('/v1/account')
      .reply(429, { title: 'Too Many Requests', status: 429 }, { ...PROBLEM, 'Retry-After': '7' })
      .get('/v1/account')
      .reply(503, { title: 'Service Unavailable', status: 503 }, { ...PROBLEM, 'Retry-After': '2' })
      .get('/v1/account')
      .reply(200, { id: 'acc' });
    const sleep = vi.fn(async (_ms: number) => {});
    await expect(new SpinPanelClient(http(), { sleep }).getAccount()).resolves.toEqual({ id: 'acc' });
    expect(sleep.mock.calls).toEqual([[7000], [2000]]);
  });

  it('gives up after maxThrottleWaits and reports the throttle', async () => {
    const scope = nock(ORIGIN)
      .get('/v1/account')
      .times(3)
      .reply(
        429,
        { title: 'Too Many Requests', status: 429, detail: 'slow down' },
        { ...PROBLEM, 'Retry-After': '1' },
      );
    const sleep = vi.fn(async (_ms: number) => {});
    const err = await caught(new SpinPanelClient(http(), { sleep, maxThrottleWaits: 2 }).getAccount());
    expect(scope.isDone()).toBe(true);
    expect(sleep).toHaveBeenCalledTimes(2);
    expect(classifySpinPanelError(err)).toEqual({
      kind: 'throttled',
      waitMs: 1000,
      message: 'SpinPanel GET /account failed: 429 Too Many Requests — slow down',
    });
  });

  it('retries a 503 without Retry-After as a transient failure, with backoff', async () => {
    nock(ORIGIN)
      .get('/v1/account')
      .reply(503, { title: 'Service Unavailable', status: 503 }, PROBLEM)
      .get('/v1/account')
      .reply(200, { id: 'acc' });
    const sleep = vi.fn(async (_ms: number) => {});
    const client = new SpinPanelClient(http(), { sleep, random: () => 0 });
    await expect(client.getAccount()).resolves.toEqual({ id: 'acc' });
    expect(sleep.mock.calls).toEqual([[100]]);
  });
});

describe('SpinPanelClient cancellation', () => {
  it('rethrows an aborted request unchanged and does not retry it', async () => {
    const scope = nock(ORIGIN).get('/v1/account').delay(500).reply(200, { id: 'acc' });
    const controller = new AbortController();
    const client = new SpinPanelClient(http(), { signal: controller.signal, sleep: async () => {} });
    const pending = caught(client.getAccount());
    setTimeout(() => controller.abort(), 20);
    const err = await pending;
    expect(axios.isCancel(err)).toBe(true);
    expect(err).not.toBeInstanceOf(SpinPanelError);
    expect(scope.isDone()).toBe(true);
  });

  it('sends nothing more when the run is cancelled during a throttle wait', async () => {
    const scope = nock(ORIGIN)
      .get('/v1/account')
      .reply(429, { status: 429, title: 'Too Many Requests' }, { ...PROBLEM, 'Retry-After': '30' });
    const controller = new AbortController();
    const client = new SpinPanelClient(http(), { signal: controller.signal });
    const pending = caught(client.getAccount());
    setTimeout(() => controller.abort(), 20);
    const err = (await pending) as Error;
    expect(err.name).toBe('AbortError');
    expect(scope.isDone()).toBe(true);
    expect(nock.pendingMocks()).toEqual([]);
  });

  it('passes an error thrown by the gate (request interceptor) through untouched', async () => {
    class GateClosedError extends Error {
      override name = 'GateClosedError';
    }
    const instance = http();
    instance.interceptors.request.use(() => {
      throw new GateClosedError('consent revoked');
    });
    const err = await caught(new SpinPanelClient(instance).getAccount());
    expect(err).toBeInstanceOf(GateClosedError);
  });
});

describe('SpinPanelClient over many requests', () => {
  it('one 502 among many GETs no longer fails the pull', async () => {
    // 120 customers, one per page: 120 GETs, of which the 57th is answered 502 once.
    const customers = Array.from({ length: 120 }, (_, i) => ({ id: `c${i}` }));
    let gets = 0;
    nock(ORIGIN)
      .get('/v1/customers')
      .query(true)
      .times(121)
      .reply((uri) => {
        gets++;
        if (gets === 57) return [502, 'Bad gateway', { 'Content-Type': 'text/plain' }];
        const at = Number(new URL(uri, ORIGIN).searchParams.get('pageToken') ?? 0);
        const next = at + 1 < customers.length ? String(at + 1) : null;
        return [200, { items: [customers[at]], nextPageToken: next }];
      });
    const sleep = vi.fn(async (_ms: number) => {});
    const items = await new SpinPanelClient(http(), { sleep, pageSize: 1 }).listCustomers();
    expect(items).toEqual(customers);
    expect(gets).toBe(121);
    expect(sleep).toHaveBeenCalledTimes(1);
  });

  it('paces itself under its requests-per-minute limit on a rolling minute', async () => {
    let clock = 0;
    const started: number[] = [];
    const sleep = vi.fn(async (ms: number) => {
      clock += ms;
    });
    nock(ORIGIN)
      .get('/v1/account')
      .times(7)
      .reply(() => {
        started.push(clock);
        return [200, { id: 'acc' }];
      });
    const client = new SpinPanelClient(http(), { sleep, now: () => clock, requestsPerMinute: 3 });
    for (let i = 0; i < 7; i++) await client.getAccount();
    expect(started).toEqual([0, 0, 0, 60_000, 60_000, 60_000, 120_000]);
    expect(sleep.mock.calls).toEqual([[60_000], [60_000]]);
    for (const t of started)
      expect(started.filter((u) => u >= t && u < t + 60_000).length).toBeLessThanOrEqual(3);
  });

  it('sends 600 requests a minute without waiting by default, and waits before the 601st', async () => {
    let clock = 1_000;
    const sleep = vi.fn(async (ms: number) => {
      clock += ms;
    });
    nock(ORIGIN).get('/v1/account').times(601).reply(200, { id: 'acc' });
    const client = new SpinPanelClient(http(), { sleep, now: () => clock });
    for (let i = 0; i < 600; i++) {
      await client.getAccount();
      clock += 50; // 600 requests spread over 30 s
    }
    expect(sleep).not.toHaveBeenCalled();
    await client.getAccount();
    // The first of the 600 started at 1 000; the 601st may start a minute after it.
    expect(sleep.mock.calls).toEqual([[61_000 - 31_000]]);
  });
});

describe('SpinPanelClient paging', () => {
  it('follows nextPageToken with pageSize 500 until it is null', async () => {
    const seen: Record<string, string>[] = [];
    nock(ORIGIN)
      .get('/v1/customers')
      .query((q) => {
        seen.push(q as Record<string, string>);
        return true;
      })
      .times(3)
      .reply(200, (uri) => {
        const token = new URL(uri, ORIGIN).searchParams.get('pageToken');
        if (token === null) return { items: [1, 2], nextPageToken: 't1' };
        if (token === 't1') return { items: [3], nextPageToken: 't2' };
        return { items: [4], nextPageToken: null };
      });
    const items = await new SpinPanelClient(http()).listCustomers({ updatedSince: '2026-01-01T00:00:00Z' });
    expect(items).toEqual([1, 2, 3, 4]);
    expect(seen).toEqual([
      { updatedSince: '2026-01-01T00:00:00Z', pageSize: '500' },
      { updatedSince: '2026-01-01T00:00:00Z', pageSize: '500', pageToken: 't1' },
      { updatedSince: '2026-01-01T00:00:00Z', pageSize: '500', pageToken: 't2' },
    ]);
  });

  it('stops with a permanent error when the server repeats a page token', async () => {
    nock(ORIGIN)
      .get('/v1/customers')
      .query(true)
      .times(3)
      .reply(200, { items: [1], nextPageToken: 'same' });
    const err = (await caught(new SpinPanelClient(http()).listCustomers())) as SpinPanelError;
    expect(err.message).toContain('nextPageToken repeats');
    expect(classifySpinPanelError(err).kind).toBe('permanent');
  });

  it('rejects a page size outside 1–500', () => {
    expect(() => new SpinPanelClient(http(), { pageSize: 501 })).toThrow(/pageSize/);
    expect(() => new SpinPanelClient(http(), { pageSize: 0 })).toThrow(/pageSize/);
  });
});

describe('parseRetryAfter', () => {
  it('reads seconds and HTTP dates, ignores garbage', () => {
    expect(parseRetryAfter('0')).toBe(0);
    expect(parseRetryAfter('1.5')).toBe(1500);
    const now = Date.parse('2026-11-15T10:00:00Z');
    expect(parseRetryAfter('Sun, 15 Nov 2026 10:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(undefined)).toBeUndefined();
  });
});
