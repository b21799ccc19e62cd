import { describe, expect, it } from 'vitest';
import {
  cutText,
  planOneOffs,
  planUsageMonth,
  usageCharges,
  usageKeyBase,
  type ViewCharge,
} from '../../src/billing/charges.ts';
import { oneOffKeyBase } from '../../src/billing/desired.ts';
import { CommonSettings } from '../../src/billing/settings.ts';
import type { DesiredOneOff, DesiredUsage } from '../../src/billing/types.ts';

const bundled = CommonSettings.parse({ productMarkupPercent: 10, usageChargeName: 'Azure' });
const perProduct = { ...bundled, bundleUsage: false };
const customer = {
  customerId: '3f1c7d52-0c1e-4a8e-9f3a-5b6c7d8e9f01',
  name: 'Contoso',
  currency: 'EUR',
};
const money = (amount: string, currency = 'EUR') => ({ amount, currency });
const usageLine = (id: string, product: string, cost: string, price: string | null = null) => ({
  id,
  meterCategory: 'Virtual Machines',
  productName: product,
  unit: '1 Hour',
  quantity: '10.000000',
  cost: money(cost),
  price: price === null ? null : money(price),
});
const october: DesiredUsage = {
  period: '2026-10',
  lines: [
    usageLine('u1', 'D2s v5', '100.00'), // no price: 110.00 with the 10% mark-up
    usageLine('u2', 'D2s v5', '50.00', '60.00'),
    usageLine('u3', 'B1', '20.00'), // 22.00
  ],
};
const span = { start: '2026-01-01', end: '2026-12-31' };
const posted = (key: string, unitPrice: number, quantity = 1): ViewCharge => ({ key, quantity, unitPrice });

