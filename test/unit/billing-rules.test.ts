import { describe, expect, it } from 'vitest';
import { planOneOffs } from '../../src/billing/charges.ts';
import { localDay } from '../../src/billing/dates.ts';
import { buildDesired, lineKey } from '../../src/billing/desired.ts';
import { resolveItem, type ViewItem } from '../../src/billing/items.ts';
import {
  type ContainerInput,
  type DiffContext,
  diffContainer,
  type ViewLine,
} from '../../src/billing/lines.ts';
import { matchParty, type PartyCandidate, similarity } from '../../src/billing/matching.ts';
import { CommonSettings } from '../../src/billing/settings.ts';
import { type DesiredCustomer, type DesiredLine, emptyLedger, type Ledger } from '../../src/billing/types.ts';
import type { Customer, Snapshot, Subscription } from '../../src/domain/types.ts';
import { closedUsagePeriods } from '../../src/spinpanel/snapshot.ts';

const eur = (amount: string) => ({ amount, currency: 'EUR' });
const customer = (id: string): Customer => ({
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
});
const sub = (
  id: string,
  productId: string,
  quantity: number,
  over: Partial<Subscription> = {},
): Subscription => ({
  id,
  customerId: 'c1',
  productId,
  productName: `Product ${productId}`,
  offerType: 'nce',
  billingFrequency: 'monthly',
  termDuration: 'P1Y',
  quantity,
  assignedLicenses: null,
  unitCost: eur('8.00'),
  unitPrice: eur('10.50'),
  status: 'active',
  billingEnabled: true,
  startDate: '2026-01-01',
  commitmentEndDate: null,
  updatedAt: '2026-11-01T00:00:00Z',
  ...over,
});
const snapshot = (subscriptions: Subscription[]): Snapshot => ({
  account: { id: 'acct', name: 'A', region: 'westeurope', currency: 'EUR' },
  customers: [customer('c1')],
  subscriptions,
  quarantined: [],
  pulledAt: '2026-11-30T00:00:00Z',
});
const clock = { today: '2026-11-30', timeZone: 'UTC' };

describe('desired lines: product, period and price', () => {
  it('keeps subscriptions of one product at different prices or periods apart, at their own prices', () => {
    const d = buildDesired(
      snapshot([
        sub('s1', 'P', 10, { billingFrequency: 'annual', unitPrice: eur('10.50') }),
        sub('s2', 'P', 5, { billingFrequency: 'monthly', unitPrice: eur('12.60') }),
        sub('s3', 'P', 2, { billingFrequency: 'monthly', unitPrice: eur('12.6000') }),
      ]),
      clock,
    );
    expect(d.customers[0]!.lines.map((l) => [l.key, l.period, l.quantity, l.unitPrice.amount])).toEqual([
      ['P|month|12.60', 'month', 7, '12.60'],
      ['P|year|10.50', 'year', 10, '10.50'],
    ]);
  });

  it('plans the same lines whatever order SpinPanel lists the subscriptions in', () => {
    const subs = [
      sub('s1', 'P', 10, { unitPrice: eur('10.50') }),
      sub('s2', 'P', 5, { unitPrice: eur('12.60') }),
      sub('s3', 'Q', 1, { billingFrequency: 'triennial' }),
    ];
    const a = buildDesired(snapshot(subs), clock);
    const b = buildDesired(snapshot([...subs].reverse()), clock);
    expect(b).toEqual(a);
  });

  it('bills annual and triennial monthly when the link says so', () => {
    const d = buildDesired(snapshot([sub('s1', 'P', 3, { billingFrequency: 'triennial' })]), {
      ...clock,
      termBilling: 'monthly',
    });
    expect(d.customers[0]!.lines[0]!.period).toBe('month');
  });

  it('makes a perpetual licence a one-time purchase, never a recurring line', () => {
    const d = buildDesired(
      snapshot([sub('s1', 'P', 4, { offerType: 'perpetual', unitPrice: eur('199') })]),
      clock,
    );
    const c = d.customers[0]!;
    expect(c.lines).toEqual([]);
    expect(c.oneOffs?.map((o) => [o.subscriptionId, o.quantity, o.unitPrice.amount])).toEqual([
      ['s1', 4, '199'],
    ]);
    expect(c.oneOffs?.[0]?.key).toMatch(/^SPP-[0-9a-f]{12}-[0-9a-f]{10}$/);
  });
});

