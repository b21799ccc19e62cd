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
import { lineKey } from '../../src/billing/desired.ts';
import { emptyLedger, type Ledger, type LedgerLine, type Period } from '../../src/billing/types.ts';

const settings = AutotaskSettings.parse({ serviceBillingCodeId: 29682801 });
const DATE = '2025-03-10';
/** As a live tenant lists them: 2 Monthly, 5 Yearly. */
const PERIOD_TYPES = { month: 2, year: 5 };

const line = (
  productId: string,
  productName: string,
  quantity: number,
  price = '10.50',
  period: Period = 'month',
): DesiredLine => ({
  key: lineKey(productId, period, price),
  productId,
  productName,
  period,
  quantity,
  unitPrice: { amount: price, currency: 'EUR' },
  unitCost: { amount: '8.00', currency: 'EUR' },
  subscriptionIds: [`sub-${productId}-${period}-${price}`],
});
const customer = (
  customerId: string,
  name: string,
  lines: DesiredLine[],
  over: Partial<DesiredCustomer> = {},
): DesiredCustomer => ({
  customerId,
  name,
  microsoftTenantId: `tenant-${customerId}`,
  currency: 'EUR',
  lines,
  ...over,
});
const desired = (...customers: DesiredCustomer[]): DesiredState => ({
  accountId: 'acct-1',
  today: DATE,
  timeZone: 'UTC',
  policy: 'change-date',
  effectiveDate: DATE,
  customers,
});
const noMapping = (): LinkMapping => ({ customers: {}, products: {} });
const company = (id: number, companyName: string, isActive = true, companyType = 1): Company => ({
  id,
  companyName,
  companyType,
  isActive,
});
const service = (id: number, name: string, extra: Partial<Service> = {}): Service => ({
  id,
  name,
  unitPrice: 10.5,
  unitCost: 8,
  periodType: PERIOD_TYPES.month,
  ...extra,
});
const emptyState = (over: Partial<AutotaskState> = {}): AutotaskState => ({
  today: DATE,
  periodTypes: PERIOD_TYPES,
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
const cs = (id: number, contractID: number, serviceID: number, unitPrice = 10.5) => ({
  id,
  contractID,
  serviceID,
  unitPrice,
  unitCost: 8,
});
const unitsRow = (
  contractServiceID: number,
  units: number,
  startDate = '2025-03-01',
  endDate = '2025-03-31',
) => ({
  id: contractServiceID * 1000 + Number(startDate.slice(5, 7)) * 40 + Number(startDate.slice(8)),
  contractID: 0,
  contractServiceID,
  serviceID: 0,
  startDate,
  endDate,
  units,
});
const ledgerOf = (over: Partial<Ledger> = {}): Ledger => ({ ...emptyLedger(), ...over });
const own = (
  customerId: string,
  productId: string,
  container: number,
  period: Period = 'month',
): LedgerLine => ({
  customerId,
  productId,
  period,
  container,
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
/** What the ledger holds once a run made syncedState: both lines, both services, the contract, the company. */
const syncedLedger = (): Ledger =>
  ledgerOf({
    items: { 'p-e3|month': 1, 'p-teams|month': 2 },
    parties: { c1: 100 },
    containers: { c1: 500 },
    lines: { '900': own('c1', 'p-e3', 500), '901': own('c1', 'p-teams', 500) },
  });
const contoso = (e3: number, teams: number) =>
  customer('c1', 'Contoso', [
    line('p-e3', 'Microsoft 365 E3', e3),
    line('p-teams', 'Teams Essentials', teams),
  ]);

const kinds = (ops: PlanOp[]) => ops.map((o) => o.kind);
const adjustments = (ops: PlanOp[]) =>
  ops
    .filter((o) => o.kind === 'adjustUnits')
    .map((o) => o.data as { contractServiceId: unknown; unitChange: number; targetUnits: number });
/** Contract services some op of the plan writes to. */
const touched = (ops: PlanOp[]) =>
  ops
    .map((o) => (o.data as { contractServiceId?: unknown }).contractServiceId)
    .filter((id) => id !== undefined);

describe('planAutotask', () => {
  it('creates service, contract, contract service and adjustments on the first sync, each recording what it made', () => {
    const plan = planAutotask(
      desired(contoso(10, 4)),
      emptyState({ companies: [company(100, 'Contoso')] }),
      noMapping(),
      settings,
      emptyLedger(),
    );
    const csE3 = 'cs:new:c1|service:p-e3';
    const csTeams = 'cs:new:c1|service:p-teams';
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
      csE3,
      csTeams,
      `adj:new:c1|service:p-e3:${DATE}`,
      `adj:new:c1|service:p-teams:${DATE}`,
    ]);
    expect(plan.ops[0]).toMatchObject({
      data: {
        productId: 'p-e3',
        body: { name: 'Microsoft 365 E3', periodType: 2, unitPrice: 10.5, unitCost: 8 },
      },
      ledger: [{ kind: 'item', productId: 'p-e3', period: 'month', id: { ref: 'service:p-e3' } }],
    });
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
    expect(contractOp.ledger).toEqual([{ kind: 'container', customerId: 'c1', id: { ref: 'contract:c1' } }]);
    const csOp = plan.ops[3]!;
    expect(csOp.needs).toEqual(['contract:c1', 'service:p-e3']);
    expect(csOp.data).toEqual({
      contractId: { ref: 'contract:c1' },
      serviceId: { ref: 'service:p-e3' },
      unitPrice: 10.5,
      unitCost: 8,
      invoiceDescription: 'Microsoft 365 E3',
    });
    expect(csOp.ledger).toEqual([
      {
        kind: 'line',
        id: { ref: csE3 },
        line: { customerId: 'c1', productId: 'p-e3', period: 'month', container: { ref: 'contract:c1' } },
      },
    ]);
    const adj = plan.ops[5]!;
    expect(adj.needs).toEqual(['contract:c1', csE3, 'service:p-e3']);
    expect(adj.data).toEqual({
      contractId: { ref: 'contract:c1' },
      contractServiceId: { ref: csE3 },
      serviceId: { ref: 'service:p-e3' },
      unitChange: 10,
      targetUnits: 10,
      effectiveDate: DATE,
      readDate: DATE,
      adjustedUnitPrice: 10.5,
      adjustedUnitCost: 8,
    });
    expect(adj.ledger).toEqual([{ kind: 'adjustment', lineId: { ref: csE3 }, day: DATE }]);
    expect(adjustments(plan.ops).map((a) => a.unitChange)).toEqual([10, 4]);
    expect(plan.unmapped).toEqual([]);
    // The match is recorded whatever the ops' outcomes.
    expect(plan.ledger).toEqual([{ kind: 'party', customerId: 'c1', id: 100 }]);
    expect(plan.recon).toEqual([
      {
        customerId: 'c1',
        customerName: 'Contoso',
        productId: 'p-e3',
        productName: 'Microsoft 365 E3',
        period: 'month',
        lineKey: 'p-e3|month|10.50',
        spinpanelSeats: 10,
        targetUnitsBefore: null,
        targetUnitsAfter: 10,
        targetCompany: { id: 100, name: 'Contoso' },
        action: 'add',
        unitPriceBefore: null,
        unitPriceAfter: 10.5,
        effectiveDate: DATE,
        opKeys: [csE3, `adj:new:c1|service:p-e3:${DATE}`],
      },
      expect.objectContaining({
        productId: 'p-teams',
        spinpanelSeats: 4,
        targetUnitsBefore: null,
        targetUnitsAfter: 4,
        action: 'add',
      }),
    ]);
  });

  it('plans nothing when Autotask already matches', () => {
    const plan = planAutotask(
      desired(contoso(10, 4)),
      syncedState(10, 4),
      noMapping(),
      settings,
      syncedLedger(),
    );
    expect(plan.ops).toEqual([]);
    expect(plan.ledger).toEqual([]);
    expect(plan.recon.map((r) => [r.targetUnitsBefore, r.targetUnitsAfter, r.action])).toEqual([
      [10, 10, 'unchanged'],
      [4, 4, 'unchanged'],
    ]);
  });

  it('posts exactly the deltas of +3 and −2, dated today', () => {
    const plan = planAutotask(
      desired(contoso(13, 2)),
      syncedState(10, 4),
      noMapping(),
      settings,
      syncedLedger(),
    );
    expect(kinds(plan.ops)).toEqual(['adjustUnits', 'adjustUnits']);
    expect(plan.ops.map((o) => o.key)).toEqual([`adj:id:500|id:1:${DATE}`, `adj:id:500|id:2:${DATE}`]);
    expect(plan.ops.map((o) => o.data)).toEqual([
      expect.objectContaining({
        contractId: 500,
        contractServiceId: 900,
        serviceId: 1,
        unitChange: 3,
        targetUnits: 13,
        effectiveDate: DATE,
      }),
      expect.objectContaining({
        contractId: 500,
        contractServiceId: 901,
        serviceId: 2,
        unitChange: -2,
        targetUnits: 2,
        effectiveDate: DATE,
      }),
    ]);
    expect(plan.ops.every((o) => o.needs?.length === 0)).toBe(true);
    // Lines the ledger already owns only get the day of the change recorded.
    expect(plan.ops.map((o) => o.ledger)).toEqual([
      [{ kind: 'adjustment', lineId: 900, day: DATE }],
      [{ kind: 'adjustment', lineId: 901, day: DATE }],
    ]);
    expect(plan.recon.map((r) => r.action)).toEqual(['increase', 'decrease']);
  });

  it('takes over a line of its managed contract that the ledger does not know yet, recording it with the change', () => {
    const plan = planAutotask(
      desired(contoso(13, 4)),
      syncedState(10, 4),
      noMapping(),
      settings,
      emptyLedger(),
    );
    expect(plan.ops).toEqual([
      expect.objectContaining({
        kind: 'adjustUnits',
        data: expect.objectContaining({ contractServiceId: 900, unitChange: 3 }),
        ledger: [{ kind: 'adjustment', lineId: 900, day: DATE }],
      }),
    ]);
    // The take-over is the plan's, recorded whatever the op's outcome.
    expect(plan.ledger).toContainEqual({
      kind: 'line',
      id: 900,
      line: { customerId: 'c1', productId: 'p-e3', period: 'month', container: 500 },
    });
  });

  // A line of the sync's managed contract that the ledger does not know (made before the ledger existed) and
  // that needs no change is recorded too, so when its customer cancels the product later it is retired.
  it('records a line of its managed contract it takes over even when nothing about it changes', () => {
    const plan = planAutotask(
      desired(contoso(10, 4)),
      syncedState(10, 4),
      noMapping(),
      settings,
      emptyLedger(),
    );
    expect(plan.ops).toEqual([]);
    const recorded = [...plan.ops.flatMap((o) => o.ledger ?? []), ...(plan.ledger ?? [])];
    expect(recorded).toContainEqual(
      expect.objectContaining({
        kind: 'line',
        id: 900,
        line: expect.objectContaining({ productId: 'p-e3' }),
      }),
    );
  });

  it('reads the units in effect today: where a change split today, the row starting today', () => {
    // Replaces "reads current units from the row covering effective date + 7 days": nothing is dated after today.
    const state = syncedState(10, 4);
    state.units = [
      unitsRow(900, 10, '2025-03-01', '2025-03-09'),
      unitsRow(900, 13, '2025-03-10', '2025-03-31'),
      unitsRow(901, 4),
      unitsRow(900, 99, '2025-04-01', '2025-04-30'),
    ];
    const same = planAutotask(desired(contoso(13, 4)), state, noMapping(), settings, syncedLedger());
    expect(same.ops).toEqual([]);
    expect(same.recon[0]).toMatchObject({ targetUnitsBefore: 13, action: 'unchanged' });
    // A further change the same day waits for the next day's run.
    const again = planAutotask(desired(contoso(15, 4)), state, noMapping(), settings, syncedLedger());
    expect(again.ops).toEqual([]);
    expect(again.recon[0]).toMatchObject({
      targetUnitsBefore: 13,
      targetUnitsAfter: 13,
      spinpanelSeats: 15,
      action: 'pending',
      reason: expect.stringContaining(`already dated ${DATE}`),
    });
  });

  it('retires a product no longer wanted that the ledger says is the customer’s', () => {
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 10)])),
      syncedState(10, 4),
      noMapping(),
      settings,
      syncedLedger(),
    );
    expect(plan.ops).toHaveLength(1);
    expect(plan.ops[0]).toMatchObject({
      kind: 'adjustUnits',
      key: `adj:id:500|id:2:${DATE}`,
      data: { contractServiceId: 901, serviceId: 2, unitChange: -4, targetUnits: 0, effectiveDate: DATE },
    });
    expect(plan.recon).toContainEqual(
      expect.objectContaining({
        productId: 'p-teams',
        productName: 'Teams Essentials',
        spinpanelSeats: 0,
        targetUnitsBefore: 4,
        targetUnitsAfter: 0,
        action: 'retire',
      }),
    );
  });

  it('retires nothing the ledger does not own, even on its managed contract (was: any unwanted service there)', () => {
    const ledger = syncedLedger();
    delete ledger.lines['901'];
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 10)])),
      syncedState(10, 4),
      noMapping(),
      settings,
      ledger,
    );
    expect(plan.ops).toEqual([]);
    expect(plan.recon.map((r) => r.productId)).toEqual(['p-e3']);
  });

  it('does not retire again what is already at 0', () => {
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 10)])),
      syncedState(10, 0),
      noMapping(),
      settings,
      syncedLedger(),
    );
    expect(plan.ops).toEqual([]);
  });

  it('on a mapped contract retires only what the ledger owns: not the MSP’s own, not a marked service it does not own', () => {
    // Was: the SpinPanel-marked "Old product" was retired because of its marker alone.
    const state = emptyState({
      companies: [company(100, 'Contoso')],
      contracts: [contract(700, 100, 'MSP-CONTRACT')],
      services: [
        service(1, 'Microsoft 365 E3', { description: `${SERVICE_MARKER}p-e3` }),
        service(3, 'Managed backup'),
        service(4, 'Old product', { description: `${SERVICE_MARKER}p-old` }),
      ],
      contractServices: [cs(910, 700, 1), cs(911, 700, 3), cs(912, 700, 4)],
      units: [unitsRow(910, 5), unitsRow(911, 20), unitsRow(912, 7)],
    });
    const mapping: LinkMapping = { customers: { c1: { contractId: 700 } }, products: {} };
    const d = desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 5)]));
    expect(planAutotask(d, state, mapping, settings, emptyLedger()).ops).toEqual([]);
    const ledger = ledgerOf({ lines: { '912': own('c1', 'p-old', 700) } });
    const plan = planAutotask(d, state, mapping, settings, ledger);
    expect(plan.ops).toHaveLength(1);
    expect(plan.ops[0]).toMatchObject({
      key: `adj:id:700|id:4:${DATE}`,
      data: { contractId: 700, contractServiceId: 912, unitChange: -7, targetUnits: 0 },
    });
    expect(plan.recon.find((r) => r.action === 'retire')).toMatchObject({
      productId: 'p-old',
      productName: 'Old product',
      targetUnitsBefore: 7,
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
      emptyLedger(),
    );
    expect(plan.ops).toHaveLength(1);
    expect(plan.ops[0]).toMatchObject({
      data: { contractId: 800, contractServiceId: 920, serviceId: 77, unitChange: 3 },
      ledger: [{ kind: 'adjustment', lineId: 920, day: DATE }],
    });
    // The mapped service is the sync's for the product: its line is taken over.
    expect(plan.ledger).toEqual([
      { kind: 'party', customerId: 'c1', id: 200 },
      {
        kind: 'line',
        id: 920,
        line: { customerId: 'c1', productId: 'p-e3', period: 'month', container: 800 },
      },
    ]);
  });

  it('reports customers it cannot map, with close names, and never guesses (a name differing only in case now matches)', () => {
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
      emptyLedger(),
    );
    expect(plan.unmapped).toEqual([
      {
        customerId: 'tw',
        name: 'Twins Ltd',
        reason: '2 Autotask company records named "Twins Ltd"; map the customer to one',
        suggestions: [
          { id: 1, name: 'Twins Ltd', score: 1 },
          { id: 2, name: 'Twins Ltd', score: 1 },
        ],
      },
      {
        customerId: 'do',
        name: 'Dormant Inc',
        reason: 'no active customer Autotask company named "Dormant Inc"; map the customer',
      },
      { customerId: 'ghost', name: 'Ghost', reason: 'Autotask company 999 (mapped) does not exist' },
      { customerId: 'mis', name: 'Fabrikam', reason: 'Autotask contract 12345 (mapped) does not exist' },
    ]);
    // Contoso matches "contoso" (names compare case-insensitively); Fabrikam gets mapped contract 600.
    expect(new Set(plan.ops.map((o) => o.customerId).filter(Boolean))).toEqual(new Set(['c1', 'fab']));
    expect(plan.ops.find((o) => o.kind === 'createContract')!.data).toMatchObject({ body: { companyID: 4 } });
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
      emptyLedger(),
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
      emptyLedger(),
    );
    expect(plan.ops.filter((o) => o.kind === 'createService').map((o) => o.key)).toEqual(['service:p-e3']);
    expect(plan.ops.filter((o) => o.kind === 'createContract')).toHaveLength(2);
    expect(adjustments(plan.ops).map((a) => a.unitChange)).toEqual([2, 3]);
  });

  it('merges the seats of every line on one contract service into one adjustment', () => {
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
      emptyLedger(),
    );
    expect(kinds(plan.ops)).toEqual(['adjustUnits']);
    expect(plan.ops[0]).toMatchObject({
      key: `adj:id:700|id:1:${DATE}`,
      data: { contractServiceId: 930, unitChange: 4, targetUnits: 9 },
    });
    // One report line per contributing customer line, all pointing at the one op.
    expect(
      plan.recon.map((r) => [r.customerId, r.lineKey, r.productName, r.spinpanelSeats, r.action, r.opKeys]),
    ).toEqual([
      ['c1', 'p-e3|month|10.50', 'Microsoft 365 E3', 4, 'increase', [plan.ops[0]!.key]],
      ['c1', 'p-e5|month|10.50', 'Microsoft 365 E5', 2, 'increase', [plan.ops[0]!.key]],
      ['c2', 'p-e3|month|10.50', 'Microsoft 365 E3', 3, 'increase', [plan.ops[0]!.key]],
    ]);
  });

  // BUG (src/billing/lines.ts, reconOf): every contributor's report line takes `productId` from the change
  // (the first line's product), so c1's E5 line is reported as p-e3 next to its E5 name and p-e5 line key.
  it('reports each contributing line under its own product id when two products share a service', () => {
    const state = emptyState({
      companies: [company(100, 'Contoso')],
      contracts: [contract(700, 100, 'FRAME')],
      services: [service(1, 'Microsoft 365')],
      contractServices: [cs(930, 700, 1)],
      units: [unitsRow(930, 5)],
    });
    const mapping: LinkMapping = {
      customers: { c1: { contractId: 700 } },
      products: { 'p-e3': { serviceId: 1 }, 'p-e5': { serviceId: 1 } },
    };
    const plan = planAutotask(
      desired(
        customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 4), line('p-e5', 'Microsoft 365 E5', 2)]),
      ),
      state,
      mapping,
      settings,
      emptyLedger(),
    );
    expect(plan.recon.map((r) => [r.productId, r.lineKey])).toEqual([
      ['p-e3', 'p-e3|month|10.50'],
      ['p-e5', 'p-e5|month|10.50'],
    ]);
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
    const alone = planAutotask(desired(c1), state, mapping, settings, emptyLedger());
    expect(alone.ops).toEqual([]);
    expect(alone.recon).toEqual([]);
    expect(alone.unmapped).toEqual([
      { customerId: 'c1', name: 'Contoso', reason: expect.stringContaining('shared with customer c2') },
    ]);
    const c2 = customer('c2', 'Contoso Branch', [line('p-e3', 'Microsoft 365 E3', 3)]);
    expect(adjustments(planAutotask(desired(c1, c2), state, mapping, settings, emptyLedger()).ops)).toEqual(
      [],
    );
    // Planned but unmapped itself (its company is gone): its lines are not on the plan either.
    const gone: LinkMapping = {
      ...mapping,
      customers: { ...mapping.customers, c2: { companyId: 999, contractId: 700 } },
    };
    const unmapped = planAutotask(desired(c1, c2), state, gone, settings, emptyLedger());
    expect(unmapped.ops).toEqual([]);
    expect(unmapped.unmapped.map((u) => [u.customerId, u.reason])).toEqual([
      ['c2', expect.stringContaining('company 999')],
      ['c1', expect.stringContaining('shared with customer c2')],
    ]);
  });

  it('reports an ambiguous service name and then retires nothing for that customer', () => {
    const state = syncedState(10, 4);
    state.services.push(service(3, 'microsoft 365 e3'));
    const ledger = ledgerOf({ lines: syncedLedger().lines });
    const plan = planAutotask(desired(contoso(12, 4)), state, noMapping(), settings, ledger);
    expect(plan.unmapped).toEqual([
      {
        customerId: 'c1',
        name: 'Contoso',
        reason: '2 Autotask services named "Microsoft 365 E3"; map product p-e3 to one',
      },
    ]);
    // cs 900 is the ledger's and not claimed by any line, yet it is not retired: E3 could not be resolved.
    expect(plan.ops).toEqual([]);
    // The service the ledger remembers for the product settles the name.
    const resolved = planAutotask(desired(contoso(12, 4)), state, noMapping(), settings, syncedLedger());
    expect(resolved.unmapped).toEqual([]);
    expect(adjustments(resolved.ops)).toEqual([
      expect.objectContaining({ contractServiceId: 900, unitChange: 2 }),
    ]);
  });

  it('matches services by name regardless of case, as Autotask does', () => {
    const state = syncedState(10, 4);
    state.services[0] = service(1, 'MICROSOFT 365 E3');
    const ledger = ledgerOf({ lines: syncedLedger().lines });
    const plan = planAutotask(desired(contoso(10, 4)), state, noMapping(), settings, ledger);
    expect(plan.ops).toEqual([]);
    expect(plan.unmapped).toEqual([]);
  });

  it('creates nothing for a product at 0 seats that is not on the contract', () => {
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-x', 'Visio Plan 2', 0)])),
      emptyState({ companies: [company(100, 'Contoso')] }),
      noMapping(),
      settings,
      emptyLedger(),
    );
    expect(plan.ops).toEqual([]);
    expect(plan.recon).toEqual([
      expect.objectContaining({ targetUnitsBefore: null, targetUnitsAfter: 0, action: 'unchanged' }),
    ]);
  });

  it('keeps op keys stable across runs and whatever order Autotask lists its records in', () => {
    const state = emptyState({ companies: [company(100, 'Contoso')] });
    const a = planAutotask(desired(contoso(3, 1)), state, noMapping(), settings, emptyLedger());
    const b = planAutotask(
      desired(contoso(3, 1)),
      structuredClone(state),
      noMapping(),
      settings,
      emptyLedger(),
    );
    expect(a).toEqual(b);
    const synced = syncedState(5, 2);
    const reversed: AutotaskState = {
      ...synced,
      services: [...synced.services].reverse(),
      contractServices: [...synced.contractServices].reverse(),
      units: [...synced.units].reverse(),
    };
    const x = planAutotask(desired(contoso(7, 1)), synced, noMapping(), settings, syncedLedger());
    const y = planAutotask(desired(contoso(7, 1)), reversed, noMapping(), settings, syncedLedger());
    expect(x.ops.length).toBe(2);
    expect(y).toEqual(x);
  });
});

