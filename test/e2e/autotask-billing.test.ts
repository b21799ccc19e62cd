import axios from 'axios';
import { describe, expect, it } from 'vitest';
import { createAutotaskConnector } from '../../connectors/autotask/connector.ts';
import type { AutotaskSandbox } from '../../connectors/autotask/sandbox.ts';
import type { AutotaskSettingsInput } from '../../connectors/autotask/schemas.ts';
import type {
  ApplyResults,
  Connector,
  DesiredCustomer,
  DesiredLine,
  DesiredState,
  DesiredUsage,
  Ledger,
  LinkMapping,
  Plan,
} from '../../connectors/types.ts';
import { lineKey, oneOffKeyBase } from '../../src/billing/desired.ts';
import type { LedgerEntry } from '../../src/billing/types.ts';
import { fieldsOf, parseLedger } from '../../src/links/ledger.ts';
import { autotaskSandboxes } from '../helpers/autotask-sandboxes.ts';

const USER = { userName: 'api@msp.example', secret: 'e2e-secret-value', integrationCode: 'SPINPANEL-E2E' };
const DATE = '2025-03-10';
const NEXT_DAY = '2025-03-11';
/** A later day of the month, to read what Autotask bills once the changes took effect. */
const LATER = '2025-03-17';
const AZURE_CODE = 29682802;
const noMapping = (): LinkMapping => ({ customers: {}, products: {} });

const start = autotaskSandboxes({
  users: [USER],
  today: () => DATE,
  companies: [{ id: 0, companyName: 'Example MSP', companyType: 5 }, { companyName: 'Contoso' }],
});

function connect(sb: AutotaskSandbox, settings: Partial<AutotaskSettingsInput> = {}): Connector {
  return createAutotaskConnector({
    http: axios.create({ timeout: 10_000 }),
    credentials: USER,
    settings: { serviceBillingCodeId: 29682801, ...settings },
    zoneLookupUrl: sb.zoneLookupUrl,
  });
}

const money = (amount: string, currency = 'EUR') => ({ amount, currency });
const line = (productId: string, productName: string, quantity: number, price = '12.50'): DesiredLine => ({
  key: lineKey(productId, 'month', price),
  productId,
  productName,
  period: 'month',
  quantity,
  unitPrice: money(price),
  unitCost: money('10.00'),
  subscriptionIds: [`sub-${productId}`],
});
const contoso = (lines: DesiredCustomer['lines'], over: Partial<DesiredCustomer> = {}): DesiredCustomer => ({
  customerId: 'c1',
  name: 'Contoso',
  microsoftTenantId: 'tenant-c1',
  currency: 'EUR',
  lines,
  ...over,
});
const desired = (...customers: DesiredCustomer[]): DesiredState => on(DATE, ...customers);
const on = (today: string, ...customers: DesiredCustomer[]): DesiredState => ({
  accountId: 'acct-e2e',
  today,
  timeZone: 'UTC',
  policy: 'change-date',
  effectiveDate: today,
  customers,
});

/** The link's ownership ledger as the engine keeps it (Redis hash fields), written after each op that went through. */
function ledgerBook() {
  const raw: Record<string, string> = {};
  const write = (
    entries: readonly LedgerEntry[],
    results: ApplyResults,
    own?: { key: string; result: unknown },
  ) => {
    for (const entry of entries) {
      const f = fieldsOf(entry, results, own);
      if (f?.set) raw[f.set[0]] = f.set[1];
      if (f?.del) delete raw[f.del];
    }
  };
  return { ledger: (): Ledger => parseLedger(raw), write };
}
type Book = ReturnType<typeof ledgerBook>;

async function planFor(c: Connector, d: DesiredState, book: Book, mapping = noMapping()): Promise<Plan> {
  return c.plan(d, await c.readState(d, mapping, book.ledger()), mapping, book.ledger());
}
/** One run: read, plan, apply every op (recording its ledger entries), then the plan's own entries. */
async function sync(c: Connector, d: DesiredState, book: Book, mapping = noMapping()): Promise<Plan> {
  const plan = await planFor(c, d, book, mapping);
  const results: ApplyResults = new Map();
  for (const op of plan.ops) {
    const result = await c.apply(op, results);
    results.set(op.key, result);
    book.write(op.ledger ?? [], results, { key: op.key, result });
  }
  book.write(plan.ledger ?? [], new Map());
  return plan;
}

