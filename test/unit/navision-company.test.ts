import axios from 'axios';
import nock from 'nock';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { NavisionClient } from '../../connectors/navision/client.ts';
import {
  anyOf,
  buildFilter,
  companySegment,
  entityKey,
  FilterError,
  guid,
  odataString,
  queryString,
} from '../../connectors/navision/company.ts';
import { NavisionError } from '../../connectors/navision/errors.ts';
import { NavisionCredentials } from '../../connectors/navision/schemas.ts';

const NAV = 'http://nav.test:7048';
const COMPANY = `A&B Co's "IT"`;
/** The company segment as it must reach NAV: literal quotes, the name's quote doubled, the rest %-encoded. */
const SEGMENT = `Company('A%26B%20Co''s%20%22IT%22')`;

function navClient(company = COMPANY) {
  return new NavisionClient({
    http: axios.create(),
    credentials: NavisionCredentials.parse({
      flavour: 'nav-odata',
      baseUrl: `${NAV}/`,
      serverInstance: 'DynamicsNAV100',
      company,
      auth: { type: 'basic', user: 'SYNC', accessKey: 'k'.repeat(44) },
    }),
    sleep: async () => {},
  });
}

/** Answers every request to NAV with `reply`, keeping the raw request lines (method and path as sent). */
function capture(reply: (method: string, path: string) => [number, unknown]) {
  const seen: string[] = [];
  const scope = nock(NAV).persist();
  for (const method of ['GET', 'POST', 'PATCH', 'DELETE']) {
    scope
      .intercept(() => true, method)
      .reply(function () {
        seen.push(`${method} ${this.req.path}`);
        return reply(method, this.req.path);
      });
  }
  return { seen };
}

beforeAll(() => {
  nock.disableNetConnect();
});
afterEach(() => {
  nock.cleanAll();
});

