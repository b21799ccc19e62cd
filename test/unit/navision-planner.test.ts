import { describe, expect, it } from 'vitest';
import { missingLines, planNavision } from '../../connectors/navision/planner.ts';
import type { NavisionState } from '../../connectors/navision/read.ts';
import { NavisionSettings } from '../../connectors/navision/settings.ts';
import { lineKey } from '../../src/billing/desired.ts';
import { invoiceKey } from '../../src/billing/invoices.ts';
import { type DesiredCustomer, type DesiredState, emptyLedger } from '../../src/billing/types.ts';

const eur = (amount: string) => ({ amount, currency: 'EUR' });
const settings = NavisionSettings.parse({});
const customer = (id: string, name: string, quantity = 10): DesiredCustomer => ({
  customerId: id,
  name,
  microsoftTenantId: `tenant-${id}`,
  currency: 'EUR',
  lines: [
    {
      key: lineKey('E3', 'month', '12.60'),
      productId: 'E3',
      productName: 'Microsoft 365 E3',
      period: 'month',
      quantity,
      unitPrice: eur('12.60'),
      unitCost: eur('10.00'),
      subscriptionIds: ['s1'],
    },
  ],
});
const desired = (...customers: DesiredCustomer[]): DesiredState => ({
  accountId: 'a',
  today: '2026-11-10',
  timeZone: 'UTC',
  policy: 'change-date',
  effectiveDate: '2026-11-10',
  customers,
});
const state = (over: Partial<NavisionState> = {}): NavisionState => ({
  today: '2026-11-10',
  customers: [{ number: 'C00001', name: 'Contoso', blocked: false }],
  items: [{ number: 'I1', name: 'Microsoft 365 E3' }],
  invoices: [],
  lengths: { itemName: 50, customerName: 50, lineDescription: 50 },
  ...over,
});
const noMapping = () => ({ customers: {}, products: {} });

describe('planNavision', () => {
  it('makes one invoice for the month on the matched customer and item, noted before it is sent', () => {
    const plan = planNavision(
      desired(customer('c1', 'Contoso')),
      state(),
      noMapping(),
      settings,
      emptyLedger(),
    );
    expect(plan.ops.map((o) => o.kind)).toEqual(['createInvoice']);
    const op = plan.ops[0]!;
    expect(op.data).toMatchObject({
      customer: 'C00001',
      external: invoiceKey('c1', '2026-11'),
      lines: [{ item: 'I1', description: 'Microsoft 365 E3 2026-11', quantity: 10, unitPrice: 12.6 }],
    });
    expect(op.intent).toEqual([expect.objectContaining({ kind: 'invoice', customerId: 'c1' })]);
    expect(plan.ledger).toContainEqual({ kind: 'party', customerId: 'c1', id: 'C00001' });
  });

  it('matches by the configured tenant field before the name, and never guesses a close name', () => {
    const s = state({
      customers: [
        { number: 'C1', name: 'Contoso', blocked: false, tenantId: 'other' },
        { number: 'C2', name: 'Contoso Holding', blocked: false, tenantId: 'tenant-c1' },
      ],
    });
    const byTenant = planNavision(
      desired(customer('c1', 'Contoso')),
      s,
      noMapping(),
      NavisionSettings.parse({ tenantIdField: 'Microsoft_Tenant_ID' }),
      emptyLedger(),
    );
    expect(byTenant.ops[0]!.data).toMatchObject({ customer: 'C2' });
    const unmatched = planNavision(
      desired(customer('c9', 'Tailspin Toys')),
      state({ customers: [{ number: 'C7', name: 'Tailspin Toys BV', blocked: false }] }),
      noMapping(),
      settings,
      emptyLedger(),
    );
    expect(unmatched.ops).toEqual([]);
    expect(unmatched.unmapped[0]?.suggestions?.[0]).toMatchObject({ id: 'C7', name: 'Tailspin Toys BV' });
  });

  it('creates a customer only when the setting says so, with the invoice waiting for it', () => {
    const plan = planNavision(
      desired(customer('c9', 'New Customer')),
      state({ customers: [] }),
      noMapping(),
      NavisionSettings.parse({ createMissingCustomers: true }),
      emptyLedger(),
    );
    expect(plan.ops.map((o) => o.kind)).toEqual(['createCustomer', 'createInvoice']);
    expect(plan.ops[1]!.needs).toContain('customer:c9');
  });

  it('completes an unposted invoice a run left half-written, and leaves a posted or whole one alone', () => {
    const first = planNavision(
      desired(customer('c1', 'Contoso')),
      state(),
      noMapping(),
      settings,
      emptyLedger(),
    );
    const intent = first.ops[0]!.intent![0]! as {
      record: NonNullable<ReturnType<typeof emptyLedger>['invoices'][string]>;
    };
    const ledger = { ...emptyLedger(), invoices: { c1: intent.record } };
    const external = invoiceKey('c1', '2026-11');
    const header = { ref: '1001', number: '1001', external, customer: 'C00001', posted: false, lines: [] };
    const half = planNavision(
      desired(customer('c1', 'Contoso', 12)),
      state({ invoices: [header] }),
      noMapping(),
      settings,
      ledger,
    );
    // Completed with the lines it was planned with (10 seats), not today's 12: the month is invoiced once.
    expect(
      half.ops.map((o) => [
        o.kind,
        (o.data as { lines?: { quantity: number }[] }).lines?.map((l) => l.quantity),
      ]),
    ).toEqual([['completeInvoice', [10]]]);
    const posted = planNavision(
      desired(customer('c1', 'Contoso')),
      state({ invoices: [{ ...header, posted: true }] }),
      noMapping(),
      settings,
      ledger,
    );
    expect(posted.ops).toEqual([]);
    const whole = planNavision(
      desired(customer('c1', 'Contoso')),
      state({ invoices: [{ ...header, whole: true }] }),
      noMapping(),
      settings,
      ledger,
    );
    expect(whole.ops).toEqual([]);
  });

  it('counts lines as a multiset: two equal lines need two', () => {
    const l = { itemNo: 'I1', description: 'E3 2026-11', quantity: 2, unitPrice: 4.2 };
    expect(missingLines([l, l], [l])).toEqual([l]);
    expect(missingLines([l], [{ ...l, itemNo: 'i1' }])).toEqual([]);
  });
});
