import { describe, expect, it } from 'vitest';
import type { AutotaskSandbox } from '../../connectors/autotask/sandbox.ts';
import { autotaskSandboxes } from '../helpers/autotask-sandboxes.ts';

const USER = { userName: 'api@msp.example', secret: 's3cr3t-value', integrationCode: 'INTEGRATION-X' };
const AUTH = { ApiIntegrationCode: USER.integrationCode, UserName: USER.userName, Secret: USER.secret };

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON from the wire
  body: any;
  headers: Headers;
}

const start = autotaskSandboxes({ users: [USER] });

/** Calls `${apiBaseUrl}V1.0/${path}` (or an absolute URL) with the API user's headers unless others are given. */
async function call(
  sb: AutotaskSandbox,
  method: string,
  path: string,
  body?: unknown,
  headers: Record<string, string> = AUTH,
): Promise<Reply> {
  const url = path.startsWith('http') ? path : `${sb.apiBaseUrl}V1.0/${path}`;
  const res = await fetch(url, {
    method,
    headers: { 'Content-Type': 'application/json', ...headers },
    body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined, headers: res.headers };
}

const COMPANIES = [
  { companyName: 'Contoso Ltd', companyType: 1, udfs: { 'Microsoft Tenant ID': 'aaaa-1111' } },
  { companyName: 'Fabrikam Inc', companyType: 1, udfs: { 'Microsoft Tenant ID': 'bbbb-2222' } },
  { companyName: 'Northwind Traders', companyType: 3 },
  { companyName: 'Adventure Works', companyType: 1, isActive: false },
  { companyName: 'Litware', companyType: 2 },
];

/** A recurring-service contract for 2024 on the first company, with one service in the catalog. */
async function contractWithService(sb: AutotaskSandbox): Promise<{ contractId: number; serviceId: number }> {
  const companyId = [...sb.db.companies.keys()][0] as number;
  const contract = await call(sb, 'POST', 'Contracts', {
    contractName: 'SpinPanel managed',
    companyID: companyId,
    contractType: 7,
    status: 1,
    startDate: '2024-01-01',
    endDate: '2024-12-31',
    timeReportingRequiresStartAndStopTimes: 1,
  });
  const service = await call(sb, 'POST', 'Services', {
    name: 'Microsoft 365 Business Premium',
    unitPrice: 22,
    unitCost: 18.5,
    periodType: 2,
    billingCodeID: 29682801,
  });
  expect(contract.status).toBe(200);
  expect(service.status).toBe(200);
  return { contractId: contract.body.itemId, serviceId: service.body.itemId };
}

describe('Autotask sandbox: zone discovery and authentication', () => {
  it('returns the zone for a known user and the Autotask error for an unknown one', async () => {
    const sb = await start();
    const ok = await fetch(`${sb.zoneLookupUrl}?user=${encodeURIComponent(USER.userName)}`);
    expect(ok.status).toBe(200);
    const zone = await ok.json();
    expect(zone).toMatchObject({ zoneName: 'Sandbox', url: sb.apiBaseUrl, ci: 1 });
    expect(zone.url).toBe(`${sb.url}/ATServicesRest/`);

    const unknown = await fetch(`${sb.url}/ATSERVICESREST/V1.0/ZONEINFORMATION?user=nobody@example.com`);
    expect(unknown.status).toBe(500);
    expect(await unknown.json()).toEqual({ errors: ['Zone information could not be determined'] });
    expect(sb.requests.map((r) => [r.entity, r.status])).toEqual([
      ['zoneInformation', 200],
      ['zoneInformation', 500],
    ]);
  });

  it('rejects calls without matching headers with 401 and never records or echoes the secret', async () => {
    const sb = await start();
    const none = await call(sb, 'GET', 'versioninformation', undefined, {});
    expect(none.status).toBe(401);
    expect(none.body.errors[0]).toMatch(/ApiIntegrationCode/);

    const wrong = await call(
      sb,
      'POST',
      'Companies/query',
      { filter: [] },
      { ...AUTH, Secret: 'guessed-secret' },
    );
    expect(wrong.status).toBe(401);
    expect(JSON.stringify(wrong.body)).not.toContain('guessed-secret');

    const otherCode = await call(sb, 'GET', 'versioninformation', undefined, {
      ...AUTH,
      ApiIntegrationCode: 'OTHER',
    });
    expect(otherCode.status).toBe(401);

    const good = await call(sb, 'GET', 'versioninformation');
    expect(good).toMatchObject({ status: 200, body: { apiversions: ['1.0'] } });
    expect(sb.requests.map((r) => r.status)).toEqual([401, 401, 401, 200]);
    expect(JSON.stringify(sb.requests)).not.toContain('guessed-secret');
    expect(JSON.stringify(sb.requests)).not.toContain(USER.secret);
  });
});

describe('Autotask sandbox: queries', () => {
  it('applies in, eq, gt and nested or/and groups, with case-insensitive field names', async () => {
    const sb = await start({ companies: COMPANIES });
    const ids = [...sb.db.companies.keys()];
    const names = (r: Reply) => r.body.items.map((c: { companyName: string }) => c.companyName);

    const byIn = await call(sb, 'POST', 'Companies/query', {
      filter: [{ op: 'in', field: 'ID', value: [ids[1], ids[3], 1] }],
    });
    expect(names(byIn)).toEqual(['Fabrikam Inc', 'Adventure Works']);

    const eqGt = await call(sb, 'POST', 'Companies/query', {
      filter: [
        { op: 'eq', field: 'companytype', value: 1 },
        { op: 'gt', field: 'id', value: ids[0] },
      ],
    });
    expect(names(eqGt)).toEqual(['Fabrikam Inc', 'Adventure Works']);

    const nested = await call(sb, 'POST', 'Companies/query', {
      filter: [
        {
          op: 'or',
          items: [
            { op: 'beginsWith', field: 'companyName', value: 'north' },
            {
              op: 'and',
              items: [
                { op: 'eq', field: 'companyType', value: 1 },
                { op: 'eq', field: 'isActive', value: true },
              ],
            },
          ],
        },
      ],
    });
    expect(names(nested)).toEqual(['Contoso Ltd', 'Fabrikam Inc', 'Northwind Traders']);

    const udf = await call(
      sb,
      'GET',
      `Companies/query?search=${encodeURIComponent(
        JSON.stringify({
          filter: [{ op: 'eq', field: 'Microsoft Tenant ID', value: 'BBBB-2222', udf: true }],
        }),
      )}`,
    );
    expect(names(udf)).toEqual(['Fabrikam Inc']);

    const count = await call(sb, 'POST', 'Companies/query/count', {
      filter: [{ op: 'noteq', field: 'companyType', value: 1 }],
    });
    expect(count.body).toEqual({ queryCount: 2 });

    const narrow = await call(sb, 'POST', 'Companies/query', {
      IncludeFields: ['companyName'],
      filter: [{ op: 'contains', field: 'companyName', value: 'WORK' }],
    });
    expect(narrow.body.items).toEqual([{ id: ids[3], companyName: 'Adventure Works' }]);

    const badField = await call(sb, 'POST', 'Companies/query', {
      filter: [{ op: 'eq', field: 'tenant', value: 1 }],
    });
    expect(badField.status).toBe(500);
    expect(badField.body.errors[0]).toMatch(/tenant/);
  });

  it('refuses MaxRecords outside 1-500 with Autotask’s message', async () => {
    const sb = await start({ companies: COMPANIES });
    for (const max of [501, 0]) {
      const r = await call(sb, 'POST', 'Companies/query', {
        MaxRecords: max,
        filter: [{ op: 'exist', field: 'id' }],
      });
      expect(r.status).toBe(500);
      expect(r.body).toEqual({ errors: ['maxCountOfRecordsToReturn must be between 1 and 500'] });
    }
    const one = await call(sb, 'POST', 'Companies/query', {
      MaxRecords: 1,
      filter: [{ op: 'exist', field: 'id' }],
    });
    expect(one.body.items).toHaveLength(1);
    expect(one.body.pageDetails).toMatchObject({ count: 1, requestCount: 1, prevPageUrl: null });
  });

  it('pages 1,200 services by id-walk, each exactly once; nextPageUrl replays POST and refuses GET', async () => {
    const services = Array.from({ length: 1200 }, (_, i) => ({
      name: `SKU ${i}`,
      unitPrice: i,
      billingCodeID: 29682801,
    }));
    const sb = await start({ services });
    const seen: number[] = [];
    let last = 0;
    let pages = 0;
    for (;;) {
      const r = await call(sb, 'POST', 'Services/query', {
        MaxRecords: 500,
        IncludeFields: ['id', 'name'],
        filter: [{ op: 'gt', field: 'id', value: last }],
      });
      pages += 1;
      const ids: number[] = r.body.items.map((s: { id: number }) => s.id);
      seen.push(...ids);
      if (ids.length < 500) break;
      last = Math.max(...ids);
    }
    expect(pages).toBe(3);
    expect(seen).toHaveLength(1200);
    expect(new Set(seen).size).toBe(1200);
    expect(seen).toEqual([...sb.db.services.keys()].sort((a, b) => a - b));

    const query = { filter: [{ op: 'exist', field: 'id' }] };
    const first = await call(sb, 'POST', 'Services/query', query);
    expect(first.body.items).toHaveLength(500);
    const next = first.body.pageDetails.nextPageUrl as string;
    expect(next).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/ATServicesRest\/V1\.0\/Services\//);
    const asGet = await call(sb, 'GET', next);
    expect(asGet.status).toBe(405);
    expect(asGet.body).toEqual({ Message: "The requested resource does not support http method 'GET'." });
    const second = await call(sb, 'POST', next, query);
    expect(second.body.items[0].id).toBeGreaterThan(first.body.items[499].id);
    const third = await call(sb, 'POST', second.body.pageDetails.nextPageUrl, query);
    expect(third.body.items).toHaveLength(200);
    expect(third.body.pageDetails.nextPageUrl).toBeNull();
  });
});

describe('Autotask sandbox: contracts and contract services', () => {
  it('creates a contract, patches its endDate at the collection URL and keeps contractType read-only', async () => {
    const sb = await start({ companies: COMPANIES });
    const { contractId } = await contractWithService(sb);
    expect(typeof contractId).toBe('number');

    const missing = await call(sb, 'POST', 'Contracts', { companyID: contractId });
    expect(missing.status).toBe(500);
    expect(missing.body.errors[0]).toBe('contractName is required');

    const patched = await call(sb, 'PATCH', 'Contracts', { id: contractId, endDate: '2025-06-30' });
    expect(patched).toMatchObject({ status: 200, body: { itemId: contractId } });
    const item = await call(sb, 'GET', `contracts/${contractId}`);
    expect(item.body.item.endDate.slice(0, 10)).toBe('2025-06-30');
    expect(item.body.item.contractName).toBe('SpinPanel managed');

    const typeChange = await call(sb, 'PATCH', 'Contracts', { id: contractId, contractType: 1 });
    expect(typeChange.status).toBe(500);
    expect(typeChange.body.errors[0]).toMatch(/contractType/);
    expect((await call(sb, 'GET', 'Contracts/1')).status).toBe(404);
  });

  it('creates contract services only under the parent contract URL, once per service', async () => {
    const sb = await start({ companies: COMPANIES });
    const { contractId, serviceId } = await contractWithService(sb);
    const payload = { contractID: contractId, serviceID: serviceId, unitPrice: 22, unitCost: 18.5 };

    const atRoot = await call(sb, 'POST', 'ContractServices', payload);
    expect(atRoot.status).toBe(404);

    const created = await call(sb, 'POST', `Contracts/${contractId}/Services`, payload);
    expect(created.status).toBe(200);
    const again = await call(sb, 'POST', `Contracts/${contractId}/Services`, payload);
    expect(again.status).toBe(500);
    expect(again.body.errors).toHaveLength(1);

    const listed = await call(sb, 'POST', 'ContractServices/query', {
      filter: [{ op: 'eq', field: 'contractID', value: contractId }],
    });
    expect(listed.body.items).toHaveLength(1);
    expect(listed.body.items[0]).toMatchObject({
      id: created.body.itemId,
      serviceID: serviceId,
      unitPrice: 22,
    });
    expect(listed.body.items[0]).not.toHaveProperty('units');
  });
});

describe('Autotask sandbox: unit adjustments', () => {
  it('derives ContractServiceUnits rows from adjustments', async () => {
    const sb = await start({ companies: COMPANIES });
    const { contractId, serviceId } = await contractWithService(sb);
    // The contract service does not exist yet: Autotask creates it for an adjustment naming the service.
    const plus = await call(sb, 'POST', 'ContractServiceAdjustments', {
      contractID: contractId,
      serviceID: serviceId,
      unitChange: 5,
      effectiveDate: '2024-02-01',
    });
    expect(plus.status).toBe(200);
    const cs = [...sb.db.contractServices.values()][0];
    expect(cs).toMatchObject({ contractID: contractId, serviceID: serviceId });
    const minus = await call(sb, 'POST', 'ContractServiceAdjustments', {
      contractID: contractId,
      contractServiceID: cs?.id,
      unitChange: -2,
      effectiveDate: '2024-03-15T00:00:00',
    });
    expect(minus.status).toBe(200);

    expect(sb.unitsAt(cs?.id as number, '2024-01-31')).toBe(0);
    expect(sb.unitsAt(cs?.id as number, '2024-03-14')).toBe(5);
    expect(sb.unitsAt(cs?.id as number, '2024-03-15')).toBe(3);

    const covering = async (day: string) =>
      call(sb, 'POST', 'ContractServiceUnits/query', {
        filter: [
          { op: 'eq', field: 'contractID', value: contractId },
          { op: 'lte', field: 'startDate', value: day },
          { op: 'gte', field: 'endDate', value: day },
        ],
      });
    const march14 = await covering('2024-03-14');
    expect(march14.body.items).toHaveLength(1);
    expect(march14.body.items[0]).toMatchObject({
      contractServiceID: cs?.id,
      serviceID: serviceId,
      units: 5,
      price: 22,
      cost: 18.5,
    });
    expect(march14.body.items[0].startDate.slice(0, 10)).toBe('2024-03-01');
    expect(march14.body.items[0].endDate.slice(0, 10)).toBe('2024-03-14');
    const march20 = await covering('2024-03-20');
    expect(march20.body.items).toHaveLength(1);
    expect(march20.body.items[0]).toMatchObject({ units: 3 });
    expect(march20.body.items[0].startDate.slice(0, 10)).toBe('2024-03-15');

    const all = await call(sb, 'POST', 'ContractServiceUnits/query', {
      filter: [{ op: 'eq', field: 'contractServiceID', value: cs?.id }],
    });
    expect(all.body.items).toHaveLength(13); // 12 months, March split in two
    const again = await call(sb, 'POST', 'ContractServiceUnits/query', {
      filter: [{ op: 'eq', field: 'contractServiceID', value: cs?.id }],
    });
    expect(again.body.items.map((r: { id: number }) => r.id)).toEqual(
      all.body.items.map((r: { id: number }) => r.id),
    );

    const query = await call(sb, 'POST', 'ContractServiceAdjustments/query', {
      filter: [{ op: 'exist', field: 'id' }],
    });
    expect(query.status).toBe(405);
  });

  it('refuses a same-day duplicate, a date outside the contract and a drop below zero', async () => {
    const sb = await start({ companies: COMPANIES });
    const { contractId, serviceId } = await contractWithService(sb);
    const adjust = (unitChange: number, effectiveDate: string) =>
      call(sb, 'POST', 'ContractServiceAdjustments', {
        contractID: contractId,
        serviceID: serviceId,
        unitChange,
        effectiveDate,
      });

    expect((await adjust(4, '2024-05-01')).status).toBe(200);
    const dup = await adjust(1, '2024-05-01');
    expect(dup.status).toBe(500);
    expect(dup.body).toEqual({ errors: ['duplicate data into contract_service_period'] });

    const outside = await adjust(1, '2025-01-01');
    expect(outside.status).toBe(500);
    expect(outside.body.errors[0]).toMatch(/effectiveDate/);

    const negative = await adjust(-5, '2024-06-01');
    expect(negative.status).toBe(500);
    expect(negative.body.errors[0]).toMatch(/less than 0/);

    const halfInt = await adjust(1.5, '2024-07-01');
    expect(halfInt.status).toBe(500);
    expect(halfInt.body.errors[0]).toMatch(/unitChange/);
    expect(sb.db.adjustments).toHaveLength(1);
    expect(sb.unitsAt([...sb.db.contractServices.keys()][0] as number, '2024-12-31')).toBe(4);
  });
});

describe('Autotask sandbox: contract charges and errors', () => {
  it('creates charges only under the contract and queries them at the root', async () => {
    const sb = await start({ companies: COMPANIES });
    const { contractId } = await contractWithService(sb);
    const charge = {
      name: 'Azure usage 2024-03',
      datePurchased: '2024-03-31',
      chargeType: 1,
      unitQuantity: 1,
      unitPrice: 412.5,
      billingCodeID: 29682801,
      purchaseOrderNumber: 'SP-cust-1-2024-03',
    };
    expect((await call(sb, 'POST', 'ContractCharges', { ...charge, contractID: contractId })).status).toBe(
      404,
    );
    const created = await call(sb, 'POST', `Contracts/${contractId}/Charges`, charge);
    expect(created.status).toBe(200);
    const found = await call(sb, 'POST', 'ContractCharges/query', {
      filter: [{ op: 'eq', field: 'purchaseOrderNumber', value: 'SP-cust-1-2024-03' }],
    });
    expect(found.body.items).toHaveLength(1);
    expect(found.body.items[0]).toMatchObject({
      id: created.body.itemId,
      contractID: contractId,
      isBilled: false,
    });
    const noCode = await call(sb, 'POST', `Contracts/${contractId}/Charges`, {
      ...charge,
      billingCodeID: undefined,
    });
    expect(noCode.status).toBe(500);
  });

  it('answers 404 for an unknown entity and 400 for invalid JSON', async () => {
    const sb = await start();
    expect((await call(sb, 'POST', 'Widgets/query', { filter: [] })).status).toBe(404);
    const bad = await call(sb, 'POST', 'Companies/query', '{"filter": [');
    expect(bad.status).toBe(400);
    expect(sb.requests.map((r) => r.status)).toEqual([404, 400]);
  });
});

describe('Autotask sandbox: limits', () => {
  it('refuses the requests beyond 3 in flight on one endpoint with 429 and no Retry-After', async () => {
    const sb = await start({ companies: COMPANIES, latencyMs: 200 });
    const query = { filter: [{ op: 'exist', field: 'id' }] };
    const [replies, other] = await Promise.all([
      Promise.all(Array.from({ length: 5 }, () => call(sb, 'POST', 'Companies/query', query))),
      call(sb, 'GET', 'versioninformation'), // another endpoint has its own 3 threads
    ]);
    const refused = replies.filter((r) => r.status === 429);
    expect(refused).toHaveLength(2);
    expect(replies.filter((r) => r.status === 200)).toHaveLength(3);
    for (const r of refused) {
      expect(r.body).toEqual({ errors: ['API thread threshold of 3 threads has been exceeded'] });
      expect(r.headers.get('retry-after')).toBeNull();
    }
    expect(other.status).toBe(200);
    expect(sb.requests.filter((r) => r.status === 429)).toHaveLength(2);

    sb.configure({ latencyMs: 0 });
    expect((await call(sb, 'POST', 'Companies/query', query)).status).toBe(200);
  });

  it('counts this database’s requests in ThresholdInformation and refuses past the threshold', async () => {
    const sb = await start({ companies: COMPANIES });
    await fetch(`${sb.zoneLookupUrl}?user=${USER.userName}`); // the zone lookup carries no credentials
    for (let i = 0; i < 4; i += 1) await call(sb, 'POST', 'Companies/query', { filter: [] });
    const info = await call(sb, 'GET', 'ThresholdInformation');
    expect(info.body).toEqual({
      externalRequestThreshold: 10000,
      requestThresholdTimeframe: 60,
      currentTimeframeRequestCount: 5,
    });
    const again = await call(sb, 'GET', 'thresholdinformation');
    expect(again.body.currentTimeframeRequestCount).toBe(6);

    sb.configure({ requestThreshold: 7 });
    expect((await call(sb, 'GET', 'versioninformation')).status).toBe(200);
    expect((await call(sb, 'GET', 'versioninformation')).status).toBe(429);
  });
});
