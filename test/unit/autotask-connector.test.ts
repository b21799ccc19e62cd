import axios from 'axios';
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createAutotaskConnector } from '../../connectors/autotask/connector.ts';
import type { AutotaskState } from '../../connectors/autotask/state.ts';
import {
  CredentialsRejectedError,
  type DesiredState,
  type PlanOp,
  TargetError,
} from '../../connectors/types.ts';
import { emptyLedger } from '../../src/billing/types.ts';
import {
  API,
  nockConnector as connector,
  contractBody,
  contractRow,
  createContract,
  LOOKUP,
  Q,
  unitsRow,
  ZONE,
} from '../helpers/autotask-nock.ts';

function adjustOp(over: Record<string, unknown> = {}): PlanOp {
  return {
    key: 'adj:c1:p1:2025-03-10',
    kind: 'adjustUnits',
    summary: '',
    data: {
      contractId: 77,
      contractServiceId: { ref: 'cs:c1:p1' },
      serviceId: 5,
      unitChange: 3,
      targetUnits: 3,
      effectiveDate: '2025-03-10',
      adjustedUnitPrice: 10,
      adjustedUnitCost: 8,
      ...over,
    },
  };
}

beforeAll(() => nock.disableNetConnect());
afterEach(() => nock.cleanAll());

describe('autotask connector apply', () => {
  it('resolves a create answered {"itemId": null} by looking the contract up', async () => {
    const scope = nock(ZONE)
      .post(Q('Contracts'))
      .reply(200, { items: [] })
      .post(`${API}/Contracts`, contractBody)
      .reply(200, { itemId: null })
      .post(Q('Contracts'), (b) => JSON.stringify(b.filter).includes('SP-c1'))
      .reply(200, { items: [contractRow] });
    expect(await connector().apply(createContract, new Map())).toBe(77);
    expect(scope.isDone()).toBe(true);
  });

  it('reuses a contract that an earlier, timed-out create did make', async () => {
    const scope = nock(ZONE)
      .post(Q('Contracts'))
      .reply(200, { items: [contractRow] });
    expect(await connector().apply(createContract, new Map())).toBe(77);
    expect(scope.isDone()).toBe(true);
  });

  it('posts the delta against the re-read units, dated the effective date', async () => {
    const posted: unknown[] = [];
    const scope = nock(ZONE)
      .post(Q('ContractServiceUnits'))
      .reply(200, { items: [unitsRow(1)] })
      .post(`${API}/ContractServiceAdjustments`, (b) => posted.push(b) > 0)
      .reply(200, { itemId: 31 });
    const result = await connector().apply(adjustOp(), new Map([['cs:c1:p1', 900]]));
    expect(result).toEqual({ itemId: 31, unitChange: 2, effectiveDate: '2025-03-10' });
    expect(posted).toEqual([
      {
        contractID: 77,
        contractServiceID: 900,
        serviceID: 5,
        unitChange: 2,
        effectiveDate: '2025-03-10',
        adjustedUnitPrice: 10,
        adjustedUnitCost: 8,
      },
    ]);
    expect(scope.isDone()).toBe(true);
  });

  it('leaves a same-day clash pending for the next day’s run instead of moving it (was: to the next free day)', async () => {
    const dates: string[] = [];
    const scope = nock(ZONE)
      .post(Q('ContractServiceUnits'))
      .reply(200, { items: [unitsRow(1)] })
      .post(`${API}/ContractServiceAdjustments`)
      .reply((_uri, body) => {
        dates.push((body as { effectiveDate: string }).effectiveDate);
        return [500, { errors: ['duplicate data into contract_service_period'] }];
      });
    const c = connector();
    const result = await c.apply(adjustOp(), new Map([['cs:c1:p1', 900]]));
    expect(result).toEqual({ itemId: null, unitChange: 2, effectiveDate: '2025-03-10', pending: true });
    // One try, on the planned day only: nothing is ever dated after it.
    expect(dates).toEqual(['2025-03-10']);
    expect(scope.isDone()).toBe(true);
  });

  it('posts nothing when the units already match (a retried op whose post had landed)', async () => {
    nock(ZONE)
      .post(Q('ContractServiceUnits'))
      .reply(200, { items: [unitsRow(3, '2025-03-10', '2025-03-31')] });
    const result = await connector().apply(adjustOp(), new Map([['cs:c1:p1', 900]]));
    expect(result).toMatchObject({ unitChange: 0 });
  });

  it('fails the op, classified permanent, on any other refusal of an adjustment', async () => {
    nock(ZONE)
      .post(Q('ContractServiceUnits'))
      .reply(200, { items: [] })
      .post(`${API}/ContractServiceAdjustments`)
      .reply(500, { errors: ['Units cannot be less than 0'] });
    const c = connector();
    const err = (await c.apply(adjustOp(), new Map([['cs:c1:p1', 900]])).catch((e) => e)) as TargetError;
    expect(err).toBeInstanceOf(TargetError);
    expect(err.message).toContain('Units cannot be less than 0');
    expect(c.classify(err).kind).toBe('permanent');
  });

  it('fails an op whose prerequisite did not run', async () => {
    await expect(connector().apply(adjustOp(), new Map())).rejects.toThrow(/cs:c1:p1/);
  });

  it('never treats a failed lookup as "not found"', async () => {
    const scope = nock(ZONE).post(Q('Contracts')).times(4).reply(503, 'busy');
    const err = await connector()
      .apply(createContract, new Map())
      .catch((e) => e);
    expect(connector().classify(err).kind).toBe('transient');
    expect(scope.isDone()).toBe(true); // and no POST /Contracts was made (nock would have thrown)
  });
});