describe('planAutotask: ownership (only what the ledger says is the sync’s is retired)', () => {
  /**
   * A (Contoso) on its managed contract 500 with E3 (cs 900, the ledger's); B (Fabrikam) on the MSP's own
   * contract 800, which also bills 7 E3 seats the MSP sells B by hand (cs 950, same service) and backup (951).
   */
  const twoCustomers = (e3: Partial<Service> = {}) =>
    emptyState({
      companies: [company(100, 'Contoso'), company(200, 'Fabrikam')],
      contracts: [contract(500, 100, 'SP-c1'), contract(800, 200, 'FAB-MSP')],
      services: [service(1, 'Microsoft 365 E3', e3), service(3, 'Managed backup')],
      contractServices: [cs(900, 500, 1), cs(950, 800, 1), cs(951, 800, 3)],
      units: [unitsRow(900, 10), unitsRow(950, 7), unitsRow(951, 3)],
    });
  const bOn800: LinkMapping = { customers: { c2: { contractId: 800 } }, products: {} };
  const aOwnsE3 = () =>
    ledgerOf({
      items: { 'p-e3|month': 1 },
      lines: { '900': own('c1', 'p-e3', 500) },
      parties: { c1: 100, c2: 200 },
    });

  it('the MSP’s own same-named line on customer B’s contract is untouched when A has the product', () => {
    const d = desired(
      customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 10)]),
      customer('c2', 'Fabrikam', [line('p-teams', 'Teams Essentials', 2)]),
    );
    for (const e3 of [{}, { description: `${SERVICE_MARKER}p-e3` }]) {
      const plan = planAutotask(d, twoCustomers(e3), bOn800, settings, aOwnsE3());
      // B's Teams goes on its contract; its 7 E3 seats and its backup stay as they are.
      expect(kinds(plan.ops)).toEqual(['createService', 'addContractService', 'adjustUnits']);
      expect(plan.ops[1]!.data).toMatchObject({ contractId: 800 });
      expect(touched(plan.ops)).not.toContain(950);
      expect(touched(plan.ops)).not.toContain(951);
      expect(plan.recon.filter((r) => r.customerId === 'c2').map((r) => r.productId)).toEqual(['p-teams']);
    }
  });

  it('A’s owned line is retired when A cancels even if nobody else has the product', () => {
    const d = desired(
      customer('c1', 'Contoso', []),
      customer('c2', 'Fabrikam', [line('p-teams', 'Teams Essentials', 2)]),
    );
    const plan = planAutotask(d, twoCustomers(), bOn800, settings, aOwnsE3());
    expect(adjustments(plan.ops)).toEqual([
      expect.objectContaining({ contractServiceId: 900, unitChange: -10, targetUnits: 0 }),
      expect.objectContaining({ unitChange: 2 }),
    ]);
    expect(plan.recon).toContainEqual(
      expect.objectContaining({
        customerId: 'c1',
        productId: 'p-e3',
        productName: 'Microsoft 365 E3',
        action: 'retire',
        targetUnitsBefore: 10,
        targetUnitsAfter: 0,
      }),
    );
    expect(touched(plan.ops)).not.toContain(950);
  });

  it('also retires an owned line on a contract the MSP mapped', () => {
    const state = emptyState({
      companies: [company(100, 'Contoso')],
      contracts: [contract(700, 100, 'FRAME')],
      services: [service(1, 'Microsoft 365 E3'), service(2, 'Teams Essentials')],
      contractServices: [cs(910, 700, 1), cs(911, 700, 2)],
      units: [unitsRow(910, 10), unitsRow(911, 3)],
    });
    const ledger = ledgerOf({ lines: { '910': own('c1', 'p-e3', 700), '911': own('c1', 'p-teams', 700) } });
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-teams', 'Teams Essentials', 3)])),
      state,
      { customers: { c1: { contractId: 700 } }, products: {} },
      settings,
      ledger,
    );
    expect(plan.ops).toEqual([
      expect.objectContaining({
        key: `adj:id:700|id:1:${DATE}`,
        data: expect.objectContaining({ contractServiceId: 910, unitChange: -10 }),
      }),
    ]);
  });

  it('leaves a line the ledger gives to a customer this run does not plan on the contract', () => {
    const ledger = syncedLedger();
    ledger.lines['901'] = own('c9', 'p-teams', 500);
    const plan = planAutotask(
      desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3', 10)])),
      syncedState(10, 4),
      noMapping(),
      settings,
      ledger,
    );
    expect(plan.ops).toEqual([]);
  });

  it('holds an existing line that is neither the ledger’s, on its managed contract, nor on its service', () => {
    const d = desired(customer('c2', 'Fabrikam', [line('p-e3', 'Microsoft 365 E3', 5)]));
    const plan = planAutotask(d, twoCustomers(), bOn800, settings, emptyLedger());
    expect(plan.ops).toEqual([]);
    expect(plan.recon).toEqual([
      expect.objectContaining({
        customerId: 'c2',
        productId: 'p-e3',
        action: 'held',
        targetUnitsBefore: 7,
        targetUnitsAfter: 7,
        reason: expect.stringContaining('not made by the sync'),
      }),
    ]);
    expect(plan.notices).toContainEqual(expect.objectContaining({ kind: 'not-owned', customerId: 'c2' }));
  });

  it('adjusts and takes over such a line when its service is the sync’s: by marker, mapping or ledger', () => {
    const d = desired(customer('c2', 'Fabrikam', [line('p-e3', 'Microsoft 365 E3', 5)]));
    const variants: [Partial<Service>, LinkMapping, Ledger][] = [
      [{ description: `${SERVICE_MARKER}p-e3` }, bOn800, emptyLedger()],
      [{}, { ...bOn800, products: { 'p-e3': { serviceId: 1 } } }, emptyLedger()],
      [{}, bOn800, ledgerOf({ items: { 'p-e3|month': 1 } })],
    ];
    for (const [e3, mapping, ledger] of variants) {
      const plan = planAutotask(d, twoCustomers(e3), mapping, settings, ledger);
      expect(plan.ops).toEqual([
        expect.objectContaining({
          kind: 'adjustUnits',
          data: expect.objectContaining({ contractId: 800, contractServiceId: 950, unitChange: -2 }),
          ledger: [{ kind: 'adjustment', lineId: 950, day: DATE }],
        }),
      ]);
      expect(plan.ledger).toContainEqual({
        kind: 'line',
        id: 950,
        line: { customerId: 'c2', productId: 'p-e3', period: 'month', container: 800 },
      });
      expect(plan.notices ?? []).not.toContainEqual(expect.objectContaining({ kind: 'not-owned' }));
    }
  });

  it('continues a product renamed in SpinPanel on the same service and contract line', () => {
    const renamed = desired(customer('c1', 'Contoso', [line('p-e3', 'Microsoft 365 E3 (no Teams)', 12)]));
    const state = syncedState(10, 0);
    // Through the ledger…
    const byLedger = planAutotask(renamed, state, noMapping(), settings, syncedLedger());
    expect(kinds(byLedger.ops)).toEqual(['adjustUnits']);
    expect(byLedger.ops[0]!.data).toMatchObject({ contractServiceId: 900, serviceId: 1, unitChange: 2 });
    expect(byLedger.recon[0]).toMatchObject({
      productName: 'Microsoft 365 E3 (no Teams)',
      action: 'increase',
      targetUnitsBefore: 10,
      targetUnitsAfter: 12,
    });
    // …and, with no ledger entry for the product, through the marker on the service.
    state.services[0] = service(1, 'Microsoft 365 E3', { description: `${SERVICE_MARKER}p-e3` });
    const byMarker = planAutotask(
      renamed,
      state,
      noMapping(),
      settings,
      ledgerOf({ lines: syncedLedger().lines }),
    );
    expect(kinds(byMarker.ops)).toEqual(['adjustUnits']);
    expect(byMarker.ops[0]!.data).toMatchObject({ contractServiceId: 900, unitChange: 2 });
  });
});

