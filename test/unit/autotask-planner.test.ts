import { describe, expect, it } from 'vitest';
import { type AutotaskState, planAutotask, SERVICE_MARKER } from '../../connectors/autotask/planner.ts';
import { AutotaskSettings, type Company, type Service } from '../../connectors/autotask/schemas.ts';
import type {
  DesiredCustomer,
  DesiredLine,
  DesiredState,
  LinkMapping,
  PlanOp,
} from '../../connectors/types.ts';

const settings = AutotaskSettings.parse({ serviceBillingCodeId: 29682801 });
const DATE = '2025-03-10';
const UNITS_DATE = '2025-03-17';

const line = (productId: string, productName: string, quantity: number, price = '10.50'): DesiredLine => ({
  productId,
  productName,
  quantity,
  unitPrice: { amount: price, currency: 'EUR' },
  unitCost: { amount: '8.00', currency: 'EUR' },
  subscriptionIds: [`sub-${productId}`],
});
const customer = (customerId: string, name: string, lines: DesiredLine[]): DesiredCustomer => ({
  customerId,
  name,
  microsoftTenantId: `tenant-${customerId}`,
  currency: 'EUR',
  lines,
});
const desired = (...customers: DesiredCustomer[]): DesiredState => ({
  accountId: 'acct-1',
  effectiveDate: DATE,
  customers,
});
const noMapping = (): LinkMapping => ({ customers: {}, products: {} });
const company = (id: number, companyName: string, isActive = true): Company => ({
  id,
  companyName,
  companyType: 1,
  isActive,
});
const service = (id: number, name: string, extra: Partial<Service> = {}): Service => ({
  id,
  name,
  unitPrice: 10.5,
  unitCost: 8,
  ...extra,
});
const emptyState = (over: Partial<AutotaskState> = {}): AutotaskState => ({
  unitsDate: UNITS_DATE,
  companies: [],
  contracts: [],
  services: [],
  contractServices: [],
  units: [],
  ...over,
});
const contract = (id: number, companyID: number, contractNumber: string | null) => ({
  id,
  companyID,
  contractNumber,
  contractName: 'x',
  contractType: 7,
  status: 1,
  startDate: '2025-03-01',
  endDate: '2026-02-28',
});
const cs = (id: number, contractID: number, serviceID: number) => ({
  id,
  contractID,
  serviceID,
  unitPrice: 10.5,
  unitCost: 8,
});
const unitsRow = (
  contractServiceID: number,
  units: number,
  startDate = '2025-03-01',
  endDate = '2025-03-31',
) => ({
  id: contractServiceID * 1000 + Number(startDate.slice(8)),
  contractID: 0,
  contractServiceID,
  serviceID: 0,
  startDate,
  endDate,
  units,
});

/** Contoso (company 100) on managed contract 500 with E3 (service 1, cs 900) and Teams (service 2, cs 901). */
function syncedState(e3Units: number, teamsUnits: number): AutotaskState {
  return emptyState({
    companies: [company(100, 'Contoso')],
    contracts: [contract(500, 100, 'SP-c1')],
    services: [service(1, 'Microsoft 365 E3'), service(2, 'Teams Essentials')],
    contractServices: [cs(900, 500, 1), cs(901, 500, 2)],
    units: [unitsRow(900, e3Units), unitsRow(901, teamsUnits)],
  });
}
const contoso = (e3: number, teams: number) =>
  customer('c1', 'Contoso', [
    line('p-e3', 'Microsoft 365 E3', e3),
    line('p-teams', 'Teams Essentials', teams),
  ]);

const kinds = (ops: PlanOp[]) => ops.map((o) => o.kind);
const adjustments = (ops: PlanOp[]) =>
  ops
    .filter((o) => o.kind === 'adjustUnits')
    .map((o) => o.data as { unitChange: number; targetUnits: number });

