import { describe, expect, it } from 'vitest';
import { buildDesired } from '../../src/billing/desired.ts';
import type { Customer, Snapshot, Subscription } from '../../src/domain/types.ts';

const money = (amount: string) => ({ amount, currency: 'EUR' });
const customer = (id: string, over: Partial<Customer> = {}): Customer => ({
  id,
  name: `Customer ${id}`,
  microsoftTenantId: `t-${id}`,
  primaryDomain: `${id}.onmicrosoft.com`,
  countryCode: 'NL',
  currency: 'EUR',
  status: 'active',
  billing: { enabled: true, sendAllSubscriptions: false, pricingSource: 'spinpanel' },
  billingContact: null,
  updatedAt: '2026-11-01T00:00:00Z',
  ...over,
});
const sub = (
  id: string,
  customerId: string,
  productId: string,
  quantity: number,
  over: Partial<Subscription> = {},
) =>
  ({
    id,
    customerId,
    productId,
    productName: `Product ${productId}`,
    offerType: 'nce',
    billingFrequency: 'monthly',
    termDuration: 'P1M',
    quantity,
    assignedLicenses: quantity - 1,
    unitCost: money('10.0000'),
    unitPrice: money('12.5000'),
    status: 'active',
    billingEnabled: true,
    startDate: '2026-01-01',
    commitmentEndDate: null,
    updatedAt: '2026-11-01T00:00:00Z',
    ...over,
  }) as Subscription;

const snapshot = (customers: Customer[], subscriptions: Subscription[]): Snapshot => ({
  account: { id: 'acct', name: 'MSP', region: 'westeurope', currency: 'EUR' },
  customers,
  subscriptions,
  quarantined: [],
  pulledAt: '2026-11-30T00:00:00Z',
});

describe('desired state', () => {
  it('adds up subscriptions of one product and keeps one line per product', () => {
    const d = buildDesired(
      snapshot(
        [customer('c1')],
        [sub('s1', 'c1', 'P1', 10), sub('s2', 'c1', 'P1', 5), sub('s3', 'c1', 'P2', 3)],
      ),
      { today: '2026-11-30', timeZone: 'UTC' },
    );
    expect(d.customers).toHaveLength(1);
    expect(d.customers[0]!.lines.map((l) => [l.productId, l.quantity, l.subscriptionIds])).toEqual([
      ['P1', 15, ['s1', 's2']],
      ['P2', 3, ['s3']],
    ]);
  });

  it('bills only active subscriptions flagged for billing, unless the customer sends all', () => {
    const subs = [
      sub('s1', 'c1', 'P1', 10, { billingEnabled: false }),
      sub('s2', 'c1', 'P2', 4, { status: 'cancelled' }),
      sub('s3', 'c2', 'P1', 7, { billingEnabled: false }),
      sub('s4', 'c1', 'P3', 2, { status: 'suspended' }),
    ];
    const d = buildDesired(
      snapshot(
        [
          customer('c1'),
          customer('c2', {
            billing: { enabled: true, sendAllSubscriptions: true, pricingSource: 'spinpanel' },
          }),
        ],
        subs,
      ),
      { today: '2026-11-30', timeZone: 'UTC' },
    );
    expect(d.customers.find((c) => c.customerId === 'c1')!.lines).toEqual([]);
    expect(d.customers.find((c) => c.customerId === 'c2')!.lines.map((l) => l.quantity)).toEqual([7]);
  });

  it('leaves out customers with billing off and keeps an offboarded one with nothing to bill', () => {
    const d = buildDesired(
      snapshot(
        [
          customer('c1', { status: 'offboarded' }),
          customer('c2', {
            billing: { enabled: false, sendAllSubscriptions: false, pricingSource: 'spinpanel' },
          }),
          customer('c3'),
        ],
        [sub('s1', 'c1', 'P1', 1), sub('s2', 'c2', 'P1', 1), sub('s3', 'c3', 'P1', 1)],
      ),
      { today: '2026-11-30', timeZone: 'UTC' },
    );
    expect(d.customers.map((c) => [c.customerId, c.lines.length, c.offboarded ?? false])).toEqual([
      ['c1', 0, true],
      ['c3', 1, false],
    ]);
  });

  it('bills assigned licences when the link says so', () => {
    const d = buildDesired(snapshot([customer('c1')], [sub('s1', 'c1', 'P1', 10)]), {
      today: '2026-11-30',
      timeZone: 'UTC',
      quantityBasis: 'assignedLicenses',
    });
    expect(d.customers[0]!.lines[0]!.quantity).toBe(9);
  });
});
