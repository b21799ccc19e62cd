import axios from 'axios';
import { describe, expect, it } from 'vitest';
import { createAutotaskConnector } from '../../connectors/autotask/connector.ts';
import type { AutotaskSandbox } from '../../connectors/autotask/sandbox.ts';
import type { AutotaskSettingsInput } from '../../connectors/autotask/schemas.ts';
import type {
  ApplyResults,
  Connector,
  DesiredCustomer,
  DesiredState,
  DesiredUsage,
  LinkMapping,
  Plan,
} from '../../connectors/types.ts';
import { autotaskSandboxes } from '../helpers/autotask-sandboxes.ts';

const USER = { userName: 'api@msp.example', secret: 'e2e-secret-value', integrationCode: 'SPINPANEL-E2E' };
const DATE = '2025-03-10';
const UNITS_DATE = '2025-03-17';
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
const line = (productId: string, productName: string, quantity: number, price = '12.50') => ({
  productId,
  productName,
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
const desired = (...customers: DesiredCustomer[]): DesiredState => ({
  accountId: 'acct-e2e',
  effectiveDate: DATE,
  today: DATE,
  customers,
});

async function planFor(c: Connector, d: DesiredState, mapping = noMapping()): Promise<Plan> {
  return c.plan(d, await c.readState(d, mapping), mapping);
}
async function sync(c: Connector, d: DesiredState, mapping = noMapping()): Promise<Plan> {
  const plan = await planFor(c, d, mapping);
  const results: ApplyResults = new Map();
  for (const op of plan.ops) results.set(op.key, await c.apply(op, results));
  return plan;
}

function unitsOf(sb: AutotaskSandbox, serviceName: string, date = UNITS_DATE): number | undefined {
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
    const plan = await planFor(c, d);
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

  it('dates a same-day second change on the next free day: one write per change, none refused', async () => {
    const sb = await start();
    const c = connect(sb);
    await sync(
      c,
      desired(contoso([line('p-e3', 'Microsoft 365 E3', 4), line('p-e5', 'Microsoft 365 E5', 2)])),
    );
    const before = sb.requests.length;
    await sync(
      c,
      desired(contoso([line('p-e3', 'Microsoft 365 E3', 6), line('p-e5', 'Microsoft 365 E5', 1)])),
    );
    const writes = sb.requests.slice(before).filter((r) => r.method === 'POST' && !/\/query/i.test(r.path));
    expect(writes.map((r) => [r.status, (r.body as { effectiveDate: string }).effectiveDate])).toEqual([
      [200, '2025-03-11'],
      [200, '2025-03-11'],
    ]);
    await sync(
      c,
      desired(contoso([line('p-e3', 'Microsoft 365 E3', 7), line('p-e5', 'Microsoft 365 E5', 1)])),
    );
    expect(sb.db.adjustments.at(-1)).toMatchObject({ unitChange: 1, effectiveDate: '2025-03-12T00:00:00Z' });
    expect(sb.requests.filter((r) => r.status >= 400)).toEqual([]);
    expect(unitsOf(sb, 'Microsoft 365 E3')).toBe(7);
  });

  it('retires the old SKU and adds the new one in one run on an upgrade', async () => {
    const sb = await start();
    const c = connect(sb);
    await sync(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 7)])));
    expect(unitsOf(sb, 'Microsoft 365 E3')).toBe(7);

    const upgraded = desired(contoso([line('p-e5', 'Microsoft 365 E5', 7, '35.00')]));
    const plan = await sync(c, upgraded);
    expect(plan.recon.map((r) => [r.productName, r.action, r.targetUnitsBefore, r.targetUnitsAfter])).toEqual(
      [
        ['Microsoft 365 E5', 'add', null, 7],
        ['Microsoft 365 E3', 'retire', 7, 0],
      ],
    );
    expect(unitsOf(sb, 'Microsoft 365 E3')).toBe(0);
    expect(unitsOf(sb, 'Microsoft 365 E5')).toBe(7);
    expect(sb.db.contracts.size).toBe(1);
    expect((await planFor(c, upgraded)).ops).toEqual([]);
  });

  it('renews an expired managed contract by moving its end date and carries on from its units', async () => {
    const sb = await start();
    const c = connect(sb);
    // Last year's run made the contract; it ended on Feb 28 with 5 seats.
    const lastYear = {
      ...desired(contoso([line('p-e3', 'Microsoft 365 E3', 5)])),
      effectiveDate: '2024-03-01',
      today: '2024-03-01',
    };
    await sync(c, lastYear);
    const [contract] = [...sb.db.contracts.values()];
    expect(contract).toMatchObject({ startDate: '2024-03-01T00:00:00Z', endDate: '2025-02-28T00:00:00Z' });

    const plan = await sync(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 8)])));
    expect(plan.ops.map((o) => o.kind)).toEqual(['renewContract', 'adjustUnits']);
    expect(sb.db.contracts.get(contract!.id)!.endDate).toBe('2026-02-28T00:00:00Z');
    expect(sb.db.contracts.size).toBe(1);
    expect(unitsOf(sb, 'Microsoft 365 E3')).toBe(8);
    expect(sb.db.adjustments.map((a) => a.unitChange)).toEqual([5, 3]);
    expect((await planFor(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 8)])))).ops).toEqual([]);
  });

  it('pushes SpinPanel prices in the customer’s currency and leaves the internal-currency ones alone', async () => {
    const sb = await start({
      companies: [{ companyName: 'Contoso', currencyID: 2 }],
      currencies: [{ id: 2, name: 'EUR', exchangeRate: 0.85 }],
    });
    const c = connect(sb);
    await sync(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 5, '12.5000')])));
    const [cs] = [...sb.db.contractServices.values()];
    expect(cs).toMatchObject({ unitPrice: 12.5, internalCurrencyUnitPrice: 10.625 });
    // Same price, four decimals in SpinPanel and another amount internally: nothing to fix.
    expect(
      (await planFor(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 5, '12.5000')])))).ops,
    ).toEqual([]);

    const dearer = desired(contoso([line('p-e3', 'Microsoft 365 E3', 5, '13.9900')]));
    const plan = await sync(c, dearer);
    expect(plan.ops.map((o) => o.kind)).toEqual(['setPrice']);
    expect(sb.db.contractServices.get(cs!.id)).toMatchObject({
      adjustedPrice: 13.99,
      internalCurrencyAdjustedPrice: 11.8915,
    });
    expect((await planFor(c, dearer)).ops).toEqual([]);
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
    const plan = await sync(c, desired(contoso([line('p-e3', 'Microsoft 365 E3', 2)])));
    const nl = [...sb.db.companies.values()].find((x) => x.companyName === 'Contoso B.V. (NL)')!;
    const pax8 = [...sb.db.companies.values()].find((x) => x.companyName === 'Pax8')!;
    expect([...sb.db.contracts.values()][0]).toMatchObject({ companyID: nl.id });
    expect([...sb.db.services.values()][0]).toMatchObject({ vendorCompanyID: pax8.id });
    expect(plan.recon[0]!.targetCompany).toEqual({ id: nl.id, name: 'Contoso B.V. (NL)' });
  });

  it('posts a month of usage once: later runs find its key, a changed month is reported', async () => {
    const sb = await start({
      chargeTypes: [
        { value: 3, label: 'Capitalized' },
        { value: 4, label: 'Operational' },
      ],
    });
    const c = connect(sb, { azureBillingCodeId: AZURE_CODE, productMarkupPercent: 15 });
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

    const first = await sync(c, withUsage([february]));
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

    const second = await sync(c, withUsage([february]));
    expect(second.ops).toEqual([]);
    expect(second.usage?.[0]).toMatchObject({ action: 'posted', postedTotal: 127 });

    const revised = {
      ...february,
      lines: [...february.lines, { ...february.lines[0]!, id: 'u3', cost: money('1.00') }],
    };
    const third = await sync(c, withUsage([revised]));
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
});
