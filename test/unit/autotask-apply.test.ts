import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_CREATE_TRIES } from '../../connectors/autotask/apply.ts';
import type { PlanOp } from '../../connectors/types.ts';
import { applyOps } from '../../src/sync/apply.ts';
import {
  API,
  nockConnector as connector,
  contractRow,
  createContract,
  Q,
  unitsRow,
  ZONE,
} from '../helpers/autotask-nock.ts';

const adjust: PlanOp = {
  key: 'adj:c1:p1:2025-03-10',
  kind: 'adjustUnits',
  summary: '',
  data: {
    contractId: 77,
    contractServiceId: 900,
    serviceId: 5,
    unitChange: 3,
    targetUnits: 3,
    effectiveDate: '2025-03-10',
  },
};
const charge: PlanOp = {
  key: 'charge:SP-abc-2025-02',
  kind: 'postCharge',
  summary: '',
  data: {
    contractId: 77,
    key: 'SP-abc-2025-02',
    body: {
      name: 'Azure 2025-02',
      description: 'd',
      datePurchased: '2025-02-28',
      unitQuantity: 1,
      unitPrice: 12,
      unitCost: 10,
      billingCodeID: 29682802,
      isBillableToCompany: true,
      purchaseOrderNumber: 'SP-abc-2025-02',
    },
  },
};
const fields = (
  chargeTypes: { value: string; label: string; isActive?: boolean; isDefaultValue?: boolean }[],
) => ({
  fields: [
    { name: 'id', isPickList: false, picklistValues: null },
    { name: 'chargeType', isPickList: true, picklistValues: chargeTypes },
  ],
});

/** What axios reports when a request outlives its timeout: no answer, so no way to know whether it landed. */
const timedOut = () => Object.assign(new Error('timeout of 2000ms exceeded'), { code: 'ECONNABORTED' });

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

describe('autotask apply: never a duplicate', () => {
  it('after a create timed out, finds the record it made instead of creating it again', async () => {
    const scope = nock(ZONE)
      .post(Q('Contracts'))
      .reply(200, { items: [] })
      .post(`${API}/Contracts`)
      // The record was made but the answer never came back.
      .replyWithError(timedOut())
      .post(Q('Contracts'))
      .reply(200, { items: [contractRow] });
    expect(await connector().apply(createContract, new Map())).toBe(77);
    expect(scope.isDone()).toBe(true);
  });

  it('after a lost answer of a create that did not happen, looks up and then creates once more', async () => {
    const posts: unknown[] = [];
    const scope = nock(ZONE)
      .post(Q('Contracts'))
      .twice()
      .reply(200, { items: [] })
      .post(`${API}/Contracts`)
      .replyWithError(Object.assign(new Error('socket hang up'), { code: 'ECONNRESET' }))
      .post(`${API}/Contracts`, (b) => posts.push(b) > 0)
      .reply(200, { itemId: 78 });
    expect(await connector().apply(createContract, new Map())).toBe(78);
    expect(posts).toHaveLength(1);
    expect(scope.isDone()).toBe(true);
  });

  it('after an adjustment timed out, re-reads the units and posts nothing when it had landed', async () => {
    const scope = nock(ZONE)
      .post(Q('ContractServiceUnits'))
      .reply(200, { items: [unitsRow(0)] })
      .post(`${API}/ContractServiceAdjustments`)
      .replyWithError(timedOut())
      .post(Q('ContractServiceUnits'))
      .reply(200, { items: [unitsRow(3)] });
    expect(await connector().apply(adjust, new Map())).toMatchObject({ unitChange: 0 });
    expect(scope.isDone()).toBe(true);
  });

  it('never moves a clashing adjustment to another day: Autotask’s same-day refusal leaves it pending', async () => {
    // Someone posted on the 15th since the read. Before, the delta went to the 16th (a day ahead of today) and on;
    // now nothing is dated after the planned day: the op answers pending, the next day's first run posts it.
    const dates: string[] = [];
    nock(ZONE)
      .post(Q('ContractServiceUnits'))
      .reply(200, { items: [unitsRow(0)] })
      .post(`${API}/ContractServiceAdjustments`)
      .reply((_uri, body) => {
        dates.push((body as { effectiveDate: string }).effectiveDate);
        return [500, { errors: ['duplicate data into contract_service_period'] }];
      });
    const op = {
      ...adjust,
      data: { ...(adjust.data as object), effectiveDate: '2025-03-15', readDate: '2025-03-15' },
    };
    const result = await connector().apply(op, new Map());
    expect(result).toMatchObject({ pending: true, effectiveDate: '2025-03-15' });
    expect(dates).toEqual(['2025-03-15']);
  });

  it('fails an adjustment Autotask refuses for any other reason, with its words', async () => {
    nock(ZONE)
      .post(Q('ContractServiceUnits'))
      .reply(200, { items: [unitsRow(0)] })
      .post(`${API}/ContractServiceAdjustments`)
      .reply(500, { errors: ['effectiveDate must be within the contract period'] });
    await expect(connector().apply(adjust, new Map())).rejects.toThrow(/effectiveDate must be within/);
  });

  it('sends a create whose answers keep getting lost at most 3 times per run, looking up before each', async () => {
    // Nothing above the connector repeats the op: before, the engine's 3 tries of the op made this 9 sends.
    const scope = nock(ZONE)
      .post(Q('Contracts'))
      .times(10)
      .reply(200, { items: [] })
      .post(`${API}/Contracts`)
      .times(10)
      .replyWithError(timedOut());
    const sent: string[] = [];
    scope.on('request', (req) => sent.push(req.path.endsWith('/query') ? 'lookup' : 'create'));
    const s = { applied: {} as Record<string, number>, errors: [] as { kind: string; message: string }[] };
    const err = await applyOps(connector(), [createContract], s).catch((e) => e);
    expect(err.message).toContain('timeout of 2000ms exceeded');
    // Not the target's refusal: no op error; the run fails for the queue to retry it, which looks up first.
    expect(s.errors).toEqual([]);
    expect(MAX_CREATE_TRIES).toBe(3);
    expect(sent).toEqual(['lookup', 'create', 'lookup', 'create', 'lookup', 'create']);
  });

  it('does not retry a create Autotask refused with a business rule', async () => {
    nock(ZONE)
      .post(Q('Contracts'))
      .reply(200, { items: [] })
      .post(`${API}/Contracts`)
      .reply(500, { errors: ['companyID 100 does not refer to an existing Company'] });
    await expect(connector().apply(createContract, new Map())).rejects.toThrow(
      'does not refer to an existing Company',
    );
    expect(nock.pendingMocks()).toEqual([]);
  });
});

