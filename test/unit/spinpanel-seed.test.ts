import { describe, expect, it } from 'vitest';
import { Account, Customer, Subscription, UsageLine } from '../../src/domain/types.ts';
import { CATALOGUE, formatAmount, generateData, previousPeriod } from '../../src/spinpanel/seed.ts';

const NOW = new Date('2026-11-15T10:00:00Z');

describe('sandbox seed data', () => {
  it('is the same for the same seed and clock, and differs for another seed', () => {
    const a = generateData({ seed: 3, now: NOW });
    expect(generateData({ seed: 3, now: NOW })).toEqual(a);
    expect(generateData({ seed: 4, now: NOW }).customers[0]?.id).not.toBe(a.customers[0]?.id);
  });

  it('produces records the canonical schemas accept', () => {
    const d = generateData({ seed: 11, customers: 40, subscriptionsPerCustomer: 15, now: NOW });
    expect(() => Account.parse(d.account)).not.toThrow();
    for (const c of d.customers) Customer.parse(c);
    for (const s of d.subscriptions) Subscription.parse(s);
    for (const u of d.usage) UsageLine.parse(u);
    expect(d.account).toMatchObject({ region: 'westeurope', currency: 'EUR' });
    expect(d.subscriptions).toHaveLength(40 * 15);
  });

  it('gives every customer a unique name, id and tenant', () => {
    const d = generateData({ seed: 5, customers: 300, subscriptionsPerCustomer: 0, now: NOW });
    for (const key of ['name', 'id', 'microsoftTenantId', 'primaryDomain'] as const) {
      expect(new Set(d.customers.map((c) => c[key])).size).toBe(300);
    }
    expect(d.customers.every((c) => c.billing.enabled && c.billing.pricingSource === 'spinpanel')).toBe(true);
  });

  it('draws subscriptions from the catalogue with seat counts 1–300 and 4-decimal prices', () => {
    const d = generateData({ seed: 9, customers: 10, subscriptionsPerCustomer: 6, now: NOW });
    const ids = new Set(CATALOGUE.map((p) => p.productId));
    for (const s of d.subscriptions) {
      expect(ids.has(s.productId)).toBe(true);
      expect(s.quantity).toBeGreaterThanOrEqual(1);
      expect(s.quantity).toBeLessThanOrEqual(300);
      expect(s.unitPrice.amount).toMatch(/^\d+\.\d{4}$/);
      expect(Number(s.unitCost.amount)).toBeLessThan(Number(s.unitPrice.amount));
      expect(s).toMatchObject({ status: 'active', billingEnabled: true });
    }
    // Distinct products per customer while the catalogue lasts.
    const first = d.subscriptions.filter((s) => s.customerId === d.customers[0]?.id);
    expect(new Set(first.map((s) => s.productId)).size).toBe(6);
  });

  it('bills usage for the previous month', () => {
    const d = generateData({ seed: 2, now: NOW });
    expect(previousPeriod(NOW)).toBe('2026-10');
    expect(previousPeriod(new Date('2027-01-03T00:00:00Z'))).toBe('2026-12');
    expect(d.usage.length).toBeGreaterThanOrEqual(2 * d.customers.length);
    expect(d.usage.every((u) => u.period === '2026-10')).toBe(true);
  });

  it('formats amounts from ten-thousandths without floats', () => {
    expect(formatAmount(206_000)).toBe('20.6000');
    expect(formatAmount(5)).toBe('0.0005');
    expect(formatAmount(-12_345)).toBe('-1.2345');
  });
});
