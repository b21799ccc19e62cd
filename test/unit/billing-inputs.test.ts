import { describe, expect, it } from 'vitest';
import { buildDesired, desiredOptions } from '../../src/billing/desired.ts';
import type { Snapshot } from '../../src/domain/types.ts';
import { generateData } from '../../src/spinpanel/seed.ts';
import { addUsage, closedUsagePeriods } from '../../src/spinpanel/snapshot.ts';
import { holdQuarantined } from '../../src/sync/engine.ts';
import { settleRecon } from '../../src/sync/recon.ts';

const NOW = new Date('2026-11-15T10:00:00Z');

function snapshotOf(
  data = generateData({ seed: 11, customers: 3, subscriptionsPerCustomer: 2, now: NOW }),
): Snapshot {
  return {
    account: data.account,
    customers: data.customers,
    subscriptions: data.subscriptions,
    quarantined: [],
    pulledAt: NOW.toISOString(),
  };
}

describe('closed usage months', () => {
  it('counts a month final from the 5th of the next one', () => {
    expect(closedUsagePeriods('2026-11-04', 1)).toEqual(['2026-09']);
    expect(closedUsagePeriods('2026-11-05', 1)).toEqual(['2026-10']);
    expect(closedUsagePeriods('2026-11-30', 2)).toEqual(['2026-09', '2026-10']);
    expect(closedUsagePeriods('2026-01-10', 2)).toEqual(['2025-11', '2025-12']);
    expect(closedUsagePeriods('2026-11-30', 0)).toEqual([]);
  });
});

describe('addUsage', () => {
  it('reads usage only for the billed customers and months asked, quarantining bad lines', async () => {
    const data = generateData({ seed: 11, customers: 3, subscriptionsPerCustomer: 2, now: NOW });
    const [a, b, c] = data.customers as [
      (typeof data.customers)[0],
      (typeof data.customers)[0],
      (typeof data.customers)[0],
    ];
    c.billing = { ...c.billing, enabled: false };
    const asked: string[] = [];
    const good = data.usage.find((u) => u.customerId === a.id)!;
    const source = {
      listUsage: async (customerId: string, period: string) => {
        asked.push(`${customerId}:${period}`);
        if (customerId === a.id) return [{ ...good, period }];
        // One malformed line, and one that claims to be another customer's.
        return [
          { ...good, id: 'bad', customerId, period, quantity: 12 },
          { ...good, id: 'stray', period },
        ];
      },
    };
    const snap = await addUsage(source, snapshotOf(data), ['2026-09', '2026-10']);
    expect(asked.sort()).toEqual(
      [`${a.id}:2026-09`, `${a.id}:2026-10`, `${b.id}:2026-09`, `${b.id}:2026-10`].sort(),
    );
    expect(snap.usage?.map((u) => [u.customerId, u.period])).toEqual([
      [a.id, '2026-09'],
      [a.id, '2026-10'],
    ]);
    expect(snap.quarantined.map((q) => [q.kind, q.id, q.customerId])).toEqual([
      ['usage', 'bad', b.id],
      ['usage', 'stray', b.id],
      ['usage', 'bad', b.id],
      ['usage', 'stray', b.id],
    ]);
    expect(await addUsage({ listUsage: async () => [] }, snapshotOf(data), [])).not.toHaveProperty('usage');
  });
});