describe('time zone', () => {
  it('takes today in the partner’s zone: 00:30 on 1 March in Amsterdam is March, not February', () => {
    const at = Date.parse('2026-02-28T23:30:00Z');
    expect(localDay('Europe/Amsterdam', at)).toBe('2026-03-01');
    expect(localDay('UTC', at)).toBe('2026-02-28');
  });

  it('counts usage final from the local 5th', () => {
    const at = Date.parse('2026-12-04T23:30:00Z');
    expect(closedUsagePeriods(localDay('Europe/Amsterdam', at), 1)).toEqual(['2026-11']);
    expect(closedUsagePeriods(localDay('UTC', at), 1)).toEqual(['2026-10']);
  });

  it('validates the time zone setting', () => {
    expect(CommonSettings.safeParse({ timeZone: 'Europe/Amsterdam' }).success).toBe(true);
    const bad = CommonSettings.safeParse({ timeZone: 'Mars/Olympus' });
    expect(bad.success).toBe(false);
    expect(JSON.stringify(bad.error?.issues)).toContain('IANA');
  });
});

const cand = (id: number, name: string, over: Partial<PartyCandidate> = {}): PartyCandidate => ({
  id,
  name,
  active: true,
  customerKind: true,
  ...over,
});
const who = { customerId: 'c1', name: 'Tailspin Toys', microsoftTenantId: 'tenant-1' };

describe('company matching', () => {
  it('matches names case- and space-insensitively, the same every run', () => {
    const m = matchParty(who, [cand(7, '  tailspin   TOYS ')], { noun: 'company' });
    expect('ok' in m && m.ok.id).toBe(7);
  });

  it('never matches an inactive or non-customer record, and suggests the closest names instead', () => {
    const m = matchParty(
      who,
      [
        cand(1, 'Tailspin Toys', { customerKind: false }),
        cand(2, 'Tailspin Toys', { active: false }),
        cand(3, 'Tailspin Toys BV'),
        cand(4, 'Contoso'),
      ],
      { noun: 'company' },
    );
    expect('reason' in m).toBe(true);
    if (!('reason' in m)) return;
    expect(m.reason).toContain('no active customer company named "Tailspin Toys"');
    expect(m.suggestions.map((s) => [s.id, s.name])).toEqual([[3, 'Tailspin Toys BV']]);
  });

  it('reports two equal names instead of picking one', () => {
    const m = matchParty(who, [cand(1, 'Tailspin Toys'), cand(2, 'tailspin toys')], { noun: 'company' });
    expect('reason' in m && m.reason).toContain('2 company records named');
  });

  it('prefers the mapping, then the ledger, then the tenant, then the name', () => {
    const all = [cand(1, 'Tailspin Toys'), cand(2, 'Other', { tenantId: 'tenant-1' }), cand(3, 'Third')];
    const via = (o: Parameters<typeof matchParty>[2]) => {
      const m = matchParty(who, all, o);
      return 'ok' in m ? [m.ok.id, m.via] : m.reason;
    };
    expect(via({ noun: 'c', mappedId: 3, ledgerId: 1 })).toEqual([3, 'mapping']);
    expect(via({ noun: 'c', ledgerId: 3 })).toEqual([3, 'ledger']);
    expect(via({ noun: 'c', tenantField: 'UDF' })).toEqual([2, 'tenant']);
    expect(via({ noun: 'c' })).toEqual([1, 'name']);
  });

  it('scores close names above distant ones', () => {
    expect(similarity('Tailspin Toys', 'Tailspin Toys BV')).toBeGreaterThan(
      similarity('Tailspin Toys', 'Contoso'),
    );
  });
});

describe('items: ledger, then marker, then name', () => {
  const items: ViewItem[] = [
    { id: 10, name: 'Old name', period: 'month' },
    { id: 11, name: 'Product P', period: 'month' },
    { id: 12, name: 'Something', period: 'month', productId: 'P' },
  ];
  const line = { productId: 'P', productName: 'Product P', period: 'month' as const };
  it('continues a renamed product on the item the ledger remembers', () => {
    const r = resolveItem(line, items, {
      ledger: { items: { 'P|month': 10 } },
      create: true,
      noun: 'service',
    });
    expect(r).toEqual({ ok: 10, via: 'ledger' });
  });
  it('finds the marked item before a same-named one', () => {
    expect(resolveItem(line, items, { ledger: { items: {} }, create: true, noun: 'service' })).toEqual({
      ok: 12,
      via: 'marker',
    });
  });
  it('creates a yearly item of its own', () => {
    const r = resolveItem({ ...line, period: 'year' }, items, {
      ledger: { items: {} },
      create: true,
      noun: 's',
    });
    expect(r).toEqual({ create: { name: 'Product P (yearly)' } });
  });
});

