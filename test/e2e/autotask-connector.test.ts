import axios from 'axios';
import { describe, expect, it } from 'vitest';
import { createAutotaskConnector } from '../../connectors/autotask/connector.ts';
import type { AutotaskSandbox } from '../../connectors/autotask/sandbox.ts';
import {
  type ApplyResults,
  type Connector,
  CredentialsRejectedError,
  type DesiredCustomer,
  type DesiredLine,
  type DesiredState,
  type Ledger,
  type LinkMapping,
  type Plan,
  type PlanOp,
} from '../../connectors/types.ts';
import { lineKey } from '../../src/billing/desired.ts';
import type { LedgerEntry, Period } from '../../src/billing/types.ts';
import { fieldsOf, parseLedger } from '../../src/links/ledger.ts';
import { autotaskSandboxes } from '../helpers/autotask-sandboxes.ts';

const USER = { userName: 'api@msp.example', secret: 'e2e-secret-value', integrationCode: 'SPINPANEL-E2E' };
const DATE = '2025-03-10';
const NEXT_DAY = '2025-03-11';
/** A later day of the month, to read what Autotask bills once the changes took effect. */
const LATER = '2025-03-17';
const noMapping = (): LinkMapping => ({ customers: {}, products: {} });

const start = autotaskSandboxes({
  users: [USER],
  today: () => DATE,
  companies: [
    { id: 0, companyName: 'Example MSP', companyType: 5 },
    { companyName: 'Contoso' },
    { companyName: 'Fabrikam' },
  ],
});

function connect(sb: AutotaskSandbox, credentials = USER): Connector {
  return createAutotaskConnector({
    http: axios.create({ timeout: 10_000 }),
    credentials,
    settings: { serviceBillingCodeId: 29682801 },
    zoneLookupUrl: sb.zoneLookupUrl,
  });
}

const line = (
  productId: string,
  productName: string,
  quantity: number,
  period: Period = 'month',
): DesiredLine => ({
  key: lineKey(productId, period, '12.50'),
  productId,
  productName,
  period,
  quantity,
  unitPrice: { amount: '12.50', currency: 'EUR' },
  unitCost: { amount: '10.00', currency: 'EUR' },
  subscriptionIds: [`sub-${productId}-${period}`],
});
const customer = (customerId: string, name: string, lines: DesiredCustomer['lines']): DesiredCustomer => ({
  customerId,
  name,
  microsoftTenantId: `tenant-${customerId}`,
  currency: 'EUR',
  lines,
});
const state = (customers: DesiredCustomer[], today = DATE): DesiredState => ({
  accountId: 'acct-e2e',
  today,
  timeZone: 'UTC',
  policy: 'change-date',
  effectiveDate: today,
  customers,
});
function desired(
  seats: { contosoE3: number; contosoTeams?: number; fabrikamE3: number },
  today = DATE,
): DesiredState {
  const contoso = [line('p-e3', 'Microsoft 365 E3', seats.contosoE3)];
  if (seats.contosoTeams !== undefined) contoso.push(line('p-teams', 'Teams Essentials', seats.contosoTeams));
  return state(
    [
      customer('c1', 'Contoso', contoso),
      customer('c2', 'Fabrikam', [line('p-e3', 'Microsoft 365 E3', seats.fabrikamE3)]),
    ],
    today,
  );
}

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
  return { raw, ledger: (): Ledger => parseLedger(raw), write };
}
type Book = ReturnType<typeof ledgerBook>;

async function planFor(c: Connector, d: DesiredState, book: Book, mapping = noMapping()): Promise<Plan> {
  return c.plan(d, await c.readState(d, mapping, book.ledger()), mapping, book.ledger());
}

async function applyAll(
  c: Connector,
  ops: PlanOp[],
  book: Book,
  results: ApplyResults = new Map(),
): Promise<ApplyResults> {
  for (const op of ops) {
    const result = await c.apply(op, results);
    results.set(op.key, result);
    book.write(op.ledger ?? [], results, { key: op.key, result });
  }
  return results;
}

/** One run: read, plan, apply every op, record the plan's own ledger entries. */
async function sync(c: Connector, d: DesiredState, book: Book, mapping = noMapping()): Promise<Plan> {
  const plan = await planFor(c, d, book, mapping);
  await applyAll(c, plan.ops, book);
  book.write(plan.ledger ?? [], new Map());
  return plan;
}

