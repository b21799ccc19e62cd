import { afterEach, describe, expect, it } from 'vitest';
import { NAVISION_SANDBOX_DEFAULTS } from '../../connectors/navision/sandbox.ts';
import { NAV_COMPANY, type NavFlavour, type NavWorld, startNavWorld } from '../helpers/nav-world.ts';

const FLAVOURS: NavFlavour[] = ['nav-odata', 'bc-onprem', 'bc-online'];

for (const flavour of FLAVOURS) {
  describe(`NAV / Business Central sync end to end: ${flavour}`, () => {
    let w: NavWorld | undefined;
    afterEach(async () => {
      await w?.close();
      w = undefined;
    });

    it('invoices each customer once for the month, in the company named (never the default one)', async () => {
      w = await startNavWorld({ flavour });
      const first = await w.sync();
      expect(first.status, JSON.stringify(first.errors)).toBe('succeeded');
      const company = w.nav.company(NAV_COMPANY)!;
      const cronus = w.nav.company(NAVISION_SANDBOX_DEFAULTS.company)!;
      expect(cronus.invoices.size).toBe(0);
      expect(company.invoices.size).toBe(w.sp.data.customers.length);
      // Per customer, the month's seats as the spec says: each monthly-invoiced subscription's seats at its price.
      for (const c of w.sp.data.customers) {
        const inv = [...company.invoices.values()].find(
          (i) => company.customers.get(i.customerNo)?.name === c.name,
        );
        expect(inv, c.name).toBeDefined();
        const monthly = w.sp.data.subscriptions.filter(
          (s) => s.customerId === c.id && s.billingFrequency === 'monthly',
        );
        // Monthly lines read "<product> <YYYY-MM>" (yearly ones "<from>–<to>", usage "Microsoft Azure usage …").
        const billed = inv!.lines.filter(
          (l) =>
            l.type === 'Item' && /\d{4}-\d{2}$/.test(l.description) && !/–|Azure usage/.test(l.description),
        );
        expect(billed.map((l) => l.quantity).sort()).toEqual(monthly.map((s) => s.quantity).sort());
      }
      const again = await w.sync();
      expect(again.applied).toEqual({});
      w.advanceDays(3);
      const third = await w.sync();
      expect(third.applied).toEqual({});
      expect(company.invoices.size).toBe(w.sp.data.customers.length);
    });
  });
}
