import { describe, expect, it } from 'vitest';
import { endpointOf, HourlyBudget, type Threshold } from '../../connectors/autotask/limits.ts';
import { createMemoryLimits } from '../../connectors/limits-memory.ts';
import { BudgetExhaustedError, isBudgetExhausted } from '../../connectors/types.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** A budget on a fake clock: sleeping advances it; ThresholdInformation answers what the test says. */
function budget(opts: { reserve?: number; spacingMs?: number; refreshEvery?: number } = {}) {
  const clock = { now: 1_000_000_000 };
  const frozen = { on: false };
  const slept: number[] = [];
  const reads: Threshold[] = [];
  let answer: Threshold | Error = {
    externalRequestThreshold: 1000,
    requestThresholdTimeframe: 60,
    currentTimeframeRequestCount: 0,
  };
  const own = { byMinute: [] as { at: number; count: number }[] };
  const b = new HourlyBudget(
    { spacingMs: 100, ...opts },
    {
      read: async () => {
        if (answer instanceof Error) throw answer;
        reads.push(answer);
        return answer;
      },
      limits: { usage: async () => ({ count: own.byMinute.reduce((n, m) => n + m.count, 0), ...own }) },
      now: () => clock.now,
      sleep: async (ms) => {
        slept.push(ms);
        if (!frozen.on) clock.now += ms;
      },
    },
  );
  return {
    b,
    clock,
    frozen,
    slept,
    reads,
    own,
    answer: (count: number, limit = 1000) => {
      answer = {
        externalRequestThreshold: limit,
        requestThresholdTimeframe: 60,
        currentTimeframeRequestCount: count,
      };
    },
    fail: (e: Error) => {
      answer = e;
    },
  };
}

describe('endpointOf', () => {
  it('names the entity Autotask counts threads against, children by their own entity', () => {
    expect(endpointOf('Companies/query')).toBe('Companies');
    expect(endpointOf('V1.0/Contracts/query/count')).toBe('Contracts');
    expect(endpointOf('Contracts/12')).toBe('Contracts');
    expect(endpointOf('Contracts/12/Services')).toBe('ContractServices');
    expect(endpointOf('Contracts/12/Charges')).toBe('ContractCharges');
    expect(endpointOf('Companies/7/Contacts')).toBe('CompanyContacts');
    expect(endpointOf('ThresholdInformation')).toBe('ThresholdInformation');
  });
});