describe('autotask connector verify', () => {
  it('rejects an unknown user, quoting the zone lookup', async () => {
    nock(LOOKUP)
      .get('/atservicesrest/v1.0/zoneInformation')
      .query(true)
      .reply(500, { errors: ['Zone information could not be determined'] });
    const err = await connector(false)
      .verify()
      .catch((e) => e);
    expect(err).toBeInstanceOf(CredentialsRejectedError);
    expect(err.targetMessage).toBe('Zone information could not be determined');
    expect(err.message).not.toContain('shh-secret');
  });

  it('rejects a wrong secret (401) and names the owner company when accepted', async () => {
    nock(ZONE)
      .post(Q('Companies'))
      .reply(401, { errors: ['User is not authorized'] });
    const err = await connector()
      .verify()
      .catch((e) => e);
    expect(err).toBeInstanceOf(CredentialsRejectedError);
    expect(err.message).toContain('User is not authorized');

    nock(ZONE)
      .post(Q('Companies'))
      .reply(200, { items: [{ id: 0, companyName: 'Example MSP' }] });
    expect(await connector().verify()).toMatchObject({ displayName: 'Example MSP' });
  });

  it('does not call an outage a rejection', async () => {
    nock(ZONE).post(Q('Companies')).times(4).reply(503, 'down');
    const err = await connector()
      .verify()
      .catch((e) => e);
    expect(err).not.toBeInstanceOf(CredentialsRejectedError);
  });
});

const fields = (periodTypes: { value: number; label: string; isActive?: boolean }[]) => ({
  fields: [
    { name: 'id', isPickList: false, picklistValues: null },
    { name: 'periodType', isPickList: true, picklistValues: periodTypes },
  ],
});
const LIVE_PERIODS = [
  { value: 2, label: 'Monthly' },
  { value: 3, label: 'Quarterly' },
  { value: 4, label: 'Semi-Annual' },
  { value: 5, label: 'Yearly' },
];
const SERVICE_FIELDS = `${API}/Services/entityInformation/fields`;
const desired: DesiredState = {
  accountId: 'a',
  today: '2025-03-10',
  timeZone: 'UTC',
  policy: 'change-date',
  effectiveDate: '2025-03-10',
  customers: [{ customerId: 'c1', name: 'Contoso', microsoftTenantId: 't', currency: 'EUR', lines: [] }],
};
const noMapping = () => ({ customers: {}, products: {} });

