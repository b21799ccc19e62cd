import { describe, expect, it } from 'vitest';
import type { Customer, Subscription } from '../../src/domain/types.ts';
import { SpinPanelError } from '../../src/spinpanel/errors.ts';
import { generateData } from '../../src/spinpanel/seed.ts';
import { pullSnapshot, type SnapshotSource, validateRecords } from '../../src/spinpanel/snapshot.ts';

const NOW = new Date('2026-11-15T10:00:00Z');

function fixture(customers = 3, subs = 2) {
  return generateData({ seed: 7, customers, subscriptionsPerCustomer: subs, now: NOW });
}

/** An in-memory source that records which customers' subscriptions were asked for. */
function fakeSource(
  data: { account: unknown; customers: unknown[]; subscriptions: Subscription[] },
  overrides: Partial<Record<string, unknown[]>> = {},
) {
  const asked: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  const source: SnapshotSource = {
    getAccount: async () => data.account,
    listCustomers: async () => data.customers,
    listSubscriptions: async (customerId: string) => {
      asked.push(customerId);
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      await new Promise((r) => setTimeout(r, 5));
      inFlight--;
      return overrides[customerId] ?? data.subscriptions.filter((s) => s.customerId === customerId);
    },
  };
  return { source, asked, maxInFlight: () => maxInFlight };
}

describe('validateRecords', () => {
  it('quarantines a record naming the failing field and keeps the rest', () => {
    const [good, bad] = fixture(1, 2).subscriptions as [Subscription, Subscription];
    const { valid, quarantined } = validateRecords('subscription', [good, { ...bad, quantity: '25' }], {
      customerId: 'c-1',
    });
    expect(valid).toEqual([good]);
    expect(quarantined).toEqual([
      {
        kind: 'subscription',
        id: bad.id,
        customerId: 'c-1',
        reason: 'quantity: expected number, received string',
      },
    ]);
  });

  it('lists every failing field, nested ones by their path', () => {
    const sub = fixture(1, 1).subscriptions[0] as Subscription;
    const { productId: _, ...withoutProduct } = sub;
    const raw = { ...withoutProduct, unitPrice: { amount: 12.5, currency: 'EUR' } };
    const [entry] = validateRecords('subscription', [raw]).quarantined;
    expect(entry?.reason).toBe(
      'productId: expected string, received undefined; unitPrice.amount: expected string, received number',
    );
    // Without context, the customer comes from the record itself when it is readable.
    expect(entry?.customerId).toBe(sub.customerId);
  });

  it('never throws on junk: non-objects get a null id', () => {
    const { valid, quarantined } = validateRecords('customer', [null, 42, 'x', { id: 7 }]);
    expect(valid).toEqual([]);
    expect(quarantined.map((q) => q.id)).toEqual([null, null, null, null]);
    expect(quarantined[0]?.reason).toBe('(record): expected object, received null');
  });

  it('does not echo personal data into the reason', () => {
    const customer = fixture(1, 0).customers[0] as Customer;
    const raw = { ...customer, billingContact: { name: 'Jan Jansen', email: 42 } };
    const [entry] = validateRecords('customer', [raw]).quarantined;
    expect(entry?.reason).toBe('billingContact.email: expected string, received number');
    expect(entry?.reason).not.toContain('Jan');
    expect(entry).not.toHaveProperty('customerId');
  });
});

describe('pullSnapshot', () => {
  it('returns every valid record and the quarantine, stamped with pulledAt', async () => {
    const data = fixture(3, 2);
    const { source } = fakeSource(data);
    const snap = await pullSnapshot(source, { now: () => NOW });
    expect(snap.account).toEqual(data.account);
    expect(snap.customers).toEqual(data.customers);
    expect(snap.subscriptions).toEqual(data.subscriptions);
    expect(snap.quarantined).toEqual([]);
    expect(snap.pulledAt).toBe(NOW.toISOString());
  });

  it('does not fetch subscriptions of quarantined, offboarded or excluded customers', async () => {
    const data = fixture(4, 1);
    const [a, b, c, d] = data.customers as [Customer, Customer, Customer, Customer];
    const customers = [a, { ...b, status: 'gone' }, { ...c, status: 'offboarded' }, d];
    const { source, asked } = fakeSource({ ...data, customers });
    const snap = await pullSnapshot(source, { excludedCustomerIds: new Set([d.id]) });
    expect(asked).toEqual([a.id]);
    expect(snap.customers.map((x) => x.id)).toEqual([a.id, c.id]);
    expect(snap.quarantined).toEqual([
      { kind: 'customer', id: b.id, reason: 'status: expected one of "active"|"suspended"|"offboarded"' },
    ]);
  });

  it('leaves an excluded customer out even when its record is malformed', async () => {
    const data = fixture(2, 1);
    const [a, b] = data.customers as [Customer, Customer];
    const { source, asked } = fakeSource({ ...data, customers: [a, { id: b.id, name: 42 }] });
    const snap = await pullSnapshot(source, { excludedCustomerIds: new Set([b.id]) });
    expect(asked).toEqual([a.id]);
    expect(snap.quarantined).toEqual([]);
  });

  it('quarantines a subscription listed under the wrong customer', async () => {
    const data = fixture(2, 1);
    const [a, b] = data.customers as [Customer, Customer];
    const foreign = data.subscriptions.find((s) => s.customerId === b.id) as Subscription;
    const { source } = fakeSource(data, { [a.id]: [foreign] });
    const snap = await pullSnapshot(source);
    expect(snap.subscriptions).toEqual([foreign]); // only once: under its own customer
    expect(snap.quarantined).toEqual([
      {
        kind: 'subscription',
        id: foreign.id,
        customerId: a.id,
        reason: `customerId: listed under customer ${a.id} but the record names ${b.id}`,
      },
    ]);
  });

  it('fetches subscriptions with bounded concurrency', async () => {
    const data = fixture(10, 1);
    const four = fakeSource(data);
    await pullSnapshot(four.source);
    expect(four.asked).toHaveLength(10);
    expect(four.maxInFlight()).toBe(4);
    const two = fakeSource(data);
    await pullSnapshot(two.source, { concurrency: 2 });
    expect(two.maxInFlight()).toBe(2);
  });

  it('fails on an invalid account record, naming the field', async () => {
    const data = fixture(1, 1);
    const { source } = fakeSource({ ...data, account: { ...data.account, currency: 'euro' } });
    const err = await pullSnapshot(source).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpinPanelError);
    expect((err as Error).message).toMatch(/invalid account record — currency:/);
  });

  it('rejects on a request failure only after in-flight fetches have settled', async () => {
    const data = fixture(6, 1);
    const failing = data.customers[1]!.id;
    let settled = 0;
    let started = 0;
    const source: SnapshotSource = {
      getAccount: async () => data.account,
      listCustomers: async () => data.customers,
      listSubscriptions: async (id: string) => {
        started++;
        if (id === failing) throw new Error('boom');
        await new Promise((r) => setTimeout(r, 20));
        settled++;
        return [];
      },
    };
    await expect(pullSnapshot(source, { concurrency: 2 })).rejects.toThrow('boom');
    // The other worker's fetch finished before the rejection; nothing new was started after the failure.
    expect(settled).toBe(started - 1);
    expect(started).toBeLessThan(6);
  });
});
