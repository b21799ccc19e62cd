import { afterEach, describe, expect, it } from 'vitest';
import type { Subscription } from '../../src/domain/types.ts';
import { autotaskDriver } from './autotask.ts';
import type { TargetDriver, TargetWorld } from './driver.ts';

/**
 * The billing core's scenarios, the same for every connector, each against the target's sandbox over real
 * sockets. A connector joins by adding its driver here. Expectations come from SpinPanel's contract
 * (../shared/specs/spinpanel-api.md), not from the code under test.
 */
const DRIVERS: TargetDriver[] = [autotaskDriver];

/** The target line a subscription bills on, as the spec says: yearly for annual and triennial ones. */
const lineOf = (s: Pick<Subscription, 'productName' | 'billingFrequency'>) =>
  s.billingFrequency === 'monthly' ? s.productName : `${s.productName} (yearly)`;

function expected(w: TargetWorld): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of w.sp.data.subscriptions) {
    if (s.status !== 'active' || s.offerType === 'perpetual') continue;
    const k = `${s.customerId}|${lineOf(s)}`;
    out.set(k, (out.get(k) ?? 0) + s.quantity);
  }
  return out;
}

function expectExact(w: TargetWorld) {
  for (const [k, n] of expected(w)) {
    const [customerId, line] = k.split('|') as [string, string];
    expect(w.seats(customerId, line), k).toBe(n);
  }
  expect(w.duplicates()).toEqual([]);
}

