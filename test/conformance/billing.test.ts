import { afterEach, describe, expect, it } from 'vitest';
import type { Subscription } from '../../src/domain/types.ts';
import { autotaskDriver } from './autotask.ts';
import { lineOf, type TargetDriver, type TargetWorld } from './driver.ts';
import { navisionDriver } from './navision.ts';

/**
 * The billing core's scenarios, the same for every connector, each against the target's sandbox over real
 * sockets. A connector joins by adding its driver here. Expectations come from SpinPanel's contract
 * (../shared/specs/spinpanel-api.md), not from the code under test; where a quantities target and an invoicing
 * one bill a change differently (a line's units that day, or the next month's invoice) the scenario says so.
 */
const DRIVERS: TargetDriver[] = [
  autotaskDriver,
  navisionDriver('nav-odata'),
  navisionDriver('bc-onprem'),
  navisionDriver('bc-online'),
];

function expectExact(w: TargetWorld) {
  for (const [k, n] of w.expected()) {
    const [customerId, line] = k.split('|') as [string, string];
    expect(w.seats(customerId, line), k).toBe(n);
  }
  expect(w.duplicates()).toEqual([]);
}

const monthly = (w: TargetWorld) => w.sp.data.subscriptions.filter((s) => s.billingFrequency === 'monthly');

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
      expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
      expectExact(w);
      const writes = w.writes();
      const again = await w.sync();
      expect(again.applied).toEqual({});
      expect(w.writes()).toBe(writes);
    });

    it('writes equal changes: +3 and −2 are billed at the next billing point, once', async () => {
      const w = await start();
      await w.sync();
      const [a, b] = monthly(w) as [Subscription, Subscription];
      const writes = w.writes();
      w.sp.setQuantity(a.id, a.quantity + 3);
      w.sp.setQuantity(b.id, b.quantity - 2);
      if (driver.kind === 'invoices') {
        // The month's invoice is made: a change waits for the next one (and is prorated there).
        const same = await w.sync();
        expect(same.applied).toEqual({});
        expect(w.writes()).toBe(writes);
      }
      w.nextBillingPoint();
      const run = await w.sync();
      expect(run.status).toBe('succeeded');
      if (driver.kind === 'quantities') {
        expect(w.writes() - writes).toBe(2);
        expect(run.applied).toEqual({ adjustUnits: 2 });
      }
      expectExact(w);
      const again = await w.sync();
      expect(again.applied).toEqual({});
    });

    it('leaves the MSP’s own same-named line alone and stops billing the sync’s own line when cancelled', async () => {
      const w = await start();
      const [custA, custB] = w.sp.data.customers as unknown as [{ id: string }, { id: string }];
      const e3 = w.sp.addSubscription({
        customerId: custA.id,
        productId: 'E3-ID',
        productName: 'Hand E3',
        quantity: 4,
      });
      // B is billed 7 "Hand E3" seats by hand; B has none in SpinPanel.
      const hand = await w.handMadeLine(custB.id, 'Hand E3', 7);
      await w.sync();
      expect(w.seats(custA.id, 'Hand E3')).toBe(4);
      expect(hand.seats()).toBe(7);
      w.sp.cancelSubscription(e3.id);
      w.nextBillingPoint();
      const run = await w.sync();
      expect(w.seats(custA.id, 'Hand E3') ?? 0).toBe(0);
      expect(hand.seats()).toBe(7);
      if (driver.kind === 'quantities') {
        expect(run.recon).toContainEqual(expect.objectContaining({ customerId: custA.id, action: 'retire' }));
      }
      expect(w.duplicates()).toEqual([]);
    });

    it('a product renamed upstream continues on its item: no second item, nothing billed twice', async () => {
      const w = await start();
      await w.sync();
      const s = monthly(w)[0]!;
      const old = lineOf(s);
      const seats = w.seats(s.customerId, old);
      const items = w.itemCount();
      for (const x of w.sp.data.subscriptions) {
        if (x.productId === s.productId) x.productName = `${x.productName} (new name)`;
      }
      w.nextBillingPoint();
      await w.sync();
      expect(w.itemCount()).toBe(items);
      expect((w.seats(s.customerId, old) ?? 0) + (w.seats(s.customerId, lineOf(s)) ?? 0)).toBe(seats);
      expect(w.duplicates()).toEqual([]);
    });

    it('bills annual and monthly subscriptions of one product on separate lines at their own prices', async () => {
      const w = await start();
      const c = w.sp.data.customers[0]!;
      const money = (amount: string) => ({ amount, currency: c.currency });
      const base = { customerId: c.id, productId: 'MIX-1', productName: 'Mixed Suite' };
      // Started this month, so an invoicing target bills its year now.
      const startDate = `${w.day().slice(0, 7)}-01`;
      w.sp.addSubscription({
        ...base,
        billingFrequency: 'annual',
        termDuration: 'P1Y',
        quantity: 10,
        unitPrice: money('10.50'),
        startDate,
      });
      w.sp.addSubscription({
        ...base,
        billingFrequency: 'monthly',
        quantity: 5,
        unitPrice: money('12.60'),
        startDate,
      });
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

    it('never bills two prices of one product and period at one price', async () => {
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
      const lines = w.linesOf(c.id, 'Two Prices').sort((x, y) => x.unitPrice - y.unitPrice);
      if (lines.length === 0) {
        // A target with one price per line holds it, saying why.
        expect(run.notices).toContainEqual(expect.objectContaining({ kind: 'mixed-prices' }));
      } else {
        expect(lines).toEqual([
          { quantity: 3, unitPrice: 9 },
          { quantity: 2, unitPrice: 11 },
        ]);
      }
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
      w.nextBillingPoint();
      await w.sync();
      expect(
        w
          .oneOffs(c.id)
          .map((x) => x.quantity)
          .sort(),
      ).toEqual([2, 3]);
      expect(w.duplicates()).toEqual([]);
    });

    it('a second change of a line the same day never fails the run, is shown pending, and is billed once', async () => {
      const w = await start();
      await w.sync();
      const s = monthly(w)[0]!;
      const q = s.quantity;
      w.nextBillingPoint();
      await w.sync();
      w.sp.setQuantity(s.id, q + 1);
      await w.sync();
      w.sp.setQuantity(s.id, q + 3);
      const second = await w.sync();
      expect(second.status).toBe('succeeded');
      expect(second.errors).toEqual([]);
      expect(second.recon).toContainEqual(
        expect.objectContaining({ customerId: s.customerId, action: 'pending' }),
      );
      w.nextBillingPoint();
      await w.sync();
      expectExact(w);
      const dates = w.changeDates(s.customerId, lineOf(s));
      expect(new Set(dates).size).toBe(dates.length);
    });

    it('takes today in the partner’s time zone at a month boundary', async () => {
      if (driver.kind === 'quantities') {
        // 23:30 UTC on 28 February is 00:30 on 1 March in Amsterdam: a change is dated into March.
        const w = await start({
          now: Date.parse('2027-02-28T23:30:00Z'),
          accountTimeZone: 'Europe/Amsterdam',
        });
        const run = await w.sync();
        expect(run.day).toBe('2027-03-01');
        const s = monthly(w)[0]!;
        expect(w.changeDates(s.customerId, lineOf(s))).toEqual(['2027-03-01']);
      } else {
        // 23:30 UTC on 4 March is 00:30 on the 5th, the invoice day, in Amsterdam: March is invoiced.
        const w = await start({
          now: Date.parse('2027-03-04T23:30:00Z'),
          accountTimeZone: 'Europe/Amsterdam',
        });
        const run = await w.sync();
        expect(run.day).toBe('2027-03-05');
        w.advanceDays(0);
        const s = monthly(w)[0]!;
        expect(run.recon).toContainEqual(
          expect.objectContaining({ customerId: s.customerId, action: 'add' }),
        );
      }
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
      expect(w.faultsInjected()).toBeGreaterThan(5);
      w.calm();
      expectExact(w);
      expect(w.oneOffs(c.id).map((x) => x.quantity)).toEqual([2]);
    }, 120_000);
  });
}