describe('HourlyBudget', () => {
  it('reads ThresholdInformation before the first request and does not pace below 50%', async () => {
    const t = budget();
    t.answer(495);
    for (let i = 0; i < 5; i++) await t.b.beforeRequest();
    expect(t.reads).toHaveLength(1);
    expect(t.slept).toEqual([]);
    expect(t.b.snapshot()).toEqual({ limit: 1000, used: 500 });
    // The 500th of 1,000 is the first one paced.
    await t.b.beforeRequest();
    await t.b.beforeRequest();
    expect(t.slept).toEqual([100]);
  });

  it('spaces requests from 50% and twice as far from 75%', async () => {
    const t = budget({ spacingMs: 100 });
    t.answer(500);
    const start = t.clock.now;
    for (let i = 0; i < 4; i++) await t.b.beforeRequest();
    // The first goes at once, each next one a gap later.
    expect(t.clock.now - start).toBe(300);

    const late = budget({ spacingMs: 100 });
    late.answer(760);
    const from = late.clock.now;
    for (let i = 0; i < 3; i++) await late.b.beforeRequest();
    expect(late.clock.now - from).toBe(400);
  });

  it('paces concurrent callers one gap apart', async () => {
    const t = budget({ spacingMs: 50 });
    t.answer(600);
    t.frozen.on = true; // all four ask at the same instant
    await Promise.all(Array.from({ length: 4 }, () => t.b.beforeRequest()));
    expect(t.slept.sort((a, b) => a - b)).toEqual([50, 100, 150]);
    expect(t.reads).toHaveLength(1);
  });

  it('stops before the reserve with a BudgetExhaustedError saying when to resume', async () => {
    const t = budget({ reserve: 0.1, spacingMs: 0 });
    t.answer(895);
    for (let i = 0; i < 5; i++) await t.b.beforeRequest(); // 895..899 used: the 900th is the reserve's
    const err = await t.b.beforeRequest().catch((e) => e);
    expect(err).toBeInstanceOf(BudgetExhaustedError);
    expect(isBudgetExhausted(err)).toBe(true);
    expect(err.message).toMatch(/900 of 1000.*10% reserve/);
    expect(err.retryAt).toBeGreaterThanOrEqual(t.clock.now + MINUTE);
    expect(err.retryAt).toBeLessThanOrEqual(t.clock.now + HOUR);
  });

  it('confirms with a fresh read before stopping, and goes on when others’ requests aged out', async () => {
    const t = budget({ reserve: 0.1, spacingMs: 0 });
    t.answer(899);
    await t.b.beforeRequest();
    t.clock.now += 20_000;
    t.answer(400); // the window moved on
    await t.b.beforeRequest();
    expect(t.reads).toHaveLength(2);
    expect(t.b.snapshot()).toEqual({ limit: 1000, used: 401 });
  });

  it('resumes when enough of our own requests leave the hour, else spreads others’ evenly', async () => {
    const t = budget({ reserve: 0.1 });
    const now = t.clock.now;
    t.own.byMinute = [
      { at: now - 50 * MINUTE, count: 30 },
      { at: now - 20 * MINUTE, count: 80 },
    ];
    // 50 must leave: the first minute frees 30, the second 80 more → when the second minute ages out.
    expect(await t.b.retryAt(50, 950)).toBe(now - 20 * MINUTE + HOUR + MINUTE);
    // Our own 110 are not enough for 500: assume the 1000 in the window leave evenly → half an hour.
    expect(await t.b.retryAt(500, 1000)).toBe(now + HOUR / 2);
    // Never less than a minute ahead.
    t.own.byMinute = [];
    expect(await t.b.retryAt(1, 1000)).toBe(now + MINUTE);
  });

  it('re-reads ThresholdInformation after refreshEvery requests', async () => {
    const t = budget({ refreshEvery: 3 });
    t.answer(10);
    for (let i = 0; i < 7; i++) await t.b.beforeRequest();
    expect(t.reads).toHaveLength(3);
  });

  it('goes on unpaced when ThresholdInformation cannot be read, and tries again later', async () => {
    const t = budget({ refreshEvery: 4 });
    t.fail(new Error('403 not allowed'));
    for (let i = 0; i < 4; i++) await t.b.beforeRequest();
    expect(t.b.snapshot()).toBeUndefined();
    t.answer(700);
    await t.b.beforeRequest();
    expect(t.b.snapshot()).toEqual({ limit: 1000, used: 701 });
  });

  it('reports the first reading and a fresh one at the end, or an estimate when it may not look again', async () => {
    const t = budget({ refreshEvery: 3 });
    expect(await t.b.report(false, () => 0)).toBeUndefined();
    t.answer(200);
    for (let i = 0; i < 3; i++) await t.b.beforeRequest();
    t.answer(260); // others used the budget meanwhile; read again at the 4th request
    for (let i = 0; i < 2; i++) await t.b.beforeRequest();
    expect(t.reads).toHaveLength(2);
    // Stopped (cancelled, deferred): the last reading plus this run's requests since, said to be an estimate.
    expect(await t.b.report(false, () => 9)).toEqual({
      threshold: 1000,
      timeframeMinutes: 60,
      usedAtStart: 200,
      usedAtEnd: 262,
      usedAtEndEstimated: true,
      requestsThisRun: 9,
    });
    expect(t.reads).toHaveLength(2);
    t.answer(300);
    expect(await t.b.report(true, () => 10)).toEqual({
      threshold: 1000,
      timeframeMinutes: 60,
      usedAtStart: 200,
      usedAtEnd: 300,
      requestsThisRun: 10,
    });
    // A failed last look falls back to the estimate rather than failing the run record.
    t.fail(new Error('503'));
    expect(await t.b.report(true, () => 11)).toMatchObject({ usedAtEnd: 262, usedAtEndEstimated: true });
  });

  it('refuses a reserve that leaves no room to work', () => {
    expect(
      () =>
        new HourlyBudget(
          { reserve: 0.7 },
          { read: async () => ({}) as Threshold, limits: {} as never, sleep: async () => {} },
        ),
    ).toThrow(/reserve/);
  });
});

describe('memory limits', () => {
  it('lets at most `max` requests per endpoint in, first come first served', async () => {
    const limits = createMemoryLimits();
    const order: number[] = [];
    let active = 0;
    let peak = 0;
    await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const release = await limits.acquire('Companies', 3);
        order.push(i);
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 5));
        active--;
        await release();
      }),
    );
    expect(peak).toBe(3);
    expect(order).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    // Another endpoint has its own slots.
    const held = await Promise.all([1, 2, 3].map(() => limits.acquire('Contracts', 3)));
    const other = await limits.acquire('Services', 3);
    await Promise.all([...held, other].map((r) => r()));
  });

  it('stops waiting when the run is aborted', async () => {
    const limits = createMemoryLimits();
    const held = await limits.acquire('Companies', 1);
    const controller = new AbortController();
    const waiting = limits.acquire('Companies', 1, controller.signal);
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    await held();
    const again = await limits.acquire('Companies', 1);
    await again();
  });

  it('counts requests in the rolling hour by minute', async () => {
    const clock = { now: 10 * HOUR };
    const limits = createMemoryLimits(() => clock.now);
    await limits.record();
    clock.now += 30 * MINUTE;
    await limits.record();
    await limits.record();
    expect(await limits.usage()).toEqual({
      count: 3,
      byMinute: [
        { at: 10 * HOUR, count: 1 },
        { at: 10 * HOUR + 30 * MINUTE, count: 2 },
      ],
    });
    clock.now += 31 * MINUTE;
    expect((await limits.usage()).count).toBe(2);
  });
});
