import axios from 'axios';
import { describe, expect, it } from 'vitest';
import { createAutotaskConnector } from '../../connectors/autotask/connector.ts';
import type { AutotaskSandbox } from '../../connectors/autotask/sandbox.ts';
import {
  type ApplyResults,
  type Connector,
  CredentialsRejectedError,
  type DesiredCustomer,
  type DesiredState,
  type LinkMapping,
  type Plan,
  type PlanOp,
} from '../../connectors/types.ts';
import { autotaskSandboxes } from '../helpers/autotask-sandboxes.ts';

const USER = { userName: 'api@msp.example', secret: 'e2e-secret-value', integrationCode: 'SPINPANEL-E2E' };
const DATE = '2025-03-10';
const UNITS_DATE = '2025-03-17';
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

const line = (productId: string, productName: string, quantity: number) => ({
  productId,
  productName,
  quantity,
  unitPrice: { amount: '12.50', currency: 'EUR' },
  unitCost: { amount: '10.00', currency: 'EUR' },
  subscriptionIds: [`sub-${productId}`],
});
const customer = (customerId: string, name: string, lines: DesiredCustomer['lines']): DesiredCustomer => ({
  customerId,
  name,
  microsoftTenantId: `tenant-${customerId}`,
  currency: 'EUR',
  lines,
});
function desired(seats: { contosoE3: number; contosoTeams?: number; fabrikamE3: number }): DesiredState {
  const contoso = [line('p-e3', 'Microsoft 365 E3', seats.contosoE3)];
  if (seats.contosoTeams !== undefined) contoso.push(line('p-teams', 'Teams Essentials', seats.contosoTeams));
  return {
    accountId: 'acct-e2e',
    effectiveDate: DATE,
    customers: [
      customer('c1', 'Contoso', contoso),
      customer('c2', 'Fabrikam', [line('p-e3', 'Microsoft 365 E3', seats.fabrikamE3)]),
    ],
  };
}

async function planFor(c: Connector, d: DesiredState, mapping = noMapping()): Promise<Plan> {
  return c.plan(d, await c.readState(d, mapping), mapping);
}

async function applyAll(
  c: Connector,
  ops: PlanOp[],
  results: ApplyResults = new Map(),
): Promise<ApplyResults> {
  for (const op of ops) results.set(op.key, await c.apply(op, results));
  return results;
}