describe('the company segment', () => {
  it("keeps the quotes literal, doubles the name's own quote and percent-encodes the rest", () => {
    expect(companySegment(COMPANY)).toBe(SEGMENT);
    expect(companySegment('CRONUS USA, Inc.')).toBe(`Company('CRONUS%20USA%2C%20Inc.')`);
    expect(companySegment('Müller #1 / Nord?')).toBe(`Company('M%C3%BCller%20%231%20%2F%20Nord%3F')`);
    expect(companySegment("'")).toBe(`Company('''')`);
  });

  it('reaches NAV byte for byte: no %27 around the name, nothing re-encoded on the way', async () => {
    const { seen } = capture(() => [200, { value: [{ No: 'C1' }] }]);
    const rows = await navClient().list('Customer');
    expect(rows).toEqual([{ No: 'C1' }]);
    expect(seen).toEqual([`GET /DynamicsNAV100/ODataV4/${SEGMENT}/Customer`]);
    expect(seen[0]).not.toContain('%27');
  });

  it('builds key segments of several fields with the same quoting', () => {
    expect(entityKey('SalesInvoice', { Document_Type: 'Invoice', No: "10'01 A&B" })).toBe(
      `SalesInvoice(Document_Type='Invoice',No='10''01%20A%26B')`,
    );
    expect(entityKey('salesInvoices', guid('5D115C9C-44E3-EA11-BB43-000D3A2FEAE8'))).toBe(
      'salesInvoices(5D115C9C-44E3-EA11-BB43-000D3A2FEAE8)',
    );
    expect(() => guid("x') or 1 eq 1")).toThrow(TypeError);
  });

  it('sends an invoice line path with the header key as built', async () => {
    const { seen } = capture(() => [200, { value: [] }]);
    const client = navClient('CRONUS');
    await client.list(client.invoiceLinesPath("SI'1"));
    expect(seen).toEqual([
      `GET /DynamicsNAV100/ODataV4/Company('CRONUS')/SalesInvoice(Document_Type='Invoice',No='SI''1')/SalesInvoiceSalesLines`,
    ]);
  });

  it('refuses a path that was not encoded', async () => {
    await expect(navClient().list('Sales Invoice')).rejects.toThrow(/not encoded/);
  });

  it('proves the company before the first write and writes nothing when NAV answers for another one', async () => {
    const { seen } = capture((method) =>
      method === 'GET' ? [200, { Name: 'CRONUS International Ltd.' }] : [201, { No: 'SI1' }],
    );
    const err = await navClient()
      .create('SalesInvoice', { Sell_to_Customer_No: 'C1' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NavisionError);
    expect((err as NavisionError).code).toBe('CompanyMismatch');
    expect(seen).toEqual([`GET /DynamicsNAV100/ODataV4/${SEGMENT}`]);
  });

  it('checks the company once, then writes', async () => {
    const { seen } = capture((method) =>
      method === 'GET' ? [200, { Name: COMPANY }] : [201, { No: 'SI1' }],
    );
    const client = navClient();
    await client.create('SalesInvoice', { Sell_to_Customer_No: 'C1' });
    await client.create('SalesInvoice', { Sell_to_Customer_No: 'C2' });
    expect(seen).toEqual([
      `GET /DynamicsNAV100/ODataV4/${SEGMENT}`,
      `POST /DynamicsNAV100/ODataV4/${SEGMENT}/SalesInvoice`,
      `POST /DynamicsNAV100/ODataV4/${SEGMENT}/SalesInvoice`,
    ]);
  });
});

describe('OData filters', () => {
  it('quotes string literals by doubling the quote', () => {
    expect(odataString("O'Brien")).toBe(`'O''Brien'`);
    expect(buildFilter({ field: 'Name', op: 'eq', value: "O'Brien & Sons" })).toBe(
      `Name eq 'O''Brien & Sons'`,
    );
  });

  it('writes numbers, booleans, dates and ids bare, functions with their field first', () => {
    expect(
      buildFilter({
        and: [
          { field: 'invoiceDate', op: 'ge', value: { date: '2025-03-01' } },
          { field: 'customerId', op: 'eq', value: guid('5d115c9c-44e3-ea11-bb43-000d3a2feae8') },
          { field: 'blocked', op: 'eq', value: false },
          { field: 'Quantity', op: 'gt', value: 2.5 },
          { field: 'displayName', op: 'startswith', value: "SP'" },
        ],
      }),
    ).toBe(
      `invoiceDate ge 2025-03-01 and customerId eq 5d115c9c-44e3-ea11-bb43-000d3a2feae8 and blocked eq false and Quantity gt 2.5 and startswith(displayName,'SP''')`,
    );
  });

  it('allows OR on one field, in parentheses inside an AND', () => {
    expect(
      buildFilter({ and: [anyOf('No', ['C1', 'C2']), { field: 'Blocked', op: 'eq', value: '_blank_' }] }),
    ).toBe(`(No eq 'C1' or No eq 'C2') and Blocked eq '_blank_'`);
  });

  it('refuses OR across different fields, however nested', () => {
    expect(() =>
      buildFilter({
        or: [
          { field: 'No', op: 'eq', value: 'C1' },
          { field: 'Name', op: 'eq', value: 'Contoso' },
        ],
      }),
    ).toThrow(FilterError);
    expect(() =>
      buildFilter({
        and: [
          { field: 'Type', op: 'eq', value: 'Service' },
          {
            or: [
              { and: [{ field: 'No', op: 'eq', value: 'A' }] },
              { and: [{ field: 'Description', op: 'eq', value: 'A' }] },
            ],
          },
        ],
      }),
    ).toThrow(/OR across different fields \(No, Description\)/);
  });

  it('refuses what is not a field name', () => {
    expect(() => buildFilter({ field: 'No) or (1 eq 1', op: 'eq', value: 'x' })).toThrow(FilterError);
  });

  it('percent-encodes the query itself: spaces as %20, quotes as %27, never +', () => {
    expect(queryString({ $filter: `Name eq 'A B+C'`, $select: 'No,Name', $expand: undefined })).toBe(
      `?$filter=Name%20eq%20%27A%20B%2BC%27&$select=No%2CName`,
    );
  });

  it('sends the filter as built', async () => {
    const { seen } = capture(() => [200, { value: [] }]);
    await navClient('CRONUS').list('Customer', {
      filter: { field: 'Name', op: 'eq', value: "O'Brien & Sons" },
    });
    expect(seen).toEqual([
      `GET /DynamicsNAV100/ODataV4/Company('CRONUS')/Customer?$filter=Name%20eq%20%27O%27%27Brien%20%26%20Sons%27`,
    ]);
  });
});