const dline = (
  productId: string,
  quantity: number,
  price = '10.50',
  period: 'month' | 'year' = 'month',
): DesiredLine => ({
  key: lineKey(productId, period, price),
  productId,
  productName: `Product ${productId}`,
  period,
  quantity,
  unitPrice: eur(price),
  unitCost: eur('8.00'),
  subscriptionIds: [`s-${productId}-${price}`],
});
const dcust = (id: string, lines: DesiredLine[]): DesiredCustomer => ({
  customerId: id,
  name: `Customer ${id}`,
  microsoftTenantId: `t-${id}`,
  currency: 'EUR',
  lines,
});
const vline = (id: number, itemId: number, quantity: number, over: Partial<ViewLine> = {}): ViewLine => ({
  id,
  itemId,
  period: 'month',
  quantity,
  unitPrice: 10.5,
  changedOn: [],
  ...over,
});
const ctx = (ledger: Ledger = emptyLedger(), over: Partial<DiffContext> = {}): DiffContext => ({
  desired: { today: '2026-11-30', policy: 'change-date' },
  ledger,
  settings: { pricingSource: 'customer' },
  ourItem: () => false,
  ...over,
});
const container = (over: Partial<ContainerInput>): ContainerInput => ({
  key: 'id:1',
  managed: false,
  span: { start: '2026-01-01', end: '2026-12-31' },
  customers: [],
  wanted: [],
  existing: [],
  incomplete: false,
  ...over,
});
const owned = (customerId: string, productId: string) => ({
  customerId,
  productId,
  period: 'month' as const,
  container: 1,
});

describe('ownership: only what the ledger says is the sync’s is retired', () => {
  it('leaves the MSP’s own same-named line on a mapped contract alone', () => {
    const b = dcust('B', []);
    // B's contract holds E3 (service 5) sold by hand; nothing of it is in the ledger.
    const diff = diffContainer(container({ customers: [b], existing: [vline(50, 5, 7)] }), ctx());
    expect(diff.changes).toEqual([]);
  });

  it('retires the sync’s own line when its customer cancels, whoever else has the product', () => {
    const a = dcust('A', []);
    const ledger = { ...emptyLedger(), lines: { '50': owned('A', 'E3') } };
    const diff = diffContainer(container({ customers: [a], existing: [vline(50, 5, 7)] }), ctx(ledger));
    expect(diff.changes.map((c) => [c.action, c.before, c.after, c.post])).toEqual([
      ['retire', 7, 0, { delta: -7, date: '2026-11-30' }],
    ]);
  });

  it('retires nothing while a product of the contract could not be resolved', () => {
    const ledger = { ...emptyLedger(), lines: { '50': owned('A', 'E3') } };
    const diff = diffContainer(
      container({ customers: [dcust('A', [])], existing: [vline(50, 5, 7)], incomplete: true }),
      ctx(ledger),
    );
    expect(diff.changes).toEqual([]);
  });

  it('holds an existing line that is neither the sync’s nor on its item, with a notice', () => {
    const a = dcust('A', [dline('E3', 10)]);
    const diff = diffContainer(
      container({
        customers: [a],
        wanted: [{ customer: a, line: a.lines[0]!, item: 5 }],
        existing: [vline(50, 5, 7)],
      }),
      ctx(),
    );
    expect(diff.changes.map((c) => [c.action, c.post])).toEqual([['held', undefined]]);
    expect(diff.notices.map((n) => n.kind)).toEqual(['not-owned']);
  });

  it('takes over an existing line on the sync’s own item, and on a managed contract', () => {
    const a = dcust('A', [dline('E3', 10)]);
    const input = container({
      customers: [a],
      wanted: [{ customer: a, line: a.lines[0]!, item: 5 }],
      existing: [vline(50, 5, 7)],
    });
    const mine = diffContainer(input, ctx(emptyLedger(), { ourItem: () => true }));
    expect(mine.changes.map((c) => [c.action, c.adopt, c.post])).toEqual([
      ['increase', true, { delta: 3, date: '2026-11-30' }],
    ]);
    const managed = diffContainer({ ...input, managed: true }, ctx());
    expect(managed.changes[0]!.action).toBe('increase');
  });
});

describe('prices', () => {
  it('holds a product billed at two prices on one item instead of billing a wrong one', () => {
    const a = dcust('A', [dline('P', 10, '10.50'), dline('P', 5, '12.60')]);
    const diff = diffContainer(
      container({
        customers: [a],
        wanted: a.lines.map((line) => ({ customer: a, line, item: 5 })),
      }),
      ctx(),
    );
    expect(diff.changes.map((c) => c.action)).toEqual(['held']);
    expect(diff.notices[0]!.message).toContain('10 at 10.5, 5 at 12.6');
  });

  it('prices a yearly line at 12 months', () => {
    const a = dcust('A', [dline('P', 2, '10.50', 'year')]);
    const diff = diffContainer(
      container({
        customers: [a],
        wanted: [{ customer: a, line: a.lines[0]!, item: { ref: 'service:P:year' } }],
      }),
      ctx(),
    );
    expect(diff.changes[0]!.price.pushed).toBe(126);
    expect(diff.changes[0]!.action).toBe('add');
  });
});

