import { describe, expect, it } from 'vitest';
import type { AutotaskSandbox } from '../../connectors/autotask/sandbox.ts';
import { autotaskSandboxes } from '../helpers/autotask-sandboxes.ts';

const USER = { userName: 'api@msp.example', secret: 'faults-secret', integrationCode: 'INTEGRATION-F' };
const AUTH = { ApiIntegrationCode: USER.integrationCode, UserName: USER.userName, Secret: USER.secret };
const QUERY = { filter: [{ op: 'exist', field: 'id' }] };
const SERVICE = { unitPrice: 10, periodType: 2, billingCodeID: 29682801 };

const start = autotaskSandboxes({ users: [USER], companies: [{ companyName: 'Contoso' }] });

/** One call; a dropped connection answers status 0. */
async function call(sb: AutotaskSandbox, method: string, path: string, body?: unknown, signal?: AbortSignal) {
  try {
    const res = await fetch(`${sb.apiBaseUrl}V1.0/${path}`, {
      method,
      headers: { 'Content-Type': 'application/json', ...AUTH },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal,
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
  } catch (err) {
    return { status: 0, body: undefined, headers: new Headers(), error: err as Error };
  }
}

const statuses = async (sb: AutotaskSandbox, n: number) => {
  const out: number[] = [];
  for (let i = 0; i < n; i++) out.push((await call(sb, 'POST', 'Companies/query', QUERY)).status);
  return out;
};

describe('Autotask sandbox: injected faults', () => {
  it('draws faults from the seed: the same seed replays the same faults, at about the rate asked', async () => {
    const faults = { seed: 42, errorRate: 0.2, throttleRate: 0.1 };
    const [a, b, c] = await Promise.all([
      start({ faults }),
      start({ faults }),
      start({ faults: { ...faults, seed: 43 } }),
    ]);
    const [sa, sb, sc] = [await statuses(a, 60), await statuses(b, 60), await statuses(c, 60)];
    expect(sa).toEqual(sb);
    expect(sa).not.toEqual(sc);
    const errors = sa.filter((s) => s === 500).length;
    const throttles = sa.filter((s) => s === 429).length;
    expect(errors).toBeGreaterThan(4);
    expect(errors).toBeLessThan(24);
    expect(throttles).toBeGreaterThan(1);
    expect(a.faults.injected).toMatchObject({ error: errors, throttle: throttles });
  });

  it('answers an injected 5xx like a crashed server, not a business rule, and does nothing', async () => {
    const sb = await start({ faults: { errorRate: 1, methods: ['POST'] } });
    const res = await call(sb, 'POST', 'Services', { name: 'Teams', ...SERVICE });
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ Message: 'An error has occurred.' });
    expect(sb.db.services.size).toBe(0);
    // Faults limited to POST leave reads alone.
    expect((await call(sb, 'GET', 'ThresholdInformation')).status).toBe(200);
  });

  it('sends thread-limit answers under another status when asked, with Retry-After only when set', async () => {
    const sb = await start({ faults: { throttleRate: 1, throttleStatus: 500 } });
    const res = await call(sb, 'POST', 'Companies/query', QUERY);
    expect(res.status).toBe(500);
    expect(res.body).toEqual({ errors: ['API thread threshold of 3 threads has been exceeded'] });
    expect(res.headers.get('retry-after')).toBeNull();
    sb.configure({ faults: { throttleRate: 1, throttleRetryAfterS: 2 } });
    const again = await call(sb, 'POST', 'Companies/query', QUERY);
    expect(again.status).toBe(429);
    expect(again.headers.get('retry-after')).toBe('2');
  });

  it('creates the record and answers {"itemId": null}', async () => {
    const sb = await start({ faults: { nullItemIdRate: 1 } });
    const res = await call(sb, 'POST', 'Services', { name: 'Teams', ...SERVICE });
    expect(res).toMatchObject({ status: 200, body: { itemId: null } });
    expect([...sb.db.services.values()].map((s) => s.name)).toEqual(['Teams']);
    // Only creates: a query answers as usual.
    expect((await call(sb, 'POST', 'Services/query', QUERY)).body.items).toHaveLength(1);
  });

  it('carries out a write and then drops the connection, or holds the answer past the client’s patience', async () => {
    const sb = await start();
    sb.faults.inject({ kind: 'drop', entity: 'Services', method: 'POST' });
    const dropped = await call(sb, 'POST', 'Services', { name: 'Dropped', ...SERVICE });
    expect(dropped.status).toBe(0);
    expect([...sb.db.services.values()].map((s) => s.name)).toEqual(['Dropped']);

    sb.configure({ faults: { timeoutRate: 1, timeoutMs: 1_000, entities: ['Services'] } });
    const started = Date.now();
    const timedOut = await call(
      sb,
      'POST',
      'Services',
      { name: 'Late', ...SERVICE },
      AbortSignal.timeout(150),
    );
    expect(timedOut.status).toBe(0);
    expect(Date.now() - started).toBeLessThan(900);
    expect([...sb.db.services.values()].map((s) => s.name)).toEqual(['Dropped', 'Late']);
    expect(sb.faults.injected).toMatchObject({ drop: 1, timeout: 1 });
    // Other endpoints are untouched by an entity-limited fault.
    expect((await call(sb, 'POST', 'Companies/query', QUERY)).status).toBe(200);
  });

  it('serves scripted faults to the matching requests only, as many times as asked', async () => {
    const sb = await start();
    sb.faults.inject({ kind: 'error', entity: 'Contracts', method: 'POST', times: 2 });
    expect((await call(sb, 'POST', 'Companies/query', QUERY)).status).toBe(200);
    expect((await call(sb, 'POST', 'Contracts/query', QUERY)).status).toBe(500);
    expect((await call(sb, 'POST', 'Contracts/query', QUERY)).status).toBe(500);
    expect((await call(sb, 'POST', 'Contracts/query', QUERY)).status).toBe(200);
  });

  it('refuses a fault rate outside 0..1, naming it', async () => {
    const sb = await start();
    expect(() => sb.configure({ faults: { errorRate: 1.5 } })).toThrow(/faults\.errorRate/);
  });
});

describe('Autotask sandbox: the hourly budget', () => {
  it('adds latency from 50% and more from 75% of the budget, and refuses at 100%', async () => {
    const sb = await start({ requestThreshold: 20, budgetLatencyMs: { from50: 80, from75: 200 } });
    const timed = async () => {
      const t = Date.now();
      const res = await call(sb, 'POST', 'Companies/query', QUERY);
      return { ms: Date.now() - t, status: res.status };
    };
    expect((await timed()).ms).toBeLessThan(60); // 1 of 20
    sb.useBudget(9); // another integration: 10 of 20 with the next
    const half = await timed();
    expect(half.ms).toBeGreaterThanOrEqual(75);
    expect(half.ms).toBeLessThan(190);
    sb.useBudget(4); // 16 of 20
    expect((await timed()).ms).toBeGreaterThanOrEqual(190);
    const info = await call(sb, 'GET', 'ThresholdInformation');
    expect(info.body).toEqual({
      externalRequestThreshold: 20,
      requestThresholdTimeframe: 60,
      currentTimeframeRequestCount: 17,
    });
    sb.useBudget(3);
    const refused = await call(sb, 'POST', 'Companies/query', QUERY);
    expect(refused.status).toBe(429);
    expect(refused.body.errors[0]).toMatch(/request threshold of 20 requests per 60 minutes/);
  });
});