describe('planAutotask', () => {
  it('creates service, contract, contract service and adjustments on the first sync', () => {
    const plan = planAutotask(
      desired(contoso(10, 4)),
      emptyState({ companies: [company(100, 'Contoso')] }),
      noMapping(),
      settings,
    );
    expect(kinds(plan.ops)).toEqual([
      'createService',
      'createService',
      'createContract',
      'addContractService',
      'addContractService',
      'adjustUnits',
      'adjustUnits',
    ]);
    expect(plan.ops.map((o) => o.key)).toEqual([
      'service:p-e3',
      'service:p-teams',
      'contract:c1',
      'cs:c1:p-e3',
      'cs:c1:p-teams',
      `adj:c1:p-e3:${DATE}`,
      `adj:c1:p-teams:${DATE}`,
    ]);
    const contractOp = plan.ops[2]!;
    expect(contractOp.data).toMatchObject({
      body: {
        contractNumber: 'SP-c1',
        companyID: 100,
        contractType: 7,
        startDate: '2025-03-01',
        endDate: '2026-02-28',
      },
    });
    const csOp = plan.ops[3]!;
    expect(csOp.needs).toEqual(['contract:c1', 'service:p-e3']);
    expect(csOp.data).toMatchObject({
      contractId: { ref: 'contract:c1' },
      serviceId: { ref: 'service:p-e3' },
    });
    const adj = plan.ops[5]!;
    expect(adj.needs).toEqual(['contract:c1', 'cs:c1:p-e3', 'service:p-e3']);
    expect(adj.data).toMatchObject({
      contractServiceId: { ref: 'cs:c1:p-e3' },
      unitChange: 10,
      targetUnits: 10,
      effectiveDate: DATE,
      adjustedUnitPrice: 10.5,
      adjustedUnitCost: 8,
    });
    expect(adjustments(plan.ops).map((a) => a.unitChange)).toEqual([10, 4]);
    expect(plan.unmapped).toEqual([]);
    expect(plan.recon).toEqual([
      expect.objectContaining({
        productId: 'p-e3',
        spinpanelSeats: 10,
        targetUnitsBefore: null,
        targetUnitsAfter: 10,
      }),
      expect.objectContaining({
        productId: 'p-teams',
        spinpanelSeats: 4,
        targetUnitsBefore: null,
        targetUnitsAfter: 4,
      }),
    ]);
  });

  it('plans nothing when Autotask already matches', () => {
    const plan = planAutotask(desired(contoso(10, 4)), syncedState(10, 4), noMapping(), settings);
    expect(plan.ops).toEqual([]);
    expect(plan.recon.map((r) => [r.targetUnitsBefore, r.targetUnitsAfter])).toEqual([
      [10, 10],
      [4, 4],
    ]);
  });

  it('posts exactly the deltas of +3 and −2', () => {
    const plan = planAutotask(desired(contoso(13, 2)), syncedState(10, 4), noMapping(), settings);
    expect(kinds(plan.ops)).toEqual(['adjustUnits', 'adjustUnits']);
    expect(plan.ops.map((o) => o.data)).toEqual([
      expect.objectContaining({
        contractId: 500,
        contractServiceId: 900,
        serviceId: 1,
        unitChange: 3,
        targetUnits: 13,
      }),
      expect.objectContaining({
        contractId: 500,
        contractServiceId: 901,
        serviceId: 2,
        unitChange: -2,
        targetUnits: 2,
      }),
    ]);
    expect(plan.ops.every((o) => o.needs?.length === 0)).toBe(true);
  });

  it('reads current units from the row covering effective date + 7 days', () => {
    // The March 10 row already carries an adjustment a same-day earlier run posted (shifted to the 12th).
    const state = syncedState(10, 4);
    state.units = [
      unitsRow(900, 10, '2025-03-01', '2025-03-11'),
      unitsRow(900, 13, '2025-03-12', '2025-03-31'),
      unitsRow(901, 4),
      unitsRow(900, 99, '2025-04-01', '2025-04-30'),
    ];
    const plan = planAutotask(desired(contoso(13, 4)), state, noMapping(), settings);
    expect(plan.ops).toEqual([]);
  });

  it('retires a product no longer wanted to 0 on the managed contract', () => {
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 10)])),
      syncedState(10, 4),
      noMapping(),
      settings,
    );
    expect(plan.ops).toHaveLength(1);
    expect(plan.ops[0]).toMatchObject({
      kind: 'adjustUnits',
      data: { contractServiceId: 901, serviceId: 2, unitChange: -4, targetUnits: 0 },
    });
    expect(plan.recon).toContainEqual(
      expect.objectContaining({
        productName: 'Teams Essentials',
        spinpanelSeats: 0,
        targetUnitsBefore: 4,
        targetUnitsAfter: 0,
      }),
    );
  });

  it('does not retire again what is already at 0', () => {
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 10)])),
      syncedState(10, 0),
      noMapping(),
      settings,
    );
    expect(plan.ops).toEqual([]);
  });

  it('on a mapped contract retires only SpinPanel services, never the MSP’s own', () => {
    const state = emptyState({
      companies: [company(100, 'Contoso')],
      contracts: [contract(700, 100, 'MSP-CONTRACT')],
      services: [
        service(1, 'Microsoft 365 E3'),
        service(3, 'Managed backup'),
        service(4, 'Old product', { description: `${SERVICE_MARKER}p-old` }),
      ],
      contractServices: [cs(910, 700, 1), cs(911, 700, 3), cs(912, 700, 4)],
      units: [unitsRow(910, 5), unitsRow(911, 20), unitsRow(912, 7)],
    });
    const mapping: LinkMapping = { customers: { c1: { contractId: 700 } }, products: {} };
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 5)])),
      state,
      mapping,
      settings,
    );
    expect(plan.ops).toHaveLength(1);
    expect(plan.ops[0]).toMatchObject({
      key: `adj:c1:p-old:${DATE}`,
      data: { contractServiceId: 912, unitChange: -7 },
    });
  });

  it('honours explicit company, contract and service mappings over names', () => {
    const state = emptyState({
      companies: [company(100, 'Contoso'), company(200, 'Contoso Holding')],
      contracts: [contract(500, 100, 'SP-c1'), contract(800, 200, 'FRAME-1')],
      services: [service(1, 'Microsoft 365 E3'), service(77, 'M365 E3 (our name)')],
      contractServices: [cs(920, 800, 77)],
      units: [unitsRow(920, 6)],
    });
    const mapping: LinkMapping = {
      customers: { c1: { companyId: 200, contractId: '800' } },
      products: { 'p-e3': { serviceId: 77 } },
    };
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 9)])),
      state,
      mapping,
      settings,
    );
    expect(plan.ops).toHaveLength(1);
    expect(plan.ops[0]).toMatchObject({
      data: { contractId: 800, contractServiceId: 920, serviceId: 77, unitChange: 3 },
    });
  });

  it('reports customers it cannot map, and never guesses', () => {
    const state = emptyState({
      companies: [
        company(1, 'Twins Ltd'),
        company(2, 'Twins Ltd'),
        company(3, 'Dormant Inc', false),
        company(4, 'contoso'),
        company(5, 'Fabrikam'),
      ],
      contracts: [contract(600, 5, null)],
    });
    const mapping: LinkMapping = {
      customers: {
        ghost: { companyId: 999 },
        fab: { contractId: 600 },
        mis: { companyId: 5, contractId: 12345 },
      },
      products: {},
    };
    const lines = [line('p-e3', 'Microsoft 365 E3', 1)];
    const plan = planAutotask(
      desired(
        customer('c1', 'Contoso', lines),
        customer('tw', 'Twins Ltd', lines),
        customer('do', 'Dormant Inc', lines),
        customer('ghost', 'Ghost', lines),
        customer('fab', 'Fabrikam', lines),
        customer('mis', 'Fabrikam', lines),
      ),
      state,
      mapping,
      settings,
    );
    expect(plan.unmapped).toEqual([
      { customerId: 'c1', name: 'Contoso', reason: expect.stringContaining('no company named "Contoso"') },
      {
        customerId: 'tw',
        name: 'Twins Ltd',
        reason: expect.stringContaining('2 companies named "Twins Ltd"'),
      },
      { customerId: 'do', name: 'Dormant Inc', reason: expect.stringContaining('no company named') },
      { customerId: 'ghost', name: 'Ghost', reason: expect.stringContaining('company 999') },
      { customerId: 'mis', name: 'Fabrikam', reason: expect.stringContaining('contract 12345') },
    ]);
    // Only Fabrikam (mapped contract 600, company found by name) gets ops.
    expect(new Set(plan.ops.map((o) => o.customerId).filter(Boolean))).toEqual(new Set(['fab']));
  });

  it('refuses a mapped contract that belongs to another company', () => {
    const state = emptyState({
      companies: [company(100, 'Contoso')],
      contracts: [contract(600, 42, 'X')],
    });
    const plan = planAutotask(
      desired(contoso(1, 1)),
      state,
      { customers: { c1: { contractId: 600 } }, products: {} },
      settings,
    );
    expect(plan.ops).toEqual([]);
    expect(plan.unmapped[0]?.reason).toContain('belongs to company 42');
  });

  it('creates one service per product, shared by every customer', () => {
    const state = emptyState({ companies: [company(100, 'Contoso'), company(101, 'Fabrikam')] });
    const plan = planAutotask(
      desired(
        customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 2)]),
        customer('c2', 'Fabrikam', [line('p-e3', 'Microsoft 365 E3', 3)]),
      ),
      state,
      noMapping(),
      settings,
    );
    expect(plan.ops.filter((o) => o.kind === 'createService').map((o) => o.key)).toEqual(['service:p-e3']);
    expect(plan.ops.filter((o) => o.kind === 'createContract')).toHaveLength(2);
    expect(adjustments(plan.ops).map((a) => a.unitChange)).toEqual([2, 3]);
  });

  it('merges deltas for one contract service and date into one adjustment', () => {
    // Two SpinPanel products billed as one Autotask service; two customers sharing one contract.
    const state = emptyState({
      companies: [company(100, 'Contoso'), company(101, 'Contoso Branch')],
      contracts: [contract(700, 100, 'FRAME')],
      services: [service(1, 'Microsoft 365')],
      contractServices: [cs(930, 700, 1)],
      units: [unitsRow(930, 5)],
    });
    const mapping: LinkMapping = {
      customers: { c1: { contractId: 700 }, c2: { companyId: 100, contractId: 700 } },
      products: { 'p-e3': { serviceId: 1 }, 'p-e5': { serviceId: 1 } },
    };
    const plan = planAutotask(
      desired(
        customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 4), line('p-e5', 'Microsoft 365 E5', 2)]),
        customer('c2', 'Contoso Branch', [line('p-e3', 'Microsoft 365 E3', 3)]),
      ),
      state,
      mapping,
      settings,
    );
    expect(kinds(plan.ops)).toEqual(['adjustUnits']);
    expect(plan.ops[0]).toMatchObject({
      key: `adj:c1:p-e3:${DATE}`,
      data: { unitChange: 4, targetUnits: 9 },
    });
    expect(new Set(plan.ops.map((o) => o.key)).size).toBe(plan.ops.length);
  });

  it('leaves a shared contract alone when a customer mapped to it is not planned (opted out, unmapped…)', () => {
    // c2's seats are on contract 700 too: planning it from c1's lines alone would take 3 of c2's 5 units away.
    const state = emptyState({
      companies: [company(100, 'Contoso')],
      contracts: [contract(700, 100, 'FRAME')],
      services: [service(1, 'Microsoft 365 E3')],
      contractServices: [cs(930, 700, 1)],
      units: [unitsRow(930, 5)],
    });
    const mapping: LinkMapping = {
      customers: { c1: { contractId: 700 }, c2: { companyId: 100, contractId: 700 } },
      products: { 'p-e3': { serviceId: 1 } },
    };
    const c1 = customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 2)]);
    const alone = planAutotask(desired(c1), state, mapping, settings);
    expect(alone.ops).toEqual([]);
    expect(alone.recon).toEqual([]);
    expect(alone.unmapped).toEqual([
      { customerId: 'c1', name: 'Contoso', reason: expect.stringContaining('shared with customer c2') },
    ]);
    const c2 = customer('c2', 'Contoso Branch', [line('p-e3', 'Microsoft 365 E3', 3)]);
    expect(adjustments(planAutotask(desired(c1, c2), state, mapping, settings).ops)).toEqual([]);
    // Planned but unmapped itself (its company is gone): its lines are not on the plan either.
    const gone: LinkMapping = {
      ...mapping,
      customers: { ...mapping.customers, c2: { companyId: 999, contractId: 700 } },
    };
    const unmapped = planAutotask(desired(c1, c2), state, gone, settings);
    expect(unmapped.ops).toEqual([]);
    expect(unmapped.unmapped.map((u) => [u.customerId, u.reason])).toEqual([
      ['c2', expect.stringContaining('company 999')],
      ['c1', expect.stringContaining('shared with customer c2')],
    ]);
  });

  it('reports an ambiguous service name and then retires nothing for that customer', () => {
    const state = syncedState(10, 4);
    state.services.push(service(3, 'microsoft 365 e3'));
    const plan = planAutotask(desired(contoso(12, 4)), state, noMapping(), settings);
    expect(plan.unmapped).toEqual([
      { customerId: 'c1', name: 'Contoso', reason: expect.stringContaining('2 Autotask services named') },
    ]);
    expect(plan.ops).toEqual([]);
  });

  it('matches services by name regardless of case, as Autotask does', () => {
    const state = syncedState(10, 4);
    state.services[0] = service(1, 'MICROSOFT 365 E3');
    const plan = planAutotask(desired(contoso(10, 4)), state, noMapping(), settings);
    expect(plan.ops).toEqual([]);
  });

  it('creates nothing for a product at 0 seats that is not on the contract', () => {
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-x', 'Visio Plan 2', 0)])),
      emptyState({ companies: [company(100, 'Contoso')] }),
      noMapping(),
      settings,
    );
    expect(plan.ops).toEqual([]);
    expect(plan.recon).toEqual([expect.objectContaining({ targetUnitsBefore: null, targetUnitsAfter: 0 })]);
  });

  it('keeps op keys stable across runs', () => {
    const state = emptyState({ companies: [company(100, 'Contoso')] });
    const a = planAutotask(desired(contoso(3, 1)), state, noMapping(), settings);
    const b = planAutotask(desired(contoso(3, 1)), structuredClone(state), noMapping(), settings);
    expect(a).toEqual(b);
  });
});