describe('autotask connector readState', () => {
  it('throws when a read fails instead of reporting nothing found', async () => {
    nock(ZONE)
      .get(SERVICE_FIELDS)
      .reply(200, fields(LIVE_PERIODS))
      .post(Q('Companies'))
      .reply(500, { errors: ['Unable to find companyName in the Companies entity.'] });
    await expect(connector().readState(desired, noMapping(), emptyLedger())).rejects.toThrow(
      /Unable to find companyName/,
    );
  });

  it('reads the Services periodType values of this instance by their labels', async () => {
    const scope = nock(ZONE)
      .get(SERVICE_FIELDS)
      .reply(200, fields(LIVE_PERIODS))
      .post(Q('Companies'))
      .reply(200, { items: [{ id: 100, companyName: 'Contoso', companyType: 1, isActive: true }] })
      .post(Q('Contracts'))
      .reply(200, { items: [] });
    const state = (await connector().readState(desired, noMapping(), emptyLedger())) as AutotaskState;
    expect(state.today).toBe('2025-03-10');
    expect(state.periodTypes).toEqual({ month: 2, year: 5 });
    expect(state.companies.map((c) => c.id)).toEqual([100]);
    expect(scope.isDone()).toBe(true);
  });

  it('refuses to go on when the instance lists no active Monthly and Yearly periodType', async () => {
    nock(ZONE)
      .get(SERVICE_FIELDS)
      .reply(
        200,
        fields([
          { value: 2, label: 'Monthly' },
          { value: 5, label: 'Yearly', isActive: false },
        ]),
      )
      .post(Q('Companies'))
      .reply(200, { items: [] })
      .post(Q('Contracts'))
      .reply(200, { items: [] });
    const c = connector();
    const err = (await c.readState(desired, noMapping(), emptyLedger()).catch((e) => e)) as Error;
    expect(err.message).toMatch(/no active "Monthly" and "Yearly" periodType/);
    expect(c.classify(err).kind).toBe('permanent');
  });
});

describe('autotask connector readState: tenant UDF', () => {
  it('falls back to one eq query per tenant when Autotask refuses `in` on a user-defined field', async () => {
    const c = createAutotaskConnector({
      http: axios.create({ timeout: 2_000 }),
      credentials: { userName: 'u@x', secret: 's', integrationCode: 'i' },
      settings: { serviceBillingCodeId: 29682801, tenantIdUdf: 'Tenant' },
      zoneLookupUrl: `${ZONE}/lookup`,
      zoneUrl: `${ZONE}/ATServicesRest/`,
      client: { sleep: async () => {} },
    });
    const two: DesiredState = {
      ...desired,
      customers: [
        { customerId: 'c1', name: 'Contoso', microsoftTenantId: 't1', currency: 'EUR', lines: [] },
        { customerId: 'c2', name: 'Fabrikam', microsoftTenantId: 't2', currency: 'EUR', lines: [] },
      ],
    };
    const udfFilter = (op: string) => (body: { filter?: { op: string; udf?: boolean }[] }) =>
      body.filter?.[0]?.udf === true && body.filter[0].op === op;
    const company = (id: number, tenant: string) => ({
      id,
      companyName: `Co ${id}`,
      companyType: 1,
      isActive: true,
      userDefinedFields: [{ name: 'Tenant', value: tenant }],
    });
    const scope = nock(ZONE)
      .get(SERVICE_FIELDS)
      .reply(200, fields(LIVE_PERIODS))
      .post(Q('Companies'), (b) => !udfFilter('in')(b) && !udfFilter('eq')(b))
      .reply(200, { items: [] })
      .post(Q('Companies'), udfFilter('in'))
      .reply(500, { errors: ['The in operator is not supported for user-defined fields'] })
      .post(Q('Companies'), udfFilter('eq'))
      .reply(200, { items: [company(7, 't1')] })
      .post(Q('Companies'), udfFilter('eq'))
      .reply(200, { items: [company(8, 't2')] })
      .post(Q('Contracts'))
      .reply(200, { items: [] });
    const state = (await c.readState(two, noMapping(), emptyLedger())) as AutotaskState;
    expect(state.companies.map((x) => x.id).sort()).toEqual([7, 8]);
    expect(scope.isDone()).toBe(true);
  });
});
