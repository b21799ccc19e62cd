import { describe, expect, it } from 'vitest';
import { type AutotaskState, planAutotask, SERVICE_MARKER } from '../../connectors/autotask/planner.ts';
import {
  AutotaskSettings,
  type AutotaskSettingsInput,
  type Company,
} from '../../connectors/autotask/schemas.ts';
import { assertAutotaskState } from '../../connectors/autotask/state.ts';
import type {
  DesiredCustomer,
  DesiredLine,
  DesiredState,
  LinkMapping,
  PlanOp,
} from '../../connectors/types.ts';

const DATE = '2025-03-10';
const UNITS_DATE = '2025-03-17';
const settingsOf = (over: Partial<AutotaskSettingsInput> = {}) =>
  AutotaskSettings.parse({ serviceBillingCodeId: 29682801, ...over });
const money = (amount: string, currency = 'EUR') => ({ amount, currency });
const line = (productId: string, productName: string, quantity: number, price = '12.50'): DesiredLine => ({
  productId,
  productName,
  quantity,
  unitPrice: money(price),
  unitCost: money('10.00'),
  subscriptionIds: [`sub-${productId}`],
});
const customer = (
  customerId: string,
  name: string,
  lines: DesiredLine[],
  over: Partial<DesiredCustomer> = {},
) => ({
  customerId,
  name,
  microsoftTenantId: `tenant-${customerId}`,
  currency: 'EUR',
  lines,
  ...over,
});
const desired = (...customers: DesiredCustomer[]): DesiredState => ({
  accountId: 'acct',
  effectiveDate: DATE,
  today: DATE,
  customers,
});
const noMapping = (): LinkMapping => ({ customers: {}, products: {} });
const company = (id: number, companyName: string, udfs: Record<string, string> = {}): Company => ({
  id,
  companyName,
  companyType: 1,
  isActive: true,
  userDefinedFields: Object.entries(udfs).map(([name, value]) => ({ name, value })),
});
const contract = (
  id: number,
  companyID: number,
  contractNumber: string,
  startDate = '2025-03-01',
  endDate = '2026-02-28',
) => ({
  id,
  companyID,
  contractNumber,
  contractName: 'x',
  contractType: 7,
  status: 1,
  startDate,
  endDate,
});
const cs = (
  id: number,
  contractID: number,
  serviceID: number,
  unitPrice = 12.5,
  adjustedPrice: number | null = null,
) => ({
  id,
  contractID,
  serviceID,
  unitPrice,
  adjustedPrice,
  unitCost: 10,
});
const row = (contractServiceID: number, units: number, startDate = '2025-03-01', endDate = '2025-03-31') => ({
  id: contractServiceID * 1000 + Number(startDate.slice(5, 7)) * 40 + Number(startDate.slice(8)),
  contractID: 0,
  contractServiceID,
  startDate,
  endDate,
  units,
});
const state = (over: Partial<AutotaskState> = {}): AutotaskState => ({
  unitsDate: UNITS_DATE,
  companies: [company(100, 'Contoso')],
  contracts: [],
  services: [],
  contractServices: [],
  units: [],
  ...over,
});
/** Contoso on managed contract 500 with E3 (service 1, contract service 900) at `units`. */
const synced = (units: number, over: Partial<AutotaskState> = {}) =>
  state({
    contracts: [contract(500, 100, 'SP-c1')],
    services: [
      {
        id: 1,
        name: 'Microsoft 365 E3',
        unitPrice: 12.5,
        unitCost: 10,
        description: `${SERVICE_MARKER}p-e3`,
      },
    ],
    contractServices: [cs(900, 500, 1)],
    units: [row(900, units)],
    ...over,
  });
const byKind = (ops: PlanOp[], kind: string) => ops.filter((o) => o.kind === kind);