describe('usage charges', () => {
  it('keys a month by a hash of the customer and the period, within Autotask’s 50 characters', () => {
    const key = usageKeyBase(customer.customerId, '2026-10');
    expect(key).toMatch(/^SP-[0-9a-f]{12}-2026-10$/);
    expect(usageKeyBase(customer.customerId, '2026-10')).toBe(key);
    expect(usageKeyBase('another', '2026-10')).not.toBe(key);
    expect(usageKeyBase(customer.customerId, '2026-11')).not.toBe(key);
    const charges = usageCharges(customer, october, perProduct, '2026-10-31');
    expect(charges.length).toBe(2);
    for (const charge of charges) {
      expect(charge.key.startsWith(`${key}-`)).toBe(true);
      expect(charge.key.length).toBeLessThanOrEqual(50);
    }
  });

  it('bundles a month into one charge, marking up cost only where SpinPanel gives no price', () => {
    const charges = usageCharges(customer, october, bundled, '2026-10-31');
    expect(charges).toEqual([
      {
        kind: 'usage',
        key: usageKeyBase(customer.customerId, '2026-10'),
        name: 'Azure 2026-10',
        description: expect.stringContaining('3 usage line(s)'),
        date: '2026-10-31',
        quantity: 1,
        unitPrice: 192,
        unitCost: 170,
      },
    ]);
  });

  it('posts one charge per product when bundling is off', () => {
    const charges = usageCharges(customer, october, perProduct, '2026-10-31');
    expect(charges.map((c) => [c.name, c.unitPrice, c.unitCost])).toEqual([
      ['Virtual Machines – B1 2026-10', 22, 20],
      ['Virtual Machines – D2s v5 2026-10', 170, 150],
    ]);
    expect(new Set(charges.map((c) => c.key)).size).toBe(2);
  });

  it('leaves out a product whose price and cost are both zero', () => {
    const free = { ...october, lines: [...october.lines, usageLine('u4', 'Free tier', '0.00')] };
    expect(usageCharges(customer, free, perProduct, '2026-10-31').map((c) => c.name)).toEqual([
      'Virtual Machines – B1 2026-10',
      'Virtual Machines – D2s v5 2026-10',
    ]);
  });

  it('posts a month nothing was posted for, dated at its end and inside the contract', () => {
    const plan = planUsageMonth(customer, october, [], span, bundled);
    expect(plan.recon).toEqual({
      customerId: customer.customerId,
      customerName: 'Contoso',
      period: '2026-10',
      spinpanelTotal: 192,
      postedTotal: null,
      action: 'post',
    });
    expect(plan.notice).toBeUndefined();
    expect(plan.posts).toEqual([
      expect.objectContaining({
        key: usageKeyBase(customer.customerId, '2026-10'),
        date: '2026-10-31',
        quantity: 1,
        unitPrice: 192,
        unitCost: 170,
      }),
    ]);
    const late = planUsageMonth(customer, october, [], { ...span, start: '2026-11-01' }, bundled);
    expect(late.posts[0]!.date).toBe('2026-11-01');
    const ended = planUsageMonth(customer, october, [], { ...span, end: '2026-10-15' }, bundled);
    expect(ended.posts[0]!.date).toBe('2026-10-15');
  });

  it('posts nothing for a month already posted with the same total', () => {
    const key = usageKeyBase(customer.customerId, '2026-10');
    const plan = planUsageMonth(customer, october, [posted(key, 192)], span, bundled);
    expect(plan.posts).toEqual([]);
    expect(plan.recon).toMatchObject({ action: 'posted', postedTotal: 192 });
    expect(plan.notice).toBeUndefined();
  });

  it('ignores charges of other months and other customers', () => {
    const others = [
      posted(usageKeyBase(customer.customerId, '2026-09'), 50),
      posted(usageKeyBase('another', '2026-10'), 60),
    ];
    const plan = planUsageMonth(customer, october, others, span, bundled);
    expect(plan.recon).toMatchObject({ action: 'post', postedTotal: null });
    expect(plan.posts).toHaveLength(1);
  });

  it('reports a month whose total changed after posting and does not post it again', () => {
    const key = usageKeyBase(customer.customerId, '2026-10');
    const plan = planUsageMonth(customer, october, [posted(key, 150)], span, bundled);
    expect(plan.posts).toEqual([]);
    expect(plan.recon).toMatchObject({
      action: 'changed-after-posting',
      spinpanelTotal: 192,
      postedTotal: 150,
    });
    expect(plan.notice).toMatchObject({ kind: 'usage-changed', message: expect.stringContaining('2026-10') });
  });

  it('compares what a posted charge bills in all: its quantity times its price', () => {
    const key = usageKeyBase(customer.customerId, '2026-10');
    const same = planUsageMonth(customer, october, [posted(key, 96, 2)], span, bundled);
    expect(same.recon).toMatchObject({ action: 'posted', postedTotal: 192 });
    expect(same.posts).toEqual([]);
    const more = planUsageMonth(customer, october, [posted(key, 100, 2)], span, bundled);
    expect(more.recon).toMatchObject({ action: 'changed-after-posting', postedTotal: 200 });
    expect(more.posts).toEqual([]);
  });

  it('completes a month a stopped run posted only part of, and nothing more', () => {
    const [b1, d2] = usageCharges(customer, october, perProduct, '2026-10-31');
    const plan = planUsageMonth(customer, october, [posted(b1!.key, 22)], span, perProduct);
    expect(plan.posts.map((p) => p.key)).toEqual([d2!.key]);
    expect(plan.recon.action).toBe('complete');
    expect(plan.recon.postedTotal).toBe(22);
  });

  it('never tops up a month posted in another style or with other products', () => {
    const bundleKey = usageKeyBase(customer.customerId, '2026-10');
    const switched = planUsageMonth(customer, october, [posted(bundleKey, 192)], span, perProduct);
    expect(switched.posts).toEqual([]);
    expect(switched.recon.action).toBe('changed-after-posting');
    // A product that appeared after the month was posted per product changes every key.
    const [b1, d2] = usageCharges(customer, october, perProduct, '2026-10-31');
    const more = { ...october, lines: [...october.lines, usageLine('u4', 'E10 disk', '5.00')] };
    const grown = planUsageMonth(
      customer,
      more,
      [posted(b1!.key, 22), posted(d2!.key, 170)],
      span,
      perProduct,
    );
    expect(grown.posts).toEqual([]);
    expect(grown.notice?.kind).toBe('usage-changed');
  });

  it('skips usage in another currency than the customer’s, saying so', () => {
    const usd = { ...october, lines: [{ ...usageLine('u9', 'B1', '20.00'), cost: money('20.00', 'USD') }] };
    const plan = planUsageMonth(customer, usd, [], span, bundled);
    expect(plan.posts).toEqual([]);
    expect(plan.recon.action).toBe('skipped');
    expect(plan.notice?.kind).toBe('usage-currency');
  });
});