function unitsOf(sb: AutotaskSandbox, serviceName: string, date = LATER): number | undefined {
  const service = [...sb.db.services.values()].find((s) => s.name === serviceName);
  const cs = [...sb.db.contractServices.values()].find((x) => x.serviceID === service?.id);
  return cs ? sb.unitsAt(cs.id, date) : undefined;
}

describe('Autotask connector billing against the sandbox', () => {
  it('applies a fresh plan with one request per write; a replayed op looks its key up first', async () => {
    const sb = await start();
    const c = connect(sb, { azureBillingCodeId: AZURE_CODE });
    const usage = [
      {
        period: '2025-02',
        lines: [
          {
            id: 'u1',
            meterCategory: 'VM',
            productName: 'D2',
            unit: 'h',
            quantity: '1',
            cost: money('9.00'),
            price: null,
          },
        ],
      },
    ];
    const d = desired(
      contoso([line('p-e3', 'Microsoft 365 E3', 4), line('p-e5', 'Microsoft 365 E5', 2)], { usage }),
    );
    const plan = await planFor(c, d, ledgerBook());
    const before = sb.requests.length;
    const results: ApplyResults = new Map();
    for (const op of plan.ops) results.set(op.key, await c.apply(op, results));
    const during = sb.requests.slice(before);
    // The plan's read was the lookup: only the writes, plus the charge-type picklist read once.
    expect(during.filter((r) => /\/query/i.test(r.path)).map((r) => r.entity)).toEqual([]);
    expect(during.length).toBe(plan.ops.length + 1);

    const replay = sb.requests.length;
    for (const op of plan.ops) await c.apply(op, results);
    expect(sb.requests.slice(replay).filter((r) => r.method === 'POST' && !/\/query/i.test(r.path))).toEqual(
      [],
    );
    expect([
      sb.db.services.size,
      sb.db.contracts.size,
      sb.db.contractServices.size,
      sb.db.contractCharges.size,
    ]).toEqual([2, 1, 2, 1]);
    expect(sb.db.adjustments).toHaveLength(2);
  });

  it('keeps a same-day second change pending and posts it on the next day: one write per change, none refused', async () => {
    // Was: the second change was dated on the next free day, in the future.
    const sb = await start();
    const c = connect(sb);
    const book = ledgerBook();
    await sync(
      c,
      desired(contoso([line('p-e3', 'Microsoft 365 E3', 4), line('p-e5', 'Microsoft 365 E5', 2)])),
      book,
    );
    const before = sb.requests.length;
    const sameDay = await sync(
      c,
      desired(contoso([line('p-e3', 'Microsoft 365 E3', 6), line('p-e5', 'Microsoft 365 E5', 1)])),
      book,
    );
    expect(sameDay.ops).toEqual([]);
    expect(sameDay.recon.map((r) => [r.productId, r.action, r.reason])).toEqual([
      ['p-e3', 'pending', expect.stringContaining(`already dated ${DATE}`)],
      ['p-e5', 'pending', expect.stringContaining(`already dated ${DATE}`)],
    ]);
    // The third change of the day (7 seats) is netted with the second: the next day posts 4 → 7 at once.
    await sync(
      c,
      on(NEXT_DAY, contoso([line('p-e3', 'Microsoft 365 E3', 7), line('p-e5', 'Microsoft 365 E5', 1)])),
      book,
    );
    const writes = sb.requests.slice(before).filter((r) => r.method === 'POST' && !/\/query/i.test(r.path));
    expect(
      writes.map((r) => [
        r.status,
        (r.body as { unitChange: number; effectiveDate: string }).unitChange,
        (r.body as { effectiveDate: string }).effectiveDate,
      ]),
    ).toEqual([
      [200, 3, NEXT_DAY],
      [200, -1, NEXT_DAY],
    ]);
    expect(sb.requests.filter((r) => r.status >= 400)).toEqual([]);
    expect(unitsOf(sb, 'Microsoft 365 E3')).toBe(7);
    expect(unitsOf(sb, 'Microsoft 365 E5')).toBe(1);
    // No adjustment is dated after the day of the run that posted it.
    expect(sb.db.adjustments.every((a) => a.effectiveDate <= `${NEXT_DAY}T00:00:00Z`)).toBe(true);
  });

  it('retires the old SKU and adds the new one in one run on an upgrade', async () => {
    const sb = await start();
    const c = connect(sb);
    const book = ledgerBook();
    await sync(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 7)])), book);
    expect(unitsOf(sb, 'Microsoft 365 E3')).toBe(7);

    const upgraded = on(NEXT_DAY, contoso([line('p-e5', 'Microsoft 365 E5', 7, '35.00')]));
    const plan = await sync(c, upgraded, book);
    expect(plan.recon.map((r) => [r.productName, r.action, r.targetUnitsBefore, r.targetUnitsAfter])).toEqual(
      [
        ['Microsoft 365 E5', 'add', null, 7],
        ['Microsoft 365 E3', 'retire', 7, 0],
      ],
    );
    expect(unitsOf(sb, 'Microsoft 365 E3')).toBe(0);
    expect(unitsOf(sb, 'Microsoft 365 E5')).toBe(7);
    expect(sb.db.contracts.size).toBe(1);
    expect((await planFor(c, upgraded, book)).ops).toEqual([]);
  });

  it('renews an expired managed contract by moving its end date and carries on from its units', async () => {
    const sb = await start();
    const c = connect(sb);
    const book = ledgerBook();
    // Last year's run made the contract; it ended on Feb 28 with 5 seats.
    await sync(c, on('2024-03-01', contoso([line('p-e3', 'Microsoft 365 E3', 5)])), book);
    const [contract] = [...sb.db.contracts.values()];
    expect(contract).toMatchObject({ startDate: '2024-03-01T00:00:00Z', endDate: '2025-02-28T00:00:00Z' });

    const plan = await sync(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 8)])), book);
    expect(plan.ops.map((o) => o.kind)).toEqual(['renewContract', 'adjustUnits']);
    expect(sb.db.contracts.get(contract!.id)!.endDate).toBe('2026-02-28T00:00:00Z');
    expect(sb.db.contracts.size).toBe(1);
    expect(unitsOf(sb, 'Microsoft 365 E3')).toBe(8);
    expect(sb.db.adjustments.map((a) => [a.unitChange, a.effectiveDate])).toEqual([
      [5, '2024-03-01T00:00:00Z'],
      [3, `${DATE}T00:00:00Z`],
    ]);
    expect((await planFor(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 8)])), book)).ops).toEqual([]);
  });

  it('pushes SpinPanel prices in the customer’s currency and leaves the internal-currency ones alone', async () => {
    const sb = await start({
      companies: [{ companyName: 'Contoso', currencyID: 2 }],
      currencies: [{ id: 2, name: 'EUR', exchangeRate: 0.85 }],
    });
    const c = connect(sb);
    const book = ledgerBook();
    await sync(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 5, '12.5000')])), book);
    const [cs] = [...sb.db.contractServices.values()];
    expect(cs).toMatchObject({ unitPrice: 12.5, internalCurrencyUnitPrice: 10.625 });
    // Same price, four decimals in SpinPanel and another amount internally: nothing to fix.
    expect(
      (await planFor(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 5, '12.5000')])), book)).ops,
    ).toEqual([]);

    const dearer = desired(contoso([line('p-e3', 'Microsoft 365 E3', 5, '13.9900')]));
    const plan = await sync(c, dearer, book);
    expect(plan.ops.map((o) => o.kind)).toEqual(['setPrice']);
    expect(plan.recon[0]).toMatchObject({ action: 'price', unitPriceBefore: 12.5, unitPriceAfter: 13.99 });
    expect(sb.db.contractServices.get(cs!.id)).toMatchObject({
      adjustedPrice: 13.99,
      internalCurrencyAdjustedPrice: 11.8915,
    });
  });

  // BUG (connectors/autotask/plan-contract.ts, viewLine): a units row whose amount matches neither the contract
  // service's rate nor rate × units is taken as a total and divided by the units. The sandbox's row keeps billing
  // the 12.50 per seat its adjustment carried after the PATCH of adjustedPrice, so the plan reads 12.50 / 5 = 2.50
  // and sets the price again on every run ("price 2.5 → 13.99"): a price change never converges.
  it('plans nothing once a changed price was set (no-change resync writes nothing)', async () => {
    const sb = await start();
    const c = connect(sb);
    const book = ledgerBook();
    await sync(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 5, '12.50')])), book);
    const dearer = desired(contoso([line('p-e3', 'Microsoft 365 E3', 5, '13.99')]));
    expect((await sync(c, dearer, book)).ops.map((o) => o.kind)).toEqual(['setPrice']);
    const again = await planFor(c, dearer, book);
    expect(again.recon[0]).toMatchObject({ action: 'unchanged', unitPriceBefore: 13.99 });
    expect(again.ops).toEqual([]);
  });

  it('matches the company by its tenant-id UDF and sets the vendor on the services it creates', async () => {
    const sb = await start({
      companies: [
        { companyName: 'Contoso' }, // same name, no tenant: not the one
        { companyName: 'Contoso B.V. (NL)', udfs: { 'Microsoft Tenant ID': 'TENANT-C1' } },
        { companyName: 'Pax8', companyType: 7 },
      ],
    });
    const c = connect(sb, { tenantIdUdf: 'Microsoft Tenant ID', vendorName: 'pax8' });
    const plan = await sync(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 2)])), ledgerBook());
    const nl = [...sb.db.companies.values()].find((x) => x.companyName === 'Contoso B.V. (NL)')!;
    const pax8 = [...sb.db.companies.values()].find((x) => x.companyName === 'Pax8')!;
    expect([...sb.db.contracts.values()][0]).toMatchObject({ companyID: nl.id });
    expect([...sb.db.services.values()][0]).toMatchObject({ vendorCompanyID: pax8.id });
    expect(plan.recon[0]!.targetCompany).toEqual({ id: nl.id, name: 'Contoso B.V. (NL)' });
  });

  it('suggests close company names for a customer it cannot match, and matches none of them', async () => {
    const sb = await start({
      companies: [
        { companyName: 'Tailspin Toys', isActive: false },
        { companyName: 'Tailspin Toys', companyType: 7 },
        { companyName: 'Tailspin Toys BV' },
      ],
    });
    const c = connect(sb);
    const tailspin = {
      ...contoso([line('p-e3', 'Microsoft 365 E3', 2)]),
      customerId: 'c9',
      name: 'tailspin  toys',
    };
    const plan = await sync(c, desired(tailspin), ledgerBook());
    const bv = [...sb.db.companies.values()].find((x) => x.companyName === 'Tailspin Toys BV')!;
    expect(plan.ops).toEqual([]);
    expect(plan.unmapped).toEqual([
      {
        customerId: 'c9',
        name: 'tailspin  toys',
        reason: expect.stringContaining('no active customer Autotask company named'),
        suggestions: [{ id: bv.id, name: 'Tailspin Toys BV', score: expect.any(Number) }],
      },
    ]);
    expect(sb.db.contracts.size).toBe(0);
  });

  it('posts a month of usage once: later runs find its key, a changed month is reported', async () => {
    const sb = await start({
      chargeTypes: [
        { value: 3, label: 'Capitalized' },
        { value: 4, label: 'Operational' },
      ],
    });
    const c = connect(sb, { azureBillingCodeId: AZURE_CODE, productMarkupPercent: 15 });
    const book = ledgerBook();
    expect(c.usageMonths).toBe(2);
    const february: DesiredUsage = {
      period: '2025-02',
      lines: [
        {
          id: 'u1',
          meterCategory: 'Virtual Machines',
          productName: 'D2s v5',
          unit: '1 Hour',
          quantity: '744',
          cost: money('100.00'),
          price: null,
        },
        {
          id: 'u2',
          meterCategory: 'Storage',
          productName: 'E10',
          unit: '1/Month',
          quantity: '2',
          cost: money('10.00'),
          price: money('12.00'),
        },
      ],
    };
    const withUsage = (usage: DesiredUsage[]) =>
      desired(contoso([line('p-e3', 'Microsoft 365 E3', 2)], { usage }));

    const first = await sync(c, withUsage([february]), book);
    expect(first.usage).toEqual([
      expect.objectContaining({ period: '2025-02', action: 'post', spinpanelTotal: 127 }),
    ]);
    expect([...sb.db.contractCharges.values()]).toEqual([
      expect.objectContaining({
        unitPrice: 127,
        unitCost: 110,
        chargeType: 4,
        billingCodeID: AZURE_CODE,
        datePurchased: '2025-03-01T00:00:00Z',
      }),
    ]);
    // The contract starts on March 1: February's charge is dated inside it.

    const second = await sync(c, withUsage([february]), book);
    expect(second.ops).toEqual([]);
    expect(second.usage?.[0]).toMatchObject({ action: 'posted', postedTotal: 127 });

    const revised = {
      ...february,
      lines: [...february.lines, { ...february.lines[0]!, id: 'u3', cost: money('1.00') }],
    };
    const third = await sync(c, withUsage([revised]), book);
    expect(third.ops).toEqual([]);
    expect(third.usage?.[0]).toMatchObject({
      action: 'changed-after-posting',
      postedTotal: 127,
      spinpanelTotal: 128.15,
    });
    expect(third.notices).toContainEqual(
      expect.objectContaining({ kind: 'usage-changed', customerId: 'c1' }),
    );
    expect(sb.db.contractCharges.size).toBe(1);
  });

  it('charges a perpetual licence once, and later only the seats added since', async () => {
    const sb = await start();
    const c = connect(sb, { oneOffBillingCodeId: AZURE_CODE });
    const book = ledgerBook();
    const key = oneOffKeyBase('c1', 'sub-visio');
    const visio = (quantity: number) =>
      contoso([], {
        oneOffs: [
          {
            key,
            productId: 'p-visio',
            productName: 'Visio Standard 2021',
            subscriptionId: 'sub-visio',
            quantity,
            unitPrice: money('250.00'),
            unitCost: money('200.00'),
            startDate: '2025-03-05',
          },
        ],
      });
    const first = await sync(c, desired(visio(3)), book);
    expect(first.ops.map((o) => o.kind)).toEqual(['createContract', 'postCharge']);
    expect([...sb.db.contractCharges.values()]).toEqual([
      expect.objectContaining({
        purchaseOrderNumber: `${key}-1`,
        unitQuantity: 3,
        unitPrice: 250,
        billingCodeID: AZURE_CODE,
        datePurchased: '2025-03-05T00:00:00Z',
      }),
    ]);
    // Never a recurring line.
    expect(sb.db.services.size).toBe(0);
    expect(book.ledger().charges).toEqual({ [`${key}-1`]: expect.any(Number) });

    expect((await sync(c, desired(visio(3)), book)).ops).toEqual([]);

    await sync(c, on(NEXT_DAY, visio(5)), book);
    expect(
      [...sb.db.contractCharges.values()].map((x) => [
        x.purchaseOrderNumber,
        x.unitQuantity,
        x.datePurchased,
      ]),
    ).toEqual([
      [`${key}-1`, 3, '2025-03-05T00:00:00Z'],
      [`${key}-4`, 2, `${NEXT_DAY}T00:00:00Z`],
    ]);
    expect((await planFor(c, on(NEXT_DAY, visio(5)), book)).ops).toEqual([]);
  });
});