describe('dates', () => {
  const a = dcust('A', [dline('P', 10)]);
  const input = (existing: ViewLine) =>
    container({
      customers: [a],
      wanted: [{ customer: a, line: a.lines[0]!, item: 5 }],
      existing: [existing],
    });
  const ledger = { ...emptyLedger(), lines: { '50': owned('A', 'P') } };

  it('dates a change today, never later', () => {
    const d = diffContainer(input(vline(50, 5, 8)), ctx(ledger));
    expect(d.changes[0]!.post).toEqual({ delta: 2, date: '2026-11-30' });
  });

  it('keeps a second change of a line the same day pending for the next day, by the rows or the ledger', () => {
    const byRows = diffContainer(input(vline(50, 5, 8, { changedOn: ['2026-11-30'] })), ctx(ledger));
    expect(byRows.changes[0]!.action).toBe('pending');
    expect(byRows.changes[0]!.post).toBeUndefined();
    const byLedger = diffContainer(
      input(vline(50, 5, 8)),
      ctx({ ...ledger, adjustments: { '50': '2026-11-30' } }),
    );
    expect(byLedger.changes[0]!.action).toBe('pending');
    const nextDay = diffContainer(
      input(vline(50, 5, 8, { changedOn: ['2026-11-30'] })),
      ctx(ledger, { desired: { today: '2026-12-01', policy: 'change-date' } }),
    );
    expect(nextDay.changes[0]!.post).toEqual({ delta: 2, date: '2026-12-01' });
  });

  it('under next-period posts the month’s net change by the next month’s first run, dated its 1st', () => {
    const np = (today: string, l: Ledger) => ctx(l, { desired: { today, policy: 'next-period' } });
    const first = diffContainer(input(vline(50, 5, 8)), np('2026-11-20', ledger));
    expect(first.changes[0]!.action).toBe('pending');
    expect(first.ledger).toEqual([{ kind: 'observed', key: 'id:1|id:5', quantity: 10, month: '2026-11' }]);
    const observed = { ...ledger, observed: { 'id:1|id:5': { quantity: 10, month: '2026-11' } } };
    expect(diffContainer(input(vline(50, 5, 8)), np('2026-11-28', observed)).changes[0]!.action).toBe(
      'pending',
    );
    const next = diffContainer(input(vline(50, 5, 8)), np('2026-12-03', observed));
    expect(next.changes[0]!.post).toEqual({ delta: 2, date: '2026-12-01' });
    // Seen in sync again: the observation is forgotten.
    const done = diffContainer(input(vline(50, 5, 10)), np('2026-12-04', observed));
    expect(done.ledger).toEqual([{ kind: 'forget-observed', key: 'id:1|id:5' }]);
  });
});

describe('perpetual licences', () => {
  const c = { customerId: 'c1', name: 'C', currency: 'EUR' };
  const o = {
    key: 'SPP-aaaaaaaaaaaa-bbbbbbbbbb',
    productId: 'P',
    productName: 'Visio 2024',
    subscriptionId: 's1',
    quantity: 5,
    unitPrice: eur('300.00'),
    unitCost: eur('250.00'),
    startDate: '2026-10-10',
  };
  const span = { start: '2026-01-01', end: '2026-12-31' };
  const settings = {};
  it('charges every seat once, dated the purchase', () => {
    const p = planOneOffs(c, [o], [], { charges: {} }, span, '2026-11-30', settings);
    expect(p.posts.map((x) => [x.key, x.quantity, x.unitPrice, x.date])).toEqual([
      [`${o.key}-1`, 5, 300, '2026-10-10'],
    ]);
  });
  it('charges only seats added later, under a key of their own; nothing when all are charged', () => {
    const held = [{ key: `${o.key}-1`, quantity: 5, unitPrice: 300 }];
    expect(planOneOffs(c, [o], held, { charges: {} }, span, '2026-11-30', settings).posts).toEqual([]);
    const more = planOneOffs(c, [{ ...o, quantity: 7 }], held, { charges: {} }, span, '2026-11-30', settings);
    expect(more.posts.map((x) => [x.key, x.quantity, x.date])).toEqual([[`${o.key}-6`, 2, '2026-11-30']]);
  });
  it('posts nothing while a charge the ledger remembers is not readable yet', () => {
    const p = planOneOffs(c, [o], [], { charges: { [`${o.key}-1`]: 99 } }, span, '2026-11-30', settings);
    expect(p.posts).toEqual([]);
    expect(p.notices[0]!.kind).toBe('pending');
  });
});