/** Units of a customer's product on its managed contract, as Autotask would bill them. */
function unitsOf(
  sb: AutotaskSandbox,
  customerId: string,
  serviceName: string,
  date = LATER,
): number | undefined {
  const contract = [...sb.db.contracts.values()].find((c) => c.contractNumber === `SP-${customerId}`);
  const service = [...sb.db.services.values()].find((s) => s.name === serviceName);
  if (!contract || !service) return undefined;
  const cs = [...sb.db.contractServices.values()].find(
    (x) => x.contractID === contract.id && x.serviceID === service.id,
  );
  return cs ? sb.unitsAt(cs.id, date) : undefined;
}

describe('Autotask connector against the sandbox', () => {
  it('verifies good credentials and names the Autotask owner', async () => {
    const sb = await start();
    await expect(connect(sb).verify()).resolves.toMatchObject({ displayName: 'Example MSP' });
  });

  it('rejects a wrong secret and an unknown user, quoting Autotask', async () => {
    const sb = await start();
    const wrong = await connect(sb, { ...USER, secret: 'nope' })
      .verify()
      .catch((e) => e);
    expect(wrong).toBeInstanceOf(CredentialsRejectedError);
    expect(wrong.message).toContain('Authentication failed');
    expect(wrong.message).not.toContain('nope');

    const unknown = await connect(sb, { ...USER, userName: 'who@nowhere.example' })
      .verify()
      .catch((e) => e);
    expect(unknown).toBeInstanceOf(CredentialsRejectedError);
    expect(unknown.targetMessage).toBe('Zone information could not be determined');
  });

  it('first sync creates contracts, services and units; the next plan is empty', async () => {
    const sb = await start();
    const c = connect(sb);
    const book = ledgerBook();
    const d = desired({ contosoE3: 10, contosoTeams: 4, fabrikamE3: 3 });
    const first = await planFor(c, d, book);
    expect(first.unmapped).toEqual([]);
    expect(first.ops.map((o) => o.kind)).toEqual([
      'createService',
      'createService',
      'createContract',
      'createContract',
      'addContractService',
      'addContractService',
      'addContractService',
      'adjustUnits',
      'adjustUnits',
      'adjustUnits',
    ]);
    await applyAll(c, first.ops, book);
    book.write(first.ledger ?? [], new Map());

    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3')).toBe(10);
    expect(unitsOf(sb, 'c1', 'Teams Essentials')).toBe(4);
    expect(unitsOf(sb, 'c2', 'Microsoft 365 E3')).toBe(3);
    expect(sb.db.services.size).toBe(2);
    // Monthly services carry the periodType this instance lists as "Monthly" (2 here, as on a live tenant).
    expect([...sb.db.services.values()].map((s) => s.periodType)).toEqual([2, 2]);
    expect(sb.db.adjustments).toHaveLength(3);
    expect(sb.db.adjustments.map((a) => a.effectiveDate)).toEqual(Array(3).fill(`${DATE}T00:00:00Z`));

    // The ledger now says what the sync made: both services, both contracts, all three lines and their day.
    const ledger = book.ledger();
    const serviceId = (name: string) => [...sb.db.services.values()].find((s) => s.name === name)!.id;
    expect(ledger.items).toEqual({
      'p-e3|month': serviceId('Microsoft 365 E3'),
      'p-teams|month': serviceId('Teams Essentials'),
    });
    expect(Object.keys(ledger.containers).sort()).toEqual(['c1', 'c2']);
    expect(Object.keys(ledger.parties).sort()).toEqual(['c1', 'c2']);
    expect(Object.keys(ledger.lines).map(Number).sort()).toEqual([...sb.db.contractServices.keys()].sort());
    expect(Object.values(ledger.adjustments)).toEqual([DATE, DATE, DATE]);

    const second = await planFor(c, d, book);
    expect(second.ops).toEqual([]);
    expect(second.recon.map((r) => r.targetUnitsBefore)).toEqual([10, 4, 3]);
  });

  it('a same-day second change waits for the next day (was: shifted past the earlier adjustment)', async () => {
    const sb = await start();
    const c = connect(sb);
    const book = ledgerBook();
    await sync(c, desired({ contosoE3: 10, contosoTeams: 4, fabrikamE3: 3 }), book);

    const sameDay = await planFor(c, desired({ contosoE3: 13, contosoTeams: 2, fabrikamE3: 3 }), book);
    expect(sameDay.ops).toEqual([]);
    expect(sameDay.recon.map((r) => [r.productId, r.action, r.targetUnitsAfter])).toEqual([
      ['p-e3', 'pending', 10],
      ['p-teams', 'pending', 4],
      ['p-e3', 'unchanged', 3],
    ]);

    // The next day's first run posts the difference, dated that day: one write per change, none refused.
    const changed = desired({ contosoE3: 13, contosoTeams: 2, fabrikamE3: 3 }, NEXT_DAY);
    const plan = await planFor(c, changed, book);
    expect(plan.ops.map((o) => [o.kind, (o.data as { unitChange: number }).unitChange])).toEqual([
      ['adjustUnits', 3],
      ['adjustUnits', -2],
    ]);
    const results = await applyAll(c, plan.ops, book);
    expect([...results.values()].map((r) => (r as { effectiveDate: string }).effectiveDate)).toEqual([
      NEXT_DAY,
      NEXT_DAY,
    ]);
    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3')).toBe(13);
    expect(unitsOf(sb, 'c1', 'Teams Essentials')).toBe(2);
    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3', DATE)).toBe(10);
    expect(sb.db.adjustments).toHaveLength(5);
    expect(sb.requests.filter((r) => r.status >= 400)).toEqual([]);
    expect((await planFor(c, changed, book)).ops).toEqual([]);
  });

  it('retires a cancelled product to 0 (the next day: the same day it is pending)', async () => {
    const sb = await start();
    const c = connect(sb);
    const book = ledgerBook();
    await sync(c, desired({ contosoE3: 10, contosoTeams: 4, fabrikamE3: 3 }), book);
    const sameDay = await planFor(c, desired({ contosoE3: 10, fabrikamE3: 3 }), book);
    expect(sameDay.ops).toEqual([]);
    expect(sameDay.recon).toContainEqual(
      expect.objectContaining({ productId: 'p-teams', action: 'pending' }),
    );

    const without = desired({ contosoE3: 10, fabrikamE3: 3 }, NEXT_DAY);
    const plan = await planFor(c, without, book);
    expect(plan.ops).toHaveLength(1);
    expect(plan.recon).toContainEqual(
      expect.objectContaining({
        productId: 'p-teams',
        action: 'retire',
        targetUnitsBefore: 4,
        targetUnitsAfter: 0,
      }),
    );
    await applyAll(c, plan.ops, book);
    expect(unitsOf(sb, 'c1', 'Teams Essentials')).toBe(0);
    expect((await planFor(c, without, book)).ops).toEqual([]);
  });

  it('converges after a crash half-way with no duplicate record or adjustment', async () => {
    const sb = await start();
    const c = connect(sb);
    const book = ledgerBook();
    const d = desired({ contosoE3: 10, contosoTeams: 4, fabrikamE3: 3 });
    const plan = await planFor(c, d, book);
    // Crash after the services, contracts, one contract service and the first adjustment…
    const done = await applyAll(c, plan.ops.slice(0, 5), book);
    const firstAdj = plan.ops.find((o) => o.kind === 'adjustUnits' && o.needs?.every((k) => done.has(k)));
    expect(firstAdj).toBeDefined();
    await applyAll(c, [firstAdj!], book, done);
    expect(sb.db.adjustments).toHaveLength(1);

    // …and a retry of an op whose request landed but whose answer was lost posts nothing.
    expect(await c.apply(firstAdj!, done)).toMatchObject({ unitChange: 0 });

    const again = await planFor(c, d, book);
    expect(again.ops.map((o) => o.kind)).toEqual([
      'addContractService',
      'addContractService',
      'adjustUnits',
      'adjustUnits',
    ]);
    await applyAll(c, again.ops, book);

    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3')).toBe(10);
    expect(unitsOf(sb, 'c1', 'Teams Essentials')).toBe(4);
    expect(unitsOf(sb, 'c2', 'Microsoft 365 E3')).toBe(3);
    expect(sb.db.contracts.size).toBe(2);
    expect(sb.db.services.size).toBe(2);
    expect(sb.db.contractServices.size).toBe(3);
    expect(sb.db.adjustments).toHaveLength(3);
    expect((await planFor(c, d, book)).ops).toEqual([]);
  });

  it('converges the same way when the crash also lost the ledger writes of what it did', async () => {
    const sb = await start();
    const c = connect(sb);
    const d = desired({ contosoE3: 10, contosoTeams: 4, fabrikamE3: 3 });
    const plan = await planFor(c, d, ledgerBook());
    await applyAll(c, plan.ops.slice(0, 5), ledgerBook());
    // Services are found by name, contracts by their SP- number, contract services on the managed contract.
    const book = ledgerBook();
    await sync(c, d, book);
    expect([sb.db.contracts.size, sb.db.services.size, sb.db.contractServices.size]).toEqual([2, 2, 3]);
    expect(sb.db.adjustments).toHaveLength(3);
    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3')).toBe(10);
    expect((await planFor(c, d, book)).ops).toEqual([]);
  });

  it('re-applying a stale plan after everything landed creates no duplicates', async () => {
    const sb = await start();
    const c = connect(sb);
    const book = ledgerBook();
    const d = desired({ contosoE3: 10, contosoTeams: 4, fabrikamE3: 3 });
    const plan = await planFor(c, d, book);
    await applyAll(c, plan.ops, book);
    await applyAll(c, plan.ops, book); // the whole run replayed, e.g. the worker died before recording it
    expect([sb.db.contracts.size, sb.db.services.size, sb.db.contractServices.size]).toEqual([2, 2, 3]);
    expect(sb.db.adjustments).toHaveLength(3);
    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3')).toBe(10);
  });

  it('waits out the thread limit instead of failing the run', async () => {
    const sb = await start({ threadLimit: 1, latencyMs: 30 });
    const c = connect(sb);
    const book = ledgerBook();
    const d = desired({ contosoE3: 2, contosoTeams: 1, fabrikamE3: 5 });
    // Three readers at once on one endpoint with room for one: two of them get 429s and wait.
    const plans = await Promise.all([planFor(c, d, book), planFor(c, d, book), planFor(c, d, book)]);
    expect(sb.requests.some((r) => r.status === 429)).toBe(true);
    expect(plans[1]).toEqual(plans[0]);
    expect(plans[2]).toEqual(plans[0]);
    await applyAll(c, plans[0]!.ops, book);
    expect(unitsOf(sb, 'c2', 'Microsoft 365 E3')).toBe(5);
    expect((await planFor(c, d, book)).ops).toEqual([]);
  });

  it('reports a customer with no Autotask company and reads each entity once, in bulk', async () => {
    const sb = await start();
    const c = connect(sb);
    const d = desired({ contosoE3: 1, fabrikamE3: 1 });
    d.customers.push(customer('c3', 'Nobody Ltd', [line('p-e3', 'Microsoft 365 E3', 5)]));
    const before = sb.requests.length;
    const plan = await planFor(c, d, ledgerBook());
    expect(plan.unmapped).toEqual([
      {
        customerId: 'c3',
        name: 'Nobody Ltd',
        reason: 'no active customer Autotask company named "Nobody Ltd"; map the customer',
      },
    ]);
    const read = sb.requests.slice(before);
    // The zone lookup, the Services metadata for periodType values, and one query per entity.
    const queried = read.filter((r) => /\/query/i.test(r.path)).map((r) => r.entity);
    expect(queried.sort()).toEqual(['Companies', 'Contracts', 'Services']);
    expect(read.filter((r) => r.method === 'GET' && /entityInformation\/fields/.test(r.path))).toHaveLength(
      1,
    );
    expect(read.length).toBeLessThanOrEqual(6);
  });

  it('creates a yearly service with the periodType the instance lists as Yearly, at 12 months’ price', async () => {
    const sb = await start();
    const c = connect(sb);
    const book = ledgerBook();
    const d = state([
      customer('c1', 'Contoso', [
        line('p-e3', 'Microsoft 365 E3', 2, 'month'),
        line('p-e3', 'Microsoft 365 E3', 5, 'year'),
      ]),
    ]);
    const plan = await sync(c, d, book);
    expect(plan.recon.map((r) => [r.period, r.action, r.unitPriceAfter])).toEqual([
      ['month', 'add', 12.5],
      ['year', 'add', 150],
    ]);
    const services = [...sb.db.services.values()].map((s) => [s.name, s.periodType, s.unitPrice]);
    expect(services).toEqual([
      ['Microsoft 365 E3', 2, 12.5],
      ['Microsoft 365 E3 (yearly)', 5, 150],
    ]);
    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3')).toBe(2);
    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3 (yearly)')).toBe(5);
    expect(Object.keys(book.ledger().items).sort()).toEqual(['p-e3|month', 'p-e3|year']);
    expect((await planFor(c, d, book)).ops).toEqual([]);
  });
});