for (const driver of DRIVERS) {
  describe(`billing conformance: ${driver.name}`, () => {
    let w: TargetWorld | undefined;
    afterEach(async () => {
      await w?.close();
      w = undefined;
    });
    const start = async (opts?: Parameters<TargetDriver['start']>[0]) => {
      w = await driver.start(opts);
      return w;
    };

    it('first sync is exact; a no-change resync writes nothing', async () => {
      const w = await start();
      const run = await w.sync();
      expect(run.status).toBe('succeeded');
      expectExact(w);
      const writes = w.writes();
      const again = await w.sync();
      expect(again.applied).toEqual({});
      expect(w.writes()).toBe(writes);
    });

    it('writes equal changes: +3 and −2 the next day are two writes, dated that day', async () => {
      const w = await start();
      await w.sync();
      const [a, b] = w.sp.data.subscriptions.filter((s) => s.billingFrequency === 'monthly') as [
        Subscription,
        Subscription,
      ];
      w.advanceDays(1);
      const writes = w.writes();
      w.sp.setQuantity(a.id, a.quantity + 3);
      w.sp.setQuantity(b.id, b.quantity - 2);
      const run = await w.sync();
      expect(w.writes() - writes).toBe(2);
      expect(run.applied).toEqual({ adjustUnits: 2 });
      expectExact(w);
    });

    it('leaves the MSP’s own same-named line alone and retires the sync’s own lines when cancelled', async () => {
      const w = await start();
      const [custA, custB] = w.sp.data.customers as unknown as [{ id: string }, { id: string }];
      const e3 = w.sp.addSubscription({
        customerId: custA.id,
        productId: 'E3-ID',
        productName: 'Hand E3',
        quantity: 4,
      });
      // B's own support contract holds 7 "Hand E3" seats the MSP sells by hand; B has none in SpinPanel.
      const hand = await w.handMadeLine(custB.id, 'Hand E3', 7);
      await w.sync();
      expect(w.seats(custA.id, 'Hand E3')).toBe(4);
      expect(hand.seats()).toBe(7);
      w.advanceDays(1);
      w.sp.cancelSubscription(e3.id);
      const run = await w.sync();
      expect(w.seats(custA.id, 'Hand E3')).toBe(0);
      expect(hand.seats()).toBe(7);
      expect(run.recon).toContainEqual(expect.objectContaining({ customerId: custA.id, action: 'retire' }));
      expect(w.duplicates()).toEqual([]);
    });

    it('a product renamed upstream continues on its line: no second line, nothing billed twice', async () => {
      const w = await start();
      await w.sync();
      const s = w.sp.data.subscriptions.find((x) => x.billingFrequency === 'monthly')!;
      const old = lineOf(s);
      const seats = w.seats(s.customerId, old);
      for (const x of w.sp.data.subscriptions)
        if (x.productId === s.productId) x.productName = `${x.productName} (new name)`;
      const writes = w.writes();
      const run = await w.sync();
      expect(w.writes()).toBe(writes);
      expect(run.applied).toEqual({});
      expect(w.seats(s.customerId, old)).toBe(seats);
      expect(w.seats(s.customerId, lineOf(s))).toBeNull();
    });

    it('bills annual and monthly subscriptions of one product on separate lines at their own prices', async () => {
      const w = await start();
      const c = w.sp.data.customers[0]!;
      const money = (amount: string) => ({ amount, currency: c.currency });
      const base = { customerId: c.id, productId: 'MIX-1', productName: 'Mixed Suite' };
      w.sp.addSubscription({
        ...base,
        billingFrequency: 'annual',
        termDuration: 'P1Y',
        quantity: 10,
        unitPrice: money('10.50'),
      });
      w.sp.addSubscription({ ...base, billingFrequency: 'monthly', quantity: 5, unitPrice: money('12.60') });
      const run = await w.sync();
      expect(w.seats(c.id, 'Mixed Suite (yearly)')).toBe(10);
      expect(w.price(c.id, 'Mixed Suite (yearly)')).toBe(126);
      expect(w.seats(c.id, 'Mixed Suite')).toBe(5);
      expect(w.price(c.id, 'Mixed Suite')).toBe(12.6);
      expect(
        run.recon.filter((r) => r.productId === 'MIX-1').map((r) => [r.period, r.unitPriceAfter]),
      ).toEqual(
        expect.arrayContaining([
          ['year', 126],
          ['month', 12.6],
        ]),
      );
      // The same data listed in another order plans nothing.
      w.sp.data.subscriptions.reverse();
      expect((await w.sync()).applied).toEqual({});
    });

    it('holds two prices of one product and period with a notice instead of billing a wrong price', async () => {
      const w = await start();
      const c = w.sp.data.customers[0]!;
      const money = (amount: string) => ({ amount, currency: c.currency });
      const base = {
        customerId: c.id,
        productId: 'TWO-1',
        productName: 'Two Prices',
        billingFrequency: 'monthly' as const,
      };
      w.sp.addSubscription({ ...base, quantity: 3, unitPrice: money('9.00') });
      w.sp.addSubscription({ ...base, quantity: 2, unitPrice: money('11.00') });
      const run = await w.sync();
      expect(w.seats(c.id, 'Two Prices')).toBeNull();
      expect(run.notices).toContainEqual(expect.objectContaining({ kind: 'mixed-prices' }));
    });

    it('charges a perpetual licence once, and again only for seats added later', async () => {
      const w = await start();
      const c = w.sp.data.customers[0]!;
      const perp = w.sp.addSubscription({
        customerId: c.id,
        productId: 'PERP-1',
        productName: 'Visio LTSC 2024',
        offerType: 'perpetual',
        quantity: 3,
        unitPrice: { amount: '300.00', currency: c.currency },
      });
      await w.sync();
      expect(w.seats(c.id, 'Visio LTSC 2024')).toBeNull();
      expect(w.oneOffs(c.id).map((x) => [x.quantity, x.unitPrice])).toEqual([[3, 300]]);
      await w.sync();
      expect(w.oneOffs(c.id)).toHaveLength(1);
      w.sp.setQuantity(perp.id, 5);
      await w.sync();
      expect(
        w
          .oneOffs(c.id)
          .map((x) => x.quantity)
          .sort(),
      ).toEqual([2, 3]);
      expect(w.duplicates()).toEqual([]);
    });

    it('a second change of a line the same day waits, shown pending, and is posted by the next day’s first run', async () => {
      const w = await start();
      await w.sync();
      const s = w.sp.data.subscriptions.find((x) => x.billingFrequency === 'monthly')!;
      const q = s.quantity;
      w.advanceDays(1);
      w.sp.setQuantity(s.id, q + 1);
      await w.sync();
      w.sp.setQuantity(s.id, q + 3);
      const second = await w.sync();
      expect(second.status).toBe('succeeded');
      expect(second.errors).toEqual([]);
      expect(second.recon).toContainEqual(
        expect.objectContaining({ customerId: s.customerId, action: 'pending' }),
      );
      expect(w.seats(s.customerId, lineOf(s))).toBe(q + 1);
      w.advanceDays(1);
      await w.sync();
      expectExact(w);
      const dates = w.changeDates(s.customerId, lineOf(s));
      expect(new Set(dates).size).toBe(dates.length);
    });

    it('takes today in the partner’s time zone at a month boundary', async () => {
      // 23:30 UTC on 28 February is 00:30 on 1 March in Amsterdam: a change is dated into March.
      const w = await start({ now: Date.parse('2027-02-28T23:30:00Z'), accountTimeZone: 'Europe/Amsterdam' });
      const run = await w.sync();
      expect(run.day).toBe('2027-03-01');
      const s = w.sp.data.subscriptions.find((x) => x.billingFrequency === 'monthly')!;
      expect(w.changeDates(s.customerId, lineOf(s))).toEqual(['2027-03-01']);
    });

    it('converges under a storm of 5xx and throttling answers with nothing billed twice', async () => {
      const w = await start({ faultRate: 0.3 });
      const c = w.sp.data.customers[0]!;
      w.sp.addSubscription({
        customerId: c.id,
        productId: 'PERP-2',
        productName: 'Project 2024',
        offerType: 'perpetual',
        quantity: 2,
        unitPrice: { amount: '500.00', currency: c.currency },
      });
      let clean = false;
      for (let i = 0; i < 15 && !clean; i++) {
        const run = await w.sync();
        clean = run.status === 'succeeded' && Object.keys(run.planned).length === 0;
      }
      expect(clean).toBe(true);
      w.calm();
      expectExact(w);
      expect(w.oneOffs(c.id).map((x) => x.quantity)).toEqual([2]);
    }, 120_000);
  });
}