describe('perpetual licence charges', () => {
  const o: DesiredOneOff = {
    key: oneOffKeyBase(customer.customerId, 'sub-visio'),
    productId: 'p-visio',
    productName: 'Visio Standard 2021',
    subscriptionId: 'sub-visio',
    quantity: 4,
    unitPrice: money('250.00'),
    unitCost: money('200.00'),
    startDate: '2026-10-10',
  };
  const today = '2026-11-20';

  it('keys a purchase by hashes of customer and subscription, with room for a seat number in 50 characters', () => {
    expect(o.key).toMatch(/^SPP-[0-9a-f]{12}-[0-9a-f]{10}$/);
    expect(oneOffKeyBase(customer.customerId, 'sub-other')).not.toBe(o.key);
    expect(`${o.key}-9999`.length).toBeLessThanOrEqual(50);
  });

  it('dates the first charge at the purchase, inside the contract', () => {
    const p = planOneOffs(customer, [o], [], { charges: {} }, { ...span, start: '2026-11-01' }, today, {});
    expect(p.posts).toEqual([
      expect.objectContaining({ kind: 'one-off', key: `${o.key}-1`, date: '2026-11-01', quantity: 4 }),
    ]);
    expect(p.posts[0]!.name).toBe('Visio Standard 2021 (perpetual)');
  });

  it('charges the service mark-up on cost when one is set', () => {
    const p = planOneOffs(customer, [o], [], { charges: {} }, span, today, { serviceMarkupPercent: 10 });
    expect(p.posts[0]).toMatchObject({ unitPrice: 220, unitCost: 200 });
  });

  it('reports fewer seats than were charged, and refunds nothing', () => {
    const held = [posted(`${o.key}-1`, 250, 4), posted(`${o.key}-5`, 250, 2)];
    const p = planOneOffs(customer, [{ ...o, quantity: 5 }], held, { charges: {} }, span, today, {});
    expect(p.posts).toEqual([]);
    expect(p.notices).toEqual([
      expect.objectContaining({
        kind: 'one-off-reduced',
        message: expect.stringContaining('6 already charged'),
      }),
    ]);
  });

  it('does not charge a purchase priced in another currency, saying so', () => {
    const usd = { ...o, unitPrice: money('250.00', 'USD') };
    const p = planOneOffs(customer, [usd], [], { charges: {} }, span, today, {});
    expect(p.posts).toEqual([]);
    expect(p.notices).toEqual([
      expect.objectContaining({ kind: 'currency', customerId: customer.customerId }),
    ]);
  });
});

describe('cutText', () => {
  it('cuts names without splitting a surrogate pair or leaving trailing blanks', () => {
    expect(cutText(`${'a'.repeat(99)}😀 and more`, 100)).toBe('a'.repeat(99));
    expect(cutText('x'.repeat(150), 100)).toHaveLength(100);
    expect(cutText(`${'b'.repeat(98)}  c`, 100)).toBe('b'.repeat(98));
    expect(cutText('  short  ', 100)).toBe('short');
  });
});