describe('planAutotask: mapping', () => {
  it('matches a company by the tenant id in a UDF before its name, and shows the name back', () => {
    const s = settingsOf({ tenantIdUdf: 'Microsoft Tenant ID' });
    const st = state({
      companies: [
        company(100, 'Contoso'),
        company(200, 'Contoso (EMEA)', { 'microsoft tenant id': 'tenant-c1' }),
      ],
    });
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 3)])),
      st,
      noMapping(),
      s,
    );
    expect(byKind(plan.ops, 'createContract')[0]!.data).toMatchObject({ body: { companyID: 200 } });
    expect(plan.recon[0]).toMatchObject({
      targetCompany: { id: 200, name: 'Contoso (EMEA)' },
      action: 'add',
    });
  });

  it('never guesses: two companies with one tenant id, or a name match holding another tenant', () => {
    const s = settingsOf({ tenantIdUdf: 'Tenant' });
    const twins = state({
      companies: [company(1, 'A', { Tenant: 'tenant-c1' }), company(2, 'B', { Tenant: 'tenant-c1' })],
    });
    const lines = [line('p-e3', 'Microsoft 365 E3', 1)];
    expect(
      planAutotask(desired(customer('c1', 'Contoso', lines)), twins, noMapping(), s).unmapped[0]!.reason,
    ).toMatch(/2 Autotask companies hold tenant tenant-c1/);
    const other = state({ companies: [company(1, 'Contoso', { Tenant: 'tenant-zz' })] });
    const plan = planAutotask(desired(customer('c1', 'Contoso', lines)), other, noMapping(), s);
    expect(plan.ops).toEqual([]);
    expect(plan.unmapped[0]!.reason).toMatch(/holds tenant tenant-zz/);
  });

  it('reports a product without a service as unmapped when creating services is off', () => {
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 3)])),
      state(),
      noMapping(),
      settingsOf({ createMissingServices: false }),
    );
    expect(byKind(plan.ops, 'createService')).toEqual([]);
    expect(plan.unmapped[0]!.reason).toMatch(
      /no Autotask service named "Microsoft 365 E3".*createMissingServices/,
    );
  });

  it('leaves an offboarded customer that never reached Autotask unreported, and retires one that did', () => {
    const gone = customer('c1', 'Contoso', [], { offboarded: true });
    expect(planAutotask(desired(gone), state({ companies: [] }), noMapping(), settingsOf())).toMatchObject({
      ops: [],
      unmapped: [],
    });
    const plan = planAutotask(desired(gone), synced(7), noMapping(), settingsOf());
    expect(plan.ops).toEqual([
      expect.objectContaining({ kind: 'adjustUnits', data: expect.objectContaining({ unitChange: -7 }) }),
    ]);
    expect(plan.recon[0]).toMatchObject({ action: 'retire', targetUnitsBefore: 7, targetUnitsAfter: 0 });
  });
});

describe('planAutotask: vendor', () => {
  it('creates services with the vendor company, and sets it on SpinPanel’s existing services', () => {
    const s = settingsOf({ vendorName: 'Pax8' });
    const st = synced(3, { companies: [company(100, 'Contoso'), company(300, 'Pax8')] });
    const plan = planAutotask(
      desired(
        customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 3), line('p-e5', 'Microsoft 365 E5', 2)]),
      ),
      st,
      noMapping(),
      s,
    );
    expect(byKind(plan.ops, 'createService')[0]!.data).toMatchObject({
      body: { name: 'Microsoft 365 E5', vendorCompanyID: 300 },
    });
    expect(byKind(plan.ops, 'updateService')).toEqual([
      expect.objectContaining({ key: 'vendor:1', data: { serviceId: 1, changes: { vendorCompanyID: 300 } } }),
    ]);
  });

  it('creates no service under a vendor that does not exist, and says why', () => {
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e5', 'Microsoft 365 E5', 2)])),
      state(),
      noMapping(),
      settingsOf({ vendorName: 'Nobody Distribution' }),
    );
    expect(plan.ops).toEqual([]);
    expect(plan.unmapped[0]!.reason).toMatch(/vendor "Nobody Distribution"/);
    expect(plan.notices).toContainEqual(expect.objectContaining({ kind: 'settings' }));
  });
});

