import { describe, expect, it } from 'vitest';
import type { AutotaskSandbox } from '../../connectors/autotask/sandbox.ts';
import { autotaskSandboxes } from '../helpers/autotask-sandboxes.ts';

const USER = { userName: 'api@msp.example', secret: 's3cr3t-value', integrationCode: 'INTEGRATION-X' };
const AUTH = { ApiIntegrationCode: USER.integrationCode, UserName: USER.userName, Secret: USER.secret };

const start = autotaskSandboxes({
  users: [USER],
  companies: [
    { companyName: 'Contoso Ltd', udfs: { 'Microsoft Tenant ID': 'aaaa-1111' } },
    { companyName: 'Fabrikam Inc', udfs: { 'Microsoft Tenant ID': 'bbbb-2222' }, currencyID: 2 },
    { companyName: 'Northwind Traders' },
  ],
  currencies: [{ id: 2, name: 'USD', exchangeRate: 0.8 }],
});

// biome-ignore lint/suspicious/noExplicitAny: JSON from the wire
type Json = any;

async function call(
  sb: AutotaskSandbox,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Json }> {
  const res = await fetch(`${sb.apiBaseUrl}V1.0/${path}`, {
    method,
    headers: { 'Content-Type': 'application/json', ...AUTH },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const companyId = (sb: AutotaskSandbox, name: string) =>
  [...sb.db.companies.values()].find((c) => c.companyName === name)!.id;

async function contractFor(sb: AutotaskSandbox, company: string): Promise<number> {
  const res = await call(sb, 'POST', 'Contracts', {
    contractName: `SpinPanel – ${company}`,
    companyID: companyId(sb, company),
    contractType: 7,
    status: 1,
    startDate: '2026-01-01',
    endDate: '2026-12-31',
    timeReportingRequiresStartAndStopTimes: 1,
  });
  expect(res.status).toBe(200);
  return res.body.itemId;
}

const charge = (over: Record<string, unknown> = {}) => ({
  name: 'Microsoft Azure usage 2026-03',
  datePurchased: '2026-03-31',
  chargeType: 1,
  unitQuantity: 1,
  unitPrice: 412.5,
  billingCodeID: 29682802,
  purchaseOrderNumber: 'SP-abc-2026-03',
  ...over,
});

describe('Autotask sandbox: metadata the connector reads', () => {
  it('lists picklists through entityInformation/fields, with the instance’s own values', async () => {
    const sb = await start({
      chargeTypes: [
        { value: 7, label: 'Operational' },
        { value: 8, label: 'Capitalized' },
      ],
    });
    const res = await call(sb, 'GET', 'ContractCharges/entityInformation/fields');
    expect(res.status).toBe(200);
    const chargeType = res.body.fields.find((f: { name: string }) => f.name === 'chargeType');
    expect(chargeType).toMatchObject({ isPickList: true, isRequired: true });
    expect(
      chargeType.picklistValues.map((v: { value: string; label: string }) => [v.value, v.label]),
    ).toEqual([
      ['7', 'Operational'],
      ['8', 'Capitalized'],
    ]);
    const status = (await call(sb, 'GET', 'Contracts/entityInformation/fields')).body.fields.find(
      (f: { name: string }) => f.name === 'status',
    );
    expect(status.picklistValues.map((v: { label: string }) => v.label)).toEqual(['Inactive', 'Active']);
    expect(
      (await call(sb, 'GET', 'Contracts/entityInformation/fields')).body.fields.find(
        (f: { name: string }) => f.name === 'contractName',
      ),
    ).toMatchObject({ isPickList: false, picklistValues: null });
  });

  it('refuses a charge type that is not in the picklist', async () => {
    const sb = await start({ chargeTypes: [{ value: 7, label: 'Operational' }] });
    const contractId = await contractFor(sb, 'Contoso Ltd');
    const bad = await call(sb, 'POST', `Contracts/${contractId}/Charges`, charge({ chargeType: 1 }));
    expect(bad.status).toBe(500);
    expect(bad.body.errors[0]).toMatch(/chargeType 1/);
    expect(
      (await call(sb, 'POST', `Contracts/${contractId}/Charges`, charge({ chargeType: 7 }))).status,
    ).toBe(200);
  });

  it('finds companies by a UDF with an in list, one UDF per query', async () => {
    const sb = await start();
    const res = await call(sb, 'POST', 'Companies/query', {
      filter: [{ op: 'in', field: 'Microsoft Tenant ID', udf: true, value: ['BBBB-2222', 'cccc-3333'] }],
    });
    expect(res.body.items.map((c: { companyName: string }) => c.companyName)).toEqual(['Fabrikam Inc']);
    expect(res.body.items[0].userDefinedFields).toEqual([
      { name: 'Microsoft Tenant ID', value: 'bbbb-2222' },
    ]);
  });
});

describe('Autotask sandbox: charges and prices', () => {
  it('keeps a billed charge immutable while an unbilled one may change', async () => {
    const sb = await start();
    const contractId = await contractFor(sb, 'Contoso Ltd');
    const id = (await call(sb, 'POST', `Contracts/${contractId}/Charges`, charge())).body.itemId;
    expect((await call(sb, 'PATCH', `Contracts/${contractId}/Charges`, { id, unitPrice: 400 })).status).toBe(
      200,
    );
    sb.db.contractCharges.get(id)!.isBilled = true;
    const patch = await call(sb, 'PATCH', `Contracts/${contractId}/Charges`, { id, unitPrice: 1 });
    expect(patch.status).toBe(500);
    expect(patch.body.errors[0]).toMatch(/isBilled/);
    expect((await call(sb, 'DELETE', `Contracts/${contractId}/Charges/${id}`)).status).toBe(500);
    expect(sb.db.contractCharges.get(id)).toMatchObject({ unitPrice: 400, isBilled: true });
  });

  it('keeps customer-currency prices apart from the internal-currency ones', async () => {
    const sb = await start();
    const contractId = await contractFor(sb, 'Fabrikam Inc');
    const serviceId = (
      await call(sb, 'POST', 'Services', {
        name: 'E3',
        unitPrice: 30,
        periodType: 2,
        billingCodeID: 29682801,
      })
    ).body.itemId;
    const csId = (
      await call(sb, 'POST', `Contracts/${contractId}/Services`, { serviceID: serviceId, unitPrice: 30 })
    ).body.itemId;
    expect(sb.db.contractServices.get(csId)).toMatchObject({ unitPrice: 30, internalCurrencyUnitPrice: 24 });
    expect(
      (await call(sb, 'PATCH', `Contracts/${contractId}/Services`, { id: csId, adjustedPrice: 35 })).status,
    ).toBe(200);
    expect(sb.db.contractServices.get(csId)).toMatchObject({
      adjustedPrice: 35,
      internalCurrencyAdjustedPrice: 28,
    });
    // unitPrice is fixed once the service is on the contract; adjustedPrice is the price to change.
    const fixed = await call(sb, 'PATCH', `Contracts/${contractId}/Services`, { id: csId, unitPrice: 31 });
    expect(fixed.status).toBe(500);
  });
});
