import { describe, expect, it } from 'vitest';
import { AutotaskSettings, type ContractCharge } from '../../connectors/autotask/schemas.ts';
import { chargesFor, planUsageMonth, usageKeyBase } from '../../connectors/autotask/usage.ts';
import type { DesiredUsage } from '../../connectors/types.ts';

const AZURE_CODE = 29682802;
const bundled = AutotaskSettings.parse({
  serviceBillingCodeId: 1,
  azureBillingCodeId: AZURE_CODE,
  productMarkupPercent: 10,
  usageChargeName: 'Azure',
});
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
const target = { contractId: 77, start: '2026-01-01', end: '2026-12-31' };
const posted = (key: string, unitPrice: number, over: Partial<ContractCharge> = {}): ContractCharge => ({
  id: 1,
  contractID: 77,
  name: 'x',
  unitQuantity: 1,
  unitPrice,
  unitCost: 0,
  purchaseOrderNumber: key,
  isBilled: false,
  ...over,
});

describe('usage charges', () => {
  it('keys a month by a hash of the customer and the period, within Autotask’s 50 characters', () => {
    const key = usageKeyBase(customer.customerId, '2026-10');
    expect(key).toMatch(/^SP-[0-9a-f]{12}-2026-10$/);
    expect(usageKeyBase(customer.customerId, '2026-10')).toBe(key);
    expect(usageKeyBase('another', '2026-10')).not.toBe(key);
    const [charge] = chargesFor(customer, october, perProduct);
    expect(charge!.key.length).toBeLessThanOrEqual(50);
  });

  it('bundles a month into one charge, marking up cost only where SpinPanel gives no price', () => {
    const charges = chargesFor(customer, october, bundled);
    expect(charges).toEqual([expect.objectContaining({ name: 'Azure 2026-10', price: 192, cost: 170 })]);
  });

  it('posts one charge per product when bundling is off', () => {
    const charges = chargesFor(customer, october, perProduct);
    expect(charges.map((c) => [c.name, c.price])).toEqual([
      ['Virtual Machines – B1 2026-10', 22],
      ['Virtual Machines – D2s v5 2026-10', 170],
    ]);
    expect(new Set(charges.map((c) => c.key)).size).toBe(2);
  });

  it('posts a month nothing was posted for, dated at its end and inside the contract', () => {
    const plan = planUsageMonth(customer, october, [], target, bundled)!;
    expect(plan.recon).toMatchObject({ action: 'post', spinpanelTotal: 192, postedTotal: null });
    expect(plan.posts).toEqual([
      {
        contractId: 77,
        key: usageKeyBase(customer.customerId, '2026-10'),
        body: expect.objectContaining({
          datePurchased: '2026-10-31',
          unitQuantity: 1,
          unitPrice: 192,
          unitCost: 170,
          billingCodeID: AZURE_CODE,
          purchaseOrderNumber: usageKeyBase(customer.customerId, '2026-10'),
        }),
      },
    ]);
    const late = planUsageMonth(customer, october, [], { ...target, start: '2026-11-01' }, bundled)!;
    expect(late.posts[0]!.body.datePurchased).toBe('2026-11-01');
  });

  it('posts nothing for a month already posted with the same total', () => {
    const key = usageKeyBase(customer.customerId, '2026-10');
    const plan = planUsageMonth(customer, october, [posted(key, 192)], target, bundled)!;
    expect(plan.posts).toEqual([]);
    expect(plan.recon).toMatchObject({ action: 'posted', postedTotal: 192 });
    expect(plan.notice).toBeUndefined();
  });

  it('reports a month whose total changed after posting and does not post it again', () => {
    const key = usageKeyBase(customer.customerId, '2026-10');
    const plan = planUsageMonth(customer, october, [posted(key, 150)], target, bundled)!;
    expect(plan.posts).toEqual([]);
    expect(plan.recon).toMatchObject({
      action: 'changed-after-posting',
      spinpanelTotal: 192,
      postedTotal: 150,
    });
    expect(plan.notice).toMatchObject({ kind: 'usage-changed', message: expect.stringContaining('2026-10') });
  });

  it('completes a month a stopped run posted only part of, and nothing more', () => {
    const [b1, d2] = chargesFor(customer, october, perProduct);
    const plan = planUsageMonth(customer, october, [posted(b1!.key, 22)], target, perProduct)!;
    expect(plan.posts.map((p) => p.key)).toEqual([d2!.key]);
    expect(plan.recon.action).toBe('complete');
  });

  it('never tops up a month posted in another style or with other products', () => {
    const bundleKey = usageKeyBase(customer.customerId, '2026-10');
    const switched = planUsageMonth(customer, october, [posted(bundleKey, 192)], target, perProduct)!;
    expect(switched.posts).toEqual([]);
    expect(switched.recon.action).toBe('changed-after-posting');
    // A product that appeared after the month was posted per product changes every key.
    const [b1, d2] = chargesFor(customer, october, perProduct);
    const more = { ...october, lines: [...october.lines, usageLine('u4', 'E10 disk', '5.00')] };
    const grown = planUsageMonth(
      customer,
      more,
      [posted(b1!.key, 22), posted(d2!.key, 170)],
      target,
      perProduct,
    )!;
    expect(grown.posts).toEqual([]);
    expect(grown.notice?.kind).toBe('usage-changed');
  });

  it('skips usage in another currency than the customer’s, saying so', () => {
    const usd = { ...october, lines: [{ ...usageLine('u9', 'B1', '20.00'), cost: money('20.00', 'USD') }] };
    const plan = planUsageMonth(customer, usd, [], target, bundled)!;
    expect(plan.posts).toEqual([]);
    expect(plan.notice?.kind).toBe('usage-currency');
  });

  it('posts nothing without an Azure billing code', () => {
    const { azureBillingCodeId: _, ...noCode } = bundled;
    expect(planUsageMonth(customer, october, [], target, noCode)).toBeUndefined();
  });
});
