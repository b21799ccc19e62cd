import { afterEach, describe, expect, it } from 'vitest';
import { autotaskUnits, expectedSeats, isWrite, startWorld, type World } from '../helpers/world.ts';

/** Counts rows per key; anything above 1 is a duplicate. */
function dupes<T>(rows: Iterable<T>, key: (r: T) => string): string[] {
  const n = new Map<string, number>();
  for (const r of rows) n.set(key(r), (n.get(key(r)) ?? 0) + 1);
  return [...n].filter(([, c]) => c > 1).map(([k, c]) => `${k} ×${c}`);
}

/** The exact state, with no record twice: one contract per customer, one service per name, etc. */
function expectExactState(w: World) {
  const db = w.at.db;
  expect(dupes(db.contracts.values(), (c) => c.contractNumber)).toEqual([]);
  expect(dupes(db.services.values(), (s) => s.name.toLowerCase())).toEqual([]);
  expect(dupes(db.contractServices.values(), (cs) => `${cs.contractID}:${cs.serviceID}`)).toEqual([]);
  // One sync day: exactly one adjustment per contract service.
  expect(dupes(db.adjustments, (a) => String(a.contractServiceID))).toEqual([]);
  const seats = expectedSeats(w);
  expect(db.contracts.size).toBe(w.sp.data.customers.length);
  expect(db.contractServices.size).toBe(seats.size);
  for (const [k, n] of seats) {
    const [customerId, serviceName] = k.split('|') as [string, string];
    expect(autotaskUnits(w, customerId, serviceName), k).toBe(n);
  }
}

/** Syncs until a run finds nothing to do; returns the runs it took. */
async function syncUntilClean(w: World, max: number) {
  const runs = [];
  for (let i = 0; i < max; i++) {
    const run = await w.sync();
    runs.push(run);
    if (run.status === 'succeeded' && Object.keys(run.planned).length === 0) return runs;
  }
  throw new Error(
    `not clean after ${max} syncs: ${JSON.stringify(runs.map((r) => [r.status, r.planned, r.errors.slice(0, 2)]))}`,
  );
}

describe('sync under faults (both sandboxes over real sockets)', () => {
  let w: World | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('syncs 1,200 subscriptions, paging past 500 everywhere, and a resync writes nothing', async () => {
    w = await startWorld({
      spinpanel: { customers: 100, subscriptionsPerCustomer: 12 },
      autotask: { requestThreshold: 1_000_000 },
    });
    expect(w.sp.data.subscriptions).toHaveLength(1200);
    const first = await w.sync();
    expect(first.status).toBe('succeeded');
    expect(first.applied.adjustUnits).toBe(1200);
    expectExactState(w);

    const before = w.at.requests.length;
    const again = await w.sync();
    const reads = w.at.requests.slice(before);
    expect(again.planned).toEqual({});
    expect(reads.filter(isWrite)).toEqual([]);
    // 1,200 contract services came back over 3 pages, and their units rows (one or more each) over 3 or more:
    // a read cut at 500 would have planned the missing ones again.
    const pages = (entity: string) => reads.filter((r) => r.entity === entity).length;
    expect(pages('ContractServices')).toBe(3);
    expect(pages('ContractServiceUnits')).toBeGreaterThanOrEqual(3);
  }, 120_000);

  it('converges to the exact state with no duplicate under a 30% 5xx/429 fault rate', async () => {
    w = await startWorld({
      spinpanel: { customers: 4, subscriptionsPerCustomer: 5 },
      autotask: { faults: { seed: 7, errorRate: 0.15, throttleRate: 0.15 } },
      env: { SYNC_ATTEMPTS: '3' },
    });
    const runs = await syncUntilClean(w, 15);
    expect(w.at.faults.injected.error).toBeGreaterThan(10);
    expect(w.at.faults.injected.throttle).toBeGreaterThan(10);
    w.at.configure({ faults: {} });
    expectExactState(w);
    expect(runs.at(-1)?.status).toBe('succeeded');
  }, 120_000);

  it('a write that lands but whose answer is lost (dropped, timed out, {"itemId": null}) is not made twice', async () => {
    w = await startWorld({
      spinpanel: { customers: 3, subscriptionsPerCustomer: 3 },
      env: { HTTP_TIMEOUT_MS: '500' },
      autotask: { faults: { timeoutMs: 800 } },
    });
    const f = w.at.faults;
    f.inject({ kind: 'nullItemId', entity: 'Services', method: 'POST' });
    f.inject({ kind: 'drop', entity: 'Contracts', method: 'POST' });
    f.inject({ kind: 'timeout', entity: 'ContractServices', method: 'POST' });
    f.inject({ kind: 'drop', entity: 'ContractServiceAdjustments', method: 'POST' });
    f.inject({ kind: 'timeout', entity: 'ContractServiceAdjustments', method: 'POST' });
    await syncUntilClean(w, 5);
    expect(f.injected).toMatchObject({ nullItemId: 1, drop: 2, timeout: 2 });
    expectExactState(w);
  }, 60_000);
});
