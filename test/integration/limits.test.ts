import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LinkLimits } from '../../connectors/types.ts';
import { createKeys } from '../../src/store/keys.ts';
import { createRedisLimits } from '../../src/store/limits.ts';
import { dropPrefix, freshPrefix, REDIS_URL } from '../helpers/store.ts';

const MINUTE = 60_000;

describe('Redis link limits', () => {
  let prefix: string;
  let conns: Redis[];
  beforeEach(() => {
    prefix = freshPrefix();
    conns = [];
  });
  afterEach(async () => {
    if (conns[0]) await dropPrefix(conns[0], prefix);
    for (const c of conns) c.disconnect();
  });

  /** One "process": its own connection and its own local waiting line, sharing only Redis. */
  function proc(
    o: { leaseMs?: number; now?: () => number; linkId?: string; windowMs?: number } = {},
  ): LinkLimits {
    const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
    conns.push(redis);
    return createRedisLimits({
      redis,
      keys: createKeys(prefix),
      accountId: 'acct-1',
      linkId: o.linkId ?? 'link-1',
      leaseMs: o.leaseMs ?? 10_000,
      now: o.now,
      ...(o.windowMs ? { windowMs: o.windowMs } : {}),
    });
  }

  it('never lets a 4th request of a link onto one endpoint across processes', async () => {
    const [a, b] = [proc(), proc()];
    let active = 0;
    let peak = 0;
    let done = 0;
    const hammer = (limits: LinkLimits) =>
      Array.from({ length: 15 }, async () => {
        const release = await limits.acquire('ContractServiceAdjustments', 3);
        active++;
        peak = Math.max(peak, active);
        await new Promise((r) => setTimeout(r, 8));
        active--;
        done++;
        await release();
      });
    await Promise.all([...hammer(a), ...hammer(b)]);
    expect(done).toBe(30);
    expect(peak).toBe(3);
    expect(
      await conns[0]!.exists(createKeys(prefix).linkSlots('acct-1', 'link-1', 'contractserviceadjustments')),
    ).toBe(0);
  });

  it('gives other endpoints and other links their own slots', async () => {
    const a = proc();
    const held = await Promise.all([1, 2, 3].map(() => a.acquire('Contracts', 3)));
    const other = await a.acquire('Services', 3);
    const otherLink = await proc({ linkId: 'link-2' }).acquire('Contracts', 3);
    await Promise.all([...held, other, otherLink].map((r) => r()));
  });

  it('takes back the slots of a crashed process once their lease lapses', async () => {
    const crashed = proc({ leaseMs: 300 });
    for (let i = 0; i < 3; i++) await crashed.acquire('Companies', 3); // never released
    const started = Date.now();
    const release = await proc().acquire('Companies', 3);
    const waited = Date.now() - started;
    expect(waited).toBeGreaterThanOrEqual(250);
    expect(waited).toBeLessThan(2_000);
    await release();
  });

  it('hands a slot released in this process straight to the next waiter', async () => {
    const a = proc();
    const held = await Promise.all([1, 2, 3].map(() => a.acquire('Companies', 3)));
    const started = Date.now();
    const next = a.acquire('Companies', 3);
    await new Promise((r) => setTimeout(r, 200)); // the waiter has backed off to its longest pause
    const releasedAt = Date.now();
    await held[0]!();
    const release = await next;
    expect(Date.now() - releasedAt).toBeLessThan(25);
    expect(Date.now() - started).toBeGreaterThanOrEqual(200);
    await Promise.all([release(), ...held.slice(1).map((r) => r())]);
  });

  it('stops waiting when aborted', async () => {
    const a = proc();
    const held = await a.acquire('Companies', 1);
    const controller = new AbortController();
    const waiting = a.acquire('Companies', 1, controller.signal);
    setTimeout(() => controller.abort(new Error('cancelled')), 30);
    await expect(waiting).rejects.toThrow('cancelled');
    await held();
  });

  it('logs requests per minute, shared by processes, and forgets what left the hour', async () => {
    const clock = { now: 1_000 * 60 * MINUTE };
    const [a, b] = [proc({ now: () => clock.now }), proc({ now: () => clock.now })];
    await a.record();
    await b.record();
    clock.now += 10 * MINUTE;
    await b.record();
    expect(await a.usage()).toEqual({
      count: 3,
      byMinute: [
        { at: 1_000 * 60 * MINUTE, count: 2 },
        { at: 1_000 * 60 * MINUTE + 10 * MINUTE, count: 1 },
      ],
    });
    clock.now += 55 * MINUTE;
    expect((await b.usage()).count).toBe(1);
    const key = createKeys(prefix).linkUsage('acct-1', 'link-1');
    expect(Object.keys(await conns[0]!.hgetall(key))).toHaveLength(1); // the old minute was dropped
    expect(key).toContain('{acct:acct-1}'); // hash-tagged with the account's other keys
    expect(await conns[0]!.pttl(key)).toBeGreaterThan(60 * MINUTE);
  });

  it('keeps a shorter window when asked (Business Central: 5 minutes in 5-second buckets)', async () => {
    const clock = { now: 1_000 * 60 * MINUTE };
    const window = { now: () => clock.now, windowMs: 5 * MINUTE };
    const [a, b] = [proc(window), proc(window)];
    await a.record();
    clock.now += 2_000; // the same 5-second bucket
    await b.record();
    clock.now += 3 * MINUTE;
    await a.record();
    expect(await b.usage()).toEqual({
      count: 3,
      byMinute: [
        { at: 1_000 * 60 * MINUTE, count: 2 },
        { at: 1_000 * 60 * MINUTE + 3 * MINUTE, count: 1 },
      ],
    });
    clock.now += 2 * MINUTE; // the first bucket has now left the 5 minutes
    expect((await a.usage()).count).toBe(1);
    const key = createKeys(prefix).linkUsage('acct-1', 'link-1');
    expect(Object.keys(await conns[0]!.hgetall(key))).toHaveLength(1);
    const ttl = await conns[0]!.pttl(key);
    expect(ttl).toBeGreaterThan(5 * MINUTE);
    expect(ttl).toBeLessThanOrEqual(10 * MINUTE);
  });

  it('refuses a window shorter than a minute', () => {
    expect(() => proc({ windowMs: 5_000 })).toThrow(RangeError);
  });
});
