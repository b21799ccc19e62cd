import { describe, expect, it } from 'vitest';
import { lineKey } from '../../src/billing/desired.ts';
import { invoiceKey, planCustomerInvoice } from '../../src/billing/invoices.ts';
import { type DesiredCustomer, type DesiredLine, emptyLedger, type Ledger } from '../../src/billing/types.ts';

const eur = (amount: string) => ({ amount, currency: 'EUR' });
const line = (
  productId: string,
  quantity: number,
  price = '12.60',
  period: 'month' | 'year' = 'month',
  start = '2026-01-10',
): DesiredLine => ({
  key: lineKey(productId, period, price),
  productId,
  productName: `Product ${productId}`,
  period,
  quantity,
  unitPrice: eur(price),
  unitCost: eur('10.00'),
  subscriptionIds: [`s-${productId}`],
  parts: [{ subscriptionId: `s-${productId}`, quantity, startDate: start }],
});
const customer = (lines: DesiredLine[], over: Partial<DesiredCustomer> = {}): DesiredCustomer => ({
  customerId: 'c1',
  name: 'Contoso',
  microsoftTenantId: 't1',
  currency: 'EUR',
  lines,
  ...over,
});
const settings = {
  invoiceDay: 5,
  productMarkupPercent: 0,
  bundleUsage: true,
  usageChargeName: 'Microsoft Azure usage',
};

describe('invoices: one per customer and local month', () => {
  it('keys the invoice by customer and month, upper-case and within 35 characters', () => {
    const k = invoiceKey('c1', '2026-11');
    expect(k).toMatch(/^SP-[0-9A-F]{12}-202611$/);
    expect(k.length).toBeLessThanOrEqual(35);
    expect(invoiceKey('c1', '2026-12')).not.toBe(k);
  });

  it('makes nothing before the invoice day, then bills the month’s seats in advance', () => {
    const c = customer([line('E3', 10)]);
    expect(planCustomerInvoice(c, '2026-11-04', emptyLedger(), settings).invoice).toBeUndefined();
    const p = planCustomerInvoice(c, '2026-11-05', emptyLedger(), settings);
    expect(p.fresh).toBe(true);
    expect(p.invoice?.lines.map((l) => [l.kind, l.quantity, l.unitPrice])).toEqual([['recurring', 10, 12.6]]);
    expect(p.onInvoiced).toContainEqual({ kind: 'seen', customerId: 'c1', list: [] });
  });

  it('returns an invoice recorded for the month as recorded: a later change waits for the next one', () => {
    const first = planCustomerInvoice(customer([line('E3', 10)]), '2026-11-05', emptyLedger(), settings)
      .invoice!;
    const ledger: Ledger = { ...emptyLedger(), invoices: { c1: first } };
    const again = planCustomerInvoice(customer([line('E3', 12)]), '2026-11-20', ledger, settings);
    expect(again.fresh).toBe(false);
    expect(again.invoice).toEqual(first);
    // The change is remembered for next month's proration.
    expect(again.ledger).toEqual([
      {
        kind: 'seen',
        customerId: 'c1',
        list: [{ day: '2026-11-20', quantities: { [line('E3', 12).key]: 12 } }],
      },
    ]);
  });

  it('prorates last month’s changes after its invoice by days, local', () => {
    const nov = planCustomerInvoice(customer([line('E3', 10)]), '2026-11-05', emptyLedger(), settings)
      .invoice!;
    const k = line('E3', 0).key;
    const ledger: Ledger = {
      ...emptyLedger(),
      invoices: { c1: nov },
      // +2 from the 21st, then −1 from the 26th (30-day November).
      seen: {
        c1: [
          { day: '2026-11-21', quantities: { [k]: 12 } },
          { day: '2026-11-26', quantities: { [k]: 11 } },
        ],
      },
    };
    const dec = planCustomerInvoice(customer([line('E3', 11)]), '2026-12-05', ledger, settings).invoice!;
    expect(dec.period).toBe('2026-12');
    expect(dec.lines.map((l) => [l.kind, l.quantity, l.unitPrice])).toEqual([
      ['recurring', 11, 12.6],
      ['proration', 2, 4.2], // 12.60 × 10/30
      ['proration', -1, 2.1], // 12.60 × 5/30
    ]);
  });

  it('bills a yearly line in its anniversary month only, at 12 months', () => {
    const c = customer([line('E5', 3, '20.00', 'year', '2025-11-14')]);
    const nov = planCustomerInvoice(c, '2026-11-05', emptyLedger(), settings).invoice!;
    expect(nov.lines.map((l) => [l.kind, l.quantity, l.unitPrice])).toEqual([['yearly', 3, 240]]);
    expect(planCustomerInvoice(c, '2026-12-05', emptyLedger(), settings).invoice).toBeUndefined();
  });

  it('invoices perpetual seats once, and again only those added later', () => {
    const o = {
      key: 'SPP-aaaaaaaaaaaa-bbbbbbbbbb',
      productId: 'V',
      productName: 'Visio 2024',
      subscriptionId: 's',
      quantity: 3,
      unitPrice: eur('300.00'),
      unitCost: eur('250.00'),
      startDate: '2026-11-02',
    };
    const first = planCustomerInvoice(customer([], { oneOffs: [o] }), '2026-11-05', emptyLedger(), settings);
    expect(first.invoice?.lines.map((l) => [l.key, l.quantity, l.unitPrice])).toEqual([
      [`P|${o.key}-1`, 3, 300],
    ]);
    expect(first.onInvoiced).toContainEqual({ kind: 'one-off', key: o.key, quantity: 3 });
    const later = planCustomerInvoice(
      customer([], { oneOffs: [{ ...o, quantity: 5 }] }),
      '2026-12-05',
      { ...emptyLedger(), oneOffs: { [o.key]: 3 } },
      settings,
    );
    expect(later.invoice?.lines.map((l) => [l.key, l.quantity])).toEqual([[`P|${o.key}-4`, 2]]);
  });

  it('adds the closed month’s Azure usage, bundled', () => {
    const usage = [
      {
        period: '2026-10',
        lines: [
          {
            id: 'u1',
            meterCategory: 'VM',
            productName: 'D2s',
            unit: 'h',
            quantity: '1',
            cost: eur('100.00'),
            price: null,
          },
          {
            id: 'u2',
            meterCategory: 'VM',
            productName: 'D4s',
            unit: 'h',
            quantity: '1',
            cost: eur('50.00'),
            price: eur('60.00'),
          },
        ],
      },
    ];
    const p = planCustomerInvoice(customer([], { usage }), '2026-11-05', emptyLedger(), {
      ...settings,
      productMarkupPercent: 10,
    });
    expect(p.invoice?.lines.map((l) => [l.kind, l.description, l.unitPrice])).toEqual([
      ['usage', 'Microsoft Azure usage 2026-10', 170],
    ]);
  });
});