describe('planAutotask: lines by product, period and price', () => {
  it('holds two subscriptions of one product at different prices on one service, with a notice and no push', () => {
    const mixed = customer('c1', 'Contoso', [
      line('p-e3', 'Microsoft 365 E3', 10, '10.50'),
      line('p-e3', 'Microsoft 365 E3', 5, '12.60'),
    ]);
    expect(mixed.lines.map((l) => l.key)).toEqual(['p-e3|month|10.50', 'p-e3|month|12.60']);
    const fresh = planAutotask(
      desired(mixed),
      emptyState({ companies: [company(100, 'Contoso')] }),
      noMapping(),
      settings,
      emptyLedger(),
    );
    expect(fresh.ops).toEqual([]);
    expect(fresh.recon.map((r) => [r.lineKey, r.action])).toEqual([
      ['p-e3|month|10.50', 'held'],
      ['p-e3|month|12.60', 'held'],
    ]);
    expect(fresh.notices).toEqual([
      expect.objectContaining({
        kind: 'mixed-prices',
        customerId: 'c1',
        message: expect.stringContaining('10 at 10.5, 5 at 12.6'),
      }),
    ]);
    // Already on the contract at 12 seats: neither the quantity nor the price moves.
    const synced = planAutotask(desired(mixed), syncedState(12, 0), noMapping(), settings, syncedLedger());
    expect(synced.ops).toEqual([]);
    expect(synced.recon.every((r) => r.action === 'held' && r.targetUnitsAfter === 12)).toBe(true);
  });

  it('adds up subscriptions at different prices when the target keeps its own price', () => {
    const mixed = customer(
      'c1',
      'Contoso',
      [line('p-e3', 'Microsoft 365 E3', 10, '10.50'), line('p-e3', 'Microsoft 365 E3', 5, '12.60')],
      { pricingSource: 'target' },
    );
    const plan = planAutotask(desired(mixed), syncedState(12, 0), noMapping(), settings, syncedLedger());
    expect(plan.ops).toEqual([
      expect.objectContaining({
        kind: 'adjustUnits',
        data: expect.objectContaining({ unitChange: 3, targetUnits: 15 }),
      }),
    ]);
    expect(plan.ops[0]!.data).not.toHaveProperty('adjustedUnitPrice');
  });

  it('bills an annual and a monthly subscription on two services, the yearly one at 12 months’ price', () => {
    const both = customer('c1', 'Contoso', [
      line('p-e3', 'Microsoft 365 E3', 5, '10.50', 'month'),
      line('p-e3', 'Microsoft 365 E3', 10, '10.50', 'year'),
    ]);
    const plan = planAutotask(
      desired(both),
      emptyState({ companies: [company(100, 'Contoso')] }),
      noMapping(),
      settings,
      emptyLedger(),
    );
    const created = plan.ops.filter((o) => o.kind === 'createService');
    expect(created.map((o) => [o.key, o.data])).toEqual([
      [
        'service:p-e3',
        {
          productId: 'p-e3',
          body: expect.objectContaining({ name: 'Microsoft 365 E3', periodType: 2, unitPrice: 10.5 }),
        },
      ],
      [
        'service:p-e3:year',
        {
          productId: 'p-e3',
          body: expect.objectContaining({
            name: 'Microsoft 365 E3 (yearly)',
            description: `${SERVICE_MARKER}p-e3 (yearly)`,
            periodType: 5,
            unitPrice: 126,
            unitCost: 96,
          }),
        },
      ],
    ]);
    expect(created[1]!.ledger).toEqual([
      { kind: 'item', productId: 'p-e3', period: 'year', id: { ref: 'service:p-e3:year' } },
    ]);
    expect(plan.ops.filter((o) => o.kind === 'adjustUnits').map((o) => o.data)).toEqual([
      expect.objectContaining({ serviceId: { ref: 'service:p-e3' }, unitChange: 5, adjustedUnitPrice: 10.5 }),
      expect.objectContaining({
        serviceId: { ref: 'service:p-e3:year' },
        unitChange: 10,
        adjustedUnitPrice: 126,
        adjustedUnitCost: 96,
      }),
    ]);
    expect(plan.recon.map((r) => [r.period, r.spinpanelSeats, r.unitPriceAfter])).toEqual([
      ['month', 5, 10.5],
      ['year', 10, 126],
    ]);
  });

  it('finds services by the periodType values this instance lists, and leaves other periods alone', () => {
    const types = { month: 7, year: 9 };
    const state = emptyState({
      periodTypes: types,
      companies: [company(100, 'Contoso')],
      contracts: [contract(500, 100, 'SP-c1')],
      services: [
        service(1, 'Microsoft 365 E3', { periodType: 7 }),
        service(6, 'Microsoft 365 E3 (yearly)', { periodType: 9, unitPrice: 126 }),
        // A quarterly service of the MSP's: no SpinPanel line is ever billed on it.
        service(8, 'Backup', { periodType: 3 }),
      ],
      contractServices: [cs(900, 500, 1), cs(960, 500, 6, 126), cs(961, 500, 8)],
      units: [unitsRow(900, 5), unitsRow(960, 10), unitsRow(961, 4)],
    });
    const both = customer('c1', 'Contoso', [
      line('p-e3', 'Microsoft 365 E3', 5, '10.50', 'month'),
      line('p-e3', 'Microsoft 365 E3', 12, '10.50', 'year'),
      line('p-e5', 'Microsoft 365 E5', 1, '30.00', 'year'),
    ]);
    const plan = planAutotask(desired(both), state, noMapping(), settings, emptyLedger());
    expect(plan.ops.filter((o) => o.kind === 'createService').map((o) => o.data)).toEqual([
      expect.objectContaining({
        body: expect.objectContaining({ name: 'Microsoft 365 E5 (yearly)', periodType: 9 }),
      }),
    ]);
    expect(adjustments(plan.ops)).toEqual([
      expect.objectContaining({ contractServiceId: 960, unitChange: 2, targetUnits: 12 }),
      expect.objectContaining({ unitChange: 1 }),
    ]);
    expect(touched(plan.ops)).not.toContain(961);
    expect(touched(plan.ops)).not.toContain(900);
  });
});