describe('planAutotask: quantities and contracts', () => {
  it('retires the old SKU and adds the new one in one plan on an upgrade', () => {
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e5', 'Microsoft 365 E5', 7)])),
      synced(7),
      noMapping(),
      settingsOf(),
    );
    expect(plan.ops.map((o) => [o.kind, (o.data as { unitChange?: number }).unitChange])).toEqual([
      ['createService', undefined],
      ['addContractService', undefined],
      ['adjustUnits', 7],
      ['adjustUnits', -7],
    ]);
    expect(plan.recon.map((r) => [r.productName, r.action, r.targetUnitsAfter])).toEqual([
      ['Microsoft 365 E5', 'add', 7],
      ['Microsoft 365 E3', 'retire', 0],
    ]);
  });

  it('renews an expired managed contract by moving its end date, keeping the units it ended with', () => {
    const st = synced(0, {
      contracts: [contract(500, 100, 'SP-c1', '2024-03-01', '2025-02-28')],
      units: [row(900, 5, '2025-02-01', '2025-02-28')],
    });
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 8)])),
      st,
      noMapping(),
      settingsOf(),
    );
    expect(plan.ops.map((o) => o.kind)).toEqual(['renewContract', 'adjustUnits']);
    expect(plan.ops[0]!.data).toMatchObject({ contractId: 500, endDate: '2026-02-28' });
    expect(plan.ops[1]).toMatchObject({
      needs: ['renew:c1'],
      data: { unitChange: 3, targetUnits: 8, effectiveDate: DATE, readDate: UNITS_DATE },
    });
  });

  it('does not renew a contract the MSP mapped: the customer is reported instead', () => {
    const st = synced(5, { contracts: [contract(700, 100, 'FRAME', '2024-01-01', '2024-12-31')] });
    const mapping: LinkMapping = { customers: { c1: { contractId: 700 } }, products: {} };
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 8)])),
      st,
      mapping,
      settingsOf(),
    );
    expect(plan.ops).toEqual([]);
    expect(plan.unmapped[0]!.reason).toMatch(/ended on 2024-12-31/);
  });

  it('dates adjustments inside the contract: from its start when it starts after the effective date', () => {
    const st = synced(0, {
      contracts: [contract(700, 100, 'FRAME', '2025-04-01', '2026-03-31')],
      contractServices: [],
      units: [],
    });
    const mapping: LinkMapping = {
      customers: { c1: { contractId: 700 } },
      products: { 'p-e3': { serviceId: 1 } },
    };
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 2)])),
      st,
      mapping,
      settingsOf(),
    );
    expect(byKind(plan.ops, 'adjustUnits')[0]!.data).toMatchObject({ effectiveDate: '2025-04-01' });
  });

  it('starts a new managed contract on the start day before today even when changes take effect next month', () => {
    const next = {
      ...desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 2)])),
      effectiveDate: '2025-04-01',
    };
    const plan = planAutotask(
      next,
      state({ unitsDate: '2025-04-08' }),
      noMapping(),
      settingsOf({ contractTermMonths: 1 }),
    );
    expect(byKind(plan.ops, 'createContract')[0]!.data).toMatchObject({
      body: { startDate: '2025-03-01', endDate: '2025-04-30' },
    });
    expect(byKind(plan.ops, 'adjustUnits')[0]!.data).toMatchObject({ effectiveDate: '2025-04-01' });
  });
});

describe('planAutotask: adjustment dates', () => {
  const plannedDate = (units: ReturnType<typeof row>[], effectiveDate = DATE) => {
    const d = { ...desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 9)])), effectiveDate };
    const plan = planAutotask(d, synced(0, { units }), noMapping(), settingsOf());
    return (byKind(plan.ops, 'adjustUnits')[0]!.data as { effectiveDate: string }).effectiveDate;
  };

  it('skips the days that already hold an adjustment of the service (rows split there)', () => {
    expect(plannedDate([row(900, 3, '2025-03-01', '2025-03-31')])).toBe(DATE);
    // Adjustments took effect on the 10th and the 11th: the rows start there.
    const split = [
      row(900, 3, '2025-03-01', '2025-03-09'),
      row(900, 5, '2025-03-10', '2025-03-10'),
      row(900, 6, '2025-03-11', '2025-03-31'),
    ];
    expect(plannedDate(split)).toBe('2025-03-12');
  });

  it('on the 1st of a month, counts an adjustment only where the units changed', () => {
    const flat = [row(900, 4, '2025-03-01', '2025-03-31'), row(900, 4, '2025-04-01', '2025-04-30')];
    expect(plannedDate(flat, '2025-04-01')).toBe('2025-04-01');
    const changed = [row(900, 4, '2025-03-01', '2025-03-31'), row(900, 6, '2025-04-01', '2025-04-30')];
    expect(plannedDate(changed, '2025-04-01')).toBe('2025-04-02');
  });
});