/** Units of a customer's product on its managed contract, as Autotask would bill them. */
function unitsOf(
  sb: AutotaskSandbox,
  customerId: string,
  serviceName: string,
  date = UNITS_DATE,
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
    const d = desired({ contosoE3: 10, contosoTeams: 4, fabrikamE3: 3 });
    const first = await planFor(c, d);
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
    await applyAll(c, first.ops);

    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3')).toBe(10);
    expect(unitsOf(sb, 'c1', 'Teams Essentials')).toBe(4);
    expect(unitsOf(sb, 'c2', 'Microsoft 365 E3')).toBe(3);
    expect(sb.db.services.size).toBe(2);
    expect(sb.db.adjustments).toHaveLength(3);

    const second = await planFor(c, d);
    expect(second.ops).toEqual([]);
    expect(second.recon.map((r) => r.targetUnitsBefore)).toEqual([10, 4, 3]);
  });

  it('a same-day change posts only the deltas, shifting past the earlier adjustment', async () => {
    const sb = await start();
    const c = connect(sb);
    await applyAll(c, (await planFor(c, desired({ contosoE3: 10, contosoTeams: 4, fabrikamE3: 3 }))).ops);

    const changed = desired({ contosoE3: 13, contosoTeams: 2, fabrikamE3: 3 });
    const plan = await planFor(c, changed);
    expect(plan.ops.map((o) => [o.kind, (o.data as { unitChange: number }).unitChange])).toEqual([
      ['adjustUnits', 3],
      ['adjustUnits', -2],
    ]);
    const results = await applyAll(c, plan.ops);
    expect([...results.values()].map((r) => (r as { effectiveDate: string }).effectiveDate)).toEqual([
      '2025-03-11',
      '2025-03-11',
    ]);
    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3')).toBe(13);
    expect(unitsOf(sb, 'c1', 'Teams Essentials')).toBe(2);
    expect(sb.db.adjustments).toHaveLength(5);
    expect((await planFor(c, changed)).ops).toEqual([]);
  });

  it('retires a cancelled product to 0', async () => {
    const sb = await start();
    const c = connect(sb);
    await applyAll(c, (await planFor(c, desired({ contosoE3: 10, contosoTeams: 4, fabrikamE3: 3 }))).ops);
    const without = desired({ contosoE3: 10, fabrikamE3: 3 });
    const plan = await planFor(c, without);
    expect(plan.ops).toHaveLength(1);
    await applyAll(c, plan.ops);
    expect(unitsOf(sb, 'c1', 'Teams Essentials')).toBe(0);
    expect((await planFor(c, without)).ops).toEqual([]);
  });

  it('converges after a crash half-way with no duplicate record or adjustment', async () => {
    const sb = await start();
    const c = connect(sb);
    const d = desired({ contosoE3: 10, contosoTeams: 4, fabrikamE3: 3 });
    const plan = await planFor(c, d);
    // Crash after the services, contracts, one contract service and the first adjustment…
    const done = await applyAll(c, plan.ops.slice(0, 5));
    const firstAdj = plan.ops.find((o) => o.kind === 'adjustUnits' && o.needs?.every((k) => done.has(k)));
    expect(firstAdj).toBeDefined();
    done.set(firstAdj!.key, await c.apply(firstAdj!, done));
    expect(sb.db.adjustments).toHaveLength(1);

    // …and a retry of an op whose request landed but whose answer was lost posts nothing.
    expect(await c.apply(firstAdj!, done)).toMatchObject({ unitChange: 0 });

    const again = await planFor(c, d);
    expect(again.ops.every((o) => o.kind === 'addContractService' || o.kind === 'adjustUnits')).toBe(true);
    await applyAll(c, again.ops);

    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3')).toBe(10);
    expect(unitsOf(sb, 'c1', 'Teams Essentials')).toBe(4);
    expect(unitsOf(sb, 'c2', 'Microsoft 365 E3')).toBe(3);
    expect(sb.db.contracts.size).toBe(2);
    expect(sb.db.services.size).toBe(2);
    expect(sb.db.contractServices.size).toBe(3);
    expect(sb.db.adjustments).toHaveLength(3);
    expect((await planFor(c, d)).ops).toEqual([]);
  });

  it('re-applying a stale plan after everything landed creates no duplicates', async () => {
    const sb = await start();
    const c = connect(sb);
    const d = desired({ contosoE3: 10, contosoTeams: 4, fabrikamE3: 3 });
    const plan = await planFor(c, d);
    await applyAll(c, plan.ops);
    await applyAll(c, plan.ops); // the whole run replayed, e.g. the worker died before recording it
    expect([sb.db.contracts.size, sb.db.services.size, sb.db.contractServices.size]).toEqual([2, 2, 3]);
    expect(sb.db.adjustments).toHaveLength(3);
    expect(unitsOf(sb, 'c1', 'Microsoft 365 E3')).toBe(10);
  });

  it('waits out the thread limit instead of failing the run', async () => {
    const sb = await start({ threadLimit: 1, latencyMs: 30 });
    const c = connect(sb);
    const d = desired({ contosoE3: 2, contosoTeams: 1, fabrikamE3: 5 });
    // Three readers at once on one endpoint with room for one: two of them get 429s and wait.
    const plans = await Promise.all([planFor(c, d), planFor(c, d), planFor(c, d)]);
    expect(sb.requests.some((r) => r.status === 429)).toBe(true);
    expect(plans[1]).toEqual(plans[0]);
    await applyAll(c, plans[0]!.ops);
    expect(unitsOf(sb, 'c2', 'Microsoft 365 E3')).toBe(5);
    expect((await planFor(c, d)).ops).toEqual([]);
  });

  it('reports a customer with no Autotask company and reads in bulk', async () => {
    const sb = await start();
    const c = connect(sb);
    const d = desired({ contosoE3: 1, fabrikamE3: 1 });
    d.customers.push(customer('c3', 'Nobody Ltd', [line('p-e3', 'Microsoft 365 E3', 5)]));
    const before = sb.requests.length;
    const plan = await planFor(c, d);
    expect(plan.unmapped).toEqual([
      {
        customerId: 'c3',
        name: 'Nobody Ltd',
        reason: expect.stringContaining('no company named "Nobody Ltd"'),
      },
    ]);
    // Zone lookup plus a handful of bulk queries, not one per customer.
    expect(sb.requests.length - before).toBeLessThanOrEqual(9);
  });
});