describe('desired state: policy, prices and usage', () => {
  it('dates changes the same day, or (next-period) on the 1st of the month they are posted in, never ahead', () => {
    const clock = { today: '2026-11-15', timeZone: 'Europe/Amsterdam' };
    const opts = desiredOptions(
      { effectiveDatePolicy: 'next-period', quantityBasis: 'assignedLicenses' },
      clock,
    );
    expect(opts).toEqual({
      today: '2026-11-15',
      timeZone: 'Europe/Amsterdam',
      policy: 'next-period',
      quantityBasis: 'assignedLicenses',
      termBilling: 'subscription',
    });
    expect(buildDesired(snapshotOf(), opts).effectiveDate).toBe('2026-11-01');
    expect(buildDesired(snapshotOf(), desiredOptions({}, clock)).effectiveDate).toBe('2026-11-15');
  });

  it('carries each customer’s pricing source and its usage, grouped by month', () => {
    const data = generateData({ seed: 11, customers: 2, subscriptionsPerCustomer: 1, now: NOW });
    const [a, b] = data.customers as [(typeof data.customers)[0], (typeof data.customers)[0]];
    b.billing = { ...b.billing, pricingSource: 'target' };
    const line = data.usage.find((u) => u.customerId === a.id)!;
    const snap = {
      ...snapshotOf(data),
      usage: [
        { ...line, id: 'u2', period: '2026-10' },
        { ...line, id: 'u1', period: '2026-09' },
        { ...line, id: 'u3', period: '2026-10' },
      ],
    };
    const d = buildDesired(snap, { today: '2026-11-15', timeZone: 'UTC' });
    const ca = d.customers.find((c) => c.customerId === a.id)!;
    expect(ca.pricingSource).toBe('spinpanel');
    expect(d.customers.find((c) => c.customerId === b.id)!.pricingSource).toBe('target');
    expect(ca.usage?.map((u) => [u.period, u.lines.map((l) => l.id)])).toEqual([
      ['2026-09', ['u1']],
      ['2026-10', ['u2', 'u3']],
    ]);
  });
});

describe('a bad usage line', () => {
  it('holds back that customer’s usage only; a bad subscription holds back the whole customer', () => {
    const data = generateData({ seed: 11, customers: 2, subscriptionsPerCustomer: 1, now: NOW });
    const [a, b] = data.customers as [(typeof data.customers)[0], (typeof data.customers)[0]];
    const line = data.usage.find((u) => u.customerId === a.id)!;
    const snap = {
      ...snapshotOf(data),
      usage: [{ ...line, period: '2026-10' }],
      quarantined: [{ kind: 'usage' as const, id: 'u-bad', customerId: a.id, reason: 'quantity: invalid' }],
    };
    const d = buildDesired(snap, { today: '2026-11-15', timeZone: 'UTC' });
    const ca = d.customers.find((c) => c.customerId === a.id)!;
    expect(ca.usage).toBeUndefined();
    expect(ca.lines).toHaveLength(1);

    const ids = (x: { customers: { customerId: string }[] }) => x.customers.map((c) => c.customerId);
    expect(ids(holdQuarantined(d, snap.quarantined))).toEqual([a.id, b.id]);
    const held = holdQuarantined(d, [{ kind: 'subscription', id: 's', customerId: b.id, reason: 'r' }]);
    expect(ids(held)).toEqual([a.id]);
  });
});

describe('settleRecon', () => {
  it('marks lines applied or failed by their operations; a failed one shows the units still held', () => {
    const base = {
      customerId: 'c1',
      customerName: 'Contoso',
      productName: 'E3',
      spinpanelSeats: 5,
      targetUnitsBefore: 3,
      targetUnitsAfter: 5,
    };
    const settled = settleRecon(
      [
        { ...base, productId: 'p1', opKeys: ['adj:1'] },
        { ...base, productId: 'p2', opKeys: ['adj:2'] },
        { ...base, productId: 'p3', action: 'unchanged' as const },
      ],
      [
        {
          customerId: 'c1',
          customerName: 'Contoso',
          period: '2026-10',
          spinpanelTotal: 5,
          postedTotal: null,
          action: 'post',
          opKeys: ['charge:1'],
        },
      ],
      [{ opKey: 'adj:2', kind: 'adjustUnits', message: 'no' }],
    );
    expect(settled.recon.map((l) => [l.productId, l.outcome, l.targetUnitsAfter])).toEqual([
      ['p1', 'applied', 5],
      ['p2', 'failed', 3],
      ['p3', undefined, 5],
    ]);
    expect(settled.usage?.[0]?.outcome).toBe('applied');
  });
});