describe('planAutotask: prices', () => {
  it('pushes SpinPanel’s price to the contract service and the adjustment when SpinPanel prices', () => {
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 5, '14.00')])),
      synced(3),
      noMapping(),
      settingsOf(),
    );
    expect(plan.ops.map((o) => o.kind)).toEqual(['setPrice', 'adjustUnits']);
    expect(plan.ops[0]!.data).toEqual({ contractId: 500, contractServiceId: 900, adjustedPrice: 14 });
    expect(plan.ops[1]!.data).toMatchObject({ adjustedUnitPrice: 14, adjustedUnitCost: 10 });
    expect(plan.recon[0]).toMatchObject({ action: 'increase', unitPriceBefore: 12.5, unitPriceAfter: 14 });
  });

  it('applies the service mark-up to cost instead of SpinPanel’s price when one is set', () => {
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 3)])),
      synced(3),
      noMapping(),
      settingsOf({ serviceMarkupPercent: 30 }),
    );
    expect(plan.ops).toEqual([
      expect.objectContaining({ kind: 'setPrice', data: expect.objectContaining({ adjustedPrice: 13 }) }),
    ]);
    expect(plan.recon[0]!.action).toBe('price');
  });

  it('leaves Autotask’s prices alone when the customer’s prices come from the target', () => {
    const target = customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 5, '99.00')], {
      pricingSource: 'target',
    });
    const plan = planAutotask(desired(target), synced(3), noMapping(), settingsOf());
    expect(plan.ops.map((o) => o.kind)).toEqual(['adjustUnits']);
    expect(plan.ops[0]!.data).not.toHaveProperty('adjustedUnitPrice');
    expect(plan.ops[0]!.data).not.toHaveProperty('adjustedUnitCost');
    const overridden = planAutotask(
      desired(target),
      synced(3),
      noMapping(),
      settingsOf({ pricingSource: 'spinpanel' }),
    );
    expect(byKind(overridden.ops, 'setPrice')).toHaveLength(1);
  });

  it('compares the customer-currency price only, never the internal-currency one', () => {
    // The MSP bills in GBP internally; Autotask's internal price differs, the customer's EUR price does not.
    const st = synced(3, {
      contractServices: [
        {
          ...cs(900, 500, 1, 11, 12.5),
          internalCurrencyUnitPrice: 9.4,
          internalCurrencyAdjustedPrice: 10.69,
        },
      ],
    });
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 3, '12.5000')])),
      st,
      noMapping(),
      settingsOf(),
    );
    expect(plan.ops).toEqual([]);
    expect(plan.recon[0]).toMatchObject({ action: 'unchanged', unitPriceBefore: 12.5 });
  });

  it('does not push a price SpinPanel gives in another currency, and says so', () => {
    const usd = { ...line('p-e3', 'Microsoft 365 E3', 3), unitPrice: money('15.00', 'USD') };
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [usd])),
      synced(3),
      noMapping(),
      settingsOf(),
    );
    expect(plan.ops).toEqual([]);
    expect(plan.notices).toContainEqual(expect.objectContaining({ kind: 'currency', customerId: 'c1' }));
  });
});

describe('planAutotask: usage and state', () => {
  it('plans a usage charge on the customer’s contract, creating the contract when needed', () => {
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
            cost: money('10.00'),
            price: null,
          },
        ],
      },
    ];
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [], { usage })),
      state({ charges: [] }),
      noMapping(),
      settingsOf({ azureBillingCodeId: 29682802, productMarkupPercent: 20 }),
    );
    expect(plan.ops.map((o) => o.kind)).toEqual(['createContract', 'postCharge']);
    expect(plan.ops[1]).toMatchObject({
      needs: ['contract:c1'],
      data: { contractId: { ref: 'contract:c1' }, body: { unitPrice: 12, datePurchased: '2025-03-01' } },
    });
    expect(plan.usage).toEqual([
      expect.objectContaining({ period: '2025-02', action: 'post', opKeys: [plan.ops[1]!.key] }),
    ]);
  });

  it('refuses a state that readState did not make', () => {
    expect(() => assertAutotaskState({ companies: [] })).toThrow(/readState/);
    expect(() => assertAutotaskState(state())).not.toThrow();
  });
});