describe('autotask apply: usage charges', () => {
  it('posts a charge under its contract with the instance’s "Operational" charge type', async () => {
    const posted: unknown[] = [];
    const scope = nock(ZONE)
      .get(`${API}/ContractCharges/entityInformation/fields`)
      .reply(
        200,
        fields([
          { value: '4', label: 'Capitalized', isDefaultValue: true },
          { value: '9', label: 'Operational' },
        ]),
      )
      .post(Q('ContractCharges'), (b) => JSON.stringify(b.filter).includes('SP-abc-2025-02'))
      .reply(200, { items: [] })
      .post(`${API}/Contracts/77/Charges`, (b) => posted.push(b) > 0)
      .reply(200, { itemId: 501 });
    expect(await connector().apply(charge, new Map())).toBe(501);
    expect(posted).toEqual([
      expect.objectContaining({
        contractID: 77,
        chargeType: 9,
        purchaseOrderNumber: 'SP-abc-2025-02',
        unitPrice: 12,
      }),
    ]);
    expect(scope.isDone()).toBe(true);
  });

  it('does not post a charge whose key Autotask already holds', async () => {
    const scope = nock(ZONE)
      .get(`${API}/ContractCharges/entityInformation/fields`)
      .reply(200, fields([{ value: '1', label: 'Operational' }]))
      .post(Q('ContractCharges'))
      .reply(200, {
        items: [{ id: 500, contractID: 77, purchaseOrderNumber: 'SP-abc-2025-02', unitPrice: 12 }],
      });
    expect(await connector().apply(charge, new Map())).toBe(500);
    expect(scope.isDone()).toBe(true);
  });

  it('renews a contract and sets a price with PATCHes to the collection URL', async () => {
    const bodies: unknown[] = [];
    const scope = nock(ZONE)
      .patch(`${API}/Contracts`, (b) => bodies.push(b) > 0)
      .reply(200, { itemId: 77 })
      .patch(`${API}/Contracts/77/Services`, (b) => bodies.push(b) > 0)
      .reply(200, { itemId: 900 });
    const c = connector();
    await c.apply(
      {
        key: 'renew:c1',
        kind: 'renewContract',
        summary: '',
        data: { contractId: 77, contractNumber: 'SP-c1', endDate: '2027-02-28' },
      },
      new Map(),
    );
    await c.apply(
      {
        key: 'price:c1:p1',
        kind: 'setPrice',
        summary: '',
        data: { contractId: 77, contractServiceId: 900, adjustedPrice: 14 },
      },
      new Map(),
    );
    expect(bodies).toEqual([
      { id: 77, endDate: '2027-02-28' },
      { id: 900, adjustedPrice: 14 },
    ]);
    expect(scope.isDone()).toBe(true);
  });
});
