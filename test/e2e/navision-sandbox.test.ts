import { Agent, request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import httpntlm from 'httpntlm';
import { describe, expect, it } from 'vitest';
import { challengeMessage, verifyNtlmV2 } from '../../connectors/navision/sandbox/ntlm.ts';
import {
  type CompanySeed,
  NAVISION_SANDBOX_DEFAULTS as D,
  type NavisionSandbox,
} from '../../connectors/navision/sandbox.ts';
import { navisionSandboxes } from '../helpers/navision-sandboxes.ts';

const CRONUS = D.company;
const AB = `A&B Co's "IT"`;
/** The company segment as the spec asks for it: literal quotes, `'` doubled, the name percent-encoded. */
const seg = (name: string) => `Company('${encodeURIComponent(name.replaceAll("'", "''"))}')`;
const basic = (user: string, key: string) => `Basic ${Buffer.from(`${user}:${key}`).toString('base64')}`;
const NAV_AUTH = basic(D.navUser.userName, D.navUser.webServiceAccessKey);
const BC_AUTH = basic(D.bcUser.userName, D.bcUser.webServiceAccessKey);
const CORRELATION = / {2}CorrelationId: [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.$/;

const SEED: CompanySeed = {
  name: CRONUS,
  customers: [
    { no: 'C0001', name: 'Contoso Ltd' },
    { no: 'C0002', name: "O'Brien Ltd" },
    { no: 'C0003', name: 'Fabrikam Inc' },
  ],
  items: [
    { no: 'M365-BP', description: 'Microsoft 365 Business Premium', unitPrice: 22 },
    { no: 'AZURE', description: 'Azure consumption', unitPrice: 0 },
  ],
};

const start = navisionSandboxes({ companies: [SEED, { name: AB }] });

interface Reply {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON from the wire
  body: any;
  text: string;
  headers: Headers;
}

interface CallInit {
  method?: string;
  body?: unknown;
  headers?: Record<string, string>;
}

/** One request; a destroyed connection answers status 0. */
async function call(url: string, init: CallInit = {}): Promise<Reply> {
  try {
    const res = await fetch(url, {
      method: init.method ?? 'GET',
      headers: init.headers,
      body:
        init.body === undefined
          ? undefined
          : typeof init.body === 'string'
            ? init.body
            : JSON.stringify(init.body),
    });
    const text = await res.text();
    let body: unknown;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      body = text;
    }
    return { status: res.status, body, text, headers: res.headers };
  } catch {
    return { status: 0, body: undefined, text: '', headers: new Headers() };
  }
}

const json = (auth: string, extra: Record<string, string> = {}) => ({
  Authorization: auth,
  'Content-Type': 'application/json',
  ...extra,
});

/** A NAV page request under `Company('<company>')`. */
const nav = (sb: NavisionSandbox, path: string, init: CallInit = {}, company: string = CRONUS) =>
  call(`${sb.navBaseUrl}/${seg(company)}/${path}`, { ...init, headers: json(NAV_AUTH, init.headers) });

const companyId = (sb: NavisionSandbox, name: string = CRONUS) => sb.company(name).id;

/** A BC on-premises API request under `companies(<id>)`. */
const bc = (sb: NavisionSandbox, path: string, init: CallInit = {}, company: string = CRONUS) =>
  call(`${sb.bcOnPremBaseUrl}/companies(${companyId(sb, company)})/${path}`, {
    ...init,
    headers: json(BC_AUTH, init.headers),
  });

async function token(sb: NavisionSandbox, form: Record<string, string> = {}): Promise<Reply> {
  return call(sb.tokenUrl, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: D.client.clientId,
      client_secret: D.client.clientSecret,
      scope: 'https://api.businesscentral.dynamics.com/.default',
      ...form,
    }).toString(),
    headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
  });
}

const invoiceKey = (no: string) => `SalesInvoice(Document_Type='Invoice',No='${no}')`;

describe('NAV page web services: companies and metadata', () => {
  it('lists the companies and serves $metadata with NAV-era MaxLength, configurable per field', async () => {
    const sb = await start();
    const list = await call(`${sb.navBaseUrl}/Company`, { headers: { Authorization: NAV_AUTH } });
    expect(list.status).toBe(200);
    expect(list.body.value.map((c: { Name: string }) => c.Name)).toEqual([CRONUS, AB]);
    const meta = await call(`${sb.navBaseUrl}/$metadata`, { headers: { Authorization: NAV_AUTH } });
    expect(meta.status).toBe(200);
    expect(meta.headers.get('content-type')).toMatch(/xml/);
    const prop = (type: string, name: string) =>
      new RegExp(
        `<EntityType Name="${type}">.*?<Property Name="${name}" Type="Edm.String"[^>]*MaxLength="(\\d+)"`,
      ).exec(meta.text)?.[1];
    expect(prop('Item', 'Description')).toBe('50');
    expect(prop('Customer', 'Name')).toBe('50');
    expect(prop('SalesInvoice', 'External_Document_No')).toBe('35');
    expect(prop('SalesInvoiceSalesLines', 'Description')).toBe('50');
    expect(meta.text).toContain('<NavigationProperty Name="SalesInvoiceSalesLines"');

    const custom = await start({ nav: { fieldLengths: { 'Item.Description': 30 } } });
    const meta2 = await call(`${custom.navBaseUrl}/$metadata`, { headers: { Authorization: NAV_AUTH } });
    expect(meta2.text).toMatch(
      /<EntityType Name="Item">.*?<Property Name="Description" Type="Edm.String"[^>]*MaxLength="30"/,
    );
    const long = await nav(custom, 'Item', {
      method: 'POST',
      body: { No: 'X1', Description: 'x'.repeat(31) },
    });
    expect(long.status).toBe(400);
    expect(long.body.error.code).toBe('Application_StringExceededLength');
  });

  it('uses the published service names it is configured with', async () => {
    const sb = await start({ nav: { services: { customer: 'SP_Customers' } } });
    expect((await nav(sb, 'SP_Customers')).status).toBe(200);
    const old = await nav(sb, 'Customer');
    expect(old.status).toBe(404);
    expect(old.body.error.code).toBe('BadRequest_ResourceNotFound');
  });
});

describe('NAV page web services: the company segment', () => {
  it("routes Company('…') with literal quotes and an encoded name to that company, even A&B Co's \"IT\"", async () => {
    const sb = await start();
    const res = await nav(sb, 'Customer', { method: 'POST', body: { Name: 'Routed right' } }, AB);
    expect(res.status).toBe(201);
    expect(res.body['@odata.context']).toContain(seg(AB));
    expect([...sb.company(AB).customers.values()].map((c) => c.name)).toEqual(['Routed right']);
    expect([...sb.company(CRONUS).customers.values()].some((c) => c.name === 'Routed right')).toBe(false);
    expect(sb.requests.at(-1)).toMatchObject({ company: AB, entity: 'Customer', status: 201 });
  });

  it('silently writes to the DEFAULT company when the quotes arrive percent-encoded, as NAV does', async () => {
    const sb = await start();
    const encoded = `Company(%27${encodeURIComponent(AB.replaceAll("'", "''")).replaceAll("'", '%27')}%27)`;
    const res = await call(`${sb.navBaseUrl}/${encoded}/Customer`, {
      method: 'POST',
      body: { Name: 'Wrong company' },
      headers: json(NAV_AUTH),
    });
    expect(res.status).toBe(201);
    expect([...sb.company(CRONUS).customers.values()].some((c) => c.name === 'Wrong company')).toBe(true);
    expect(sb.company(AB).customers.size).toBe(0);
    expect(sb.requests.at(-1)?.company).toBe(CRONUS);
  });

  it('takes ?company= and the default company without a segment, and refuses an unknown company', async () => {
    const sb = await start();
    const q = await call(`${sb.navBaseUrl}/Customer?company=${encodeURIComponent(AB)}`, {
      headers: json(NAV_AUTH),
    });
    expect(q.status).toBe(200);
    expect(sb.requests.at(-1)?.company).toBe(AB);
    const none = await call(`${sb.navBaseUrl}/Customer`, { headers: json(NAV_AUTH) });
    expect(none.body.value).toHaveLength(3);
    const unknown = await nav(sb, 'Customer', {}, 'No Such Co');
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.code).toBe('Internal_CompanyNotFound');

    const noDefault = await start({ defaultCompany: null });
    const fails = await call(`${noDefault.navBaseUrl}/Customer`, { headers: json(NAV_AUTH) });
    expect(fails.status).toBe(400);
    expect(fails.body.error.message).toMatch(
      /^Cannot process the request because the default company cannot be found/,
    );
  });
});

describe('NAV page web services: writes', () => {
  it('upper-cases code fields, numbers customers from the series, and refuses text over MaxLength', async () => {
    const sb = await start();
    const own = await nav(sb, 'Customer', { method: 'POST', body: { No: 'c-low', Name: 'Lower case' } });
    expect(own.status).toBe(201);
    expect(own.body.No).toBe('C-LOW');
    expect(own.headers.get('location')).toContain(`Customer('C-LOW')`);
    const drawn = await nav(sb, 'Customer', { method: 'POST', body: { Name: 'From the series' } });
    expect(drawn.body.No).toBe('C00010');
    expect((await nav(sb, "Customer('c-low')")).body.Name).toBe('Lower case');

    const long = 'N'.repeat(51);
    const tooLong = await nav(sb, 'Customer', { method: 'POST', body: { Name: long } });
    expect(tooLong.status).toBe(400);
    expect(tooLong.body.error.code).toBe('Application_StringExceededLength');
    expect(tooLong.body.error.message).toMatch(
      new RegExp(
        `^The length of the string is 51, but it must be less than or equal to 50 characters. Value: ${long}`,
      ),
    );
    expect(tooLong.body.error.message).toMatch(CORRELATION);
    expect(sb.company(CRONUS).series.customer.next).toBe('C00011');
  });

  it('creates the header, then lines through the lines part; refuses deep insert, own numbers and the LCY code', async () => {
    const sb = await start();
    const deep = await nav(sb, 'SalesInvoice', {
      method: 'POST',
      body: {
        Sell_to_Customer_No: 'C0001',
        SalesInvoiceSalesLines: [{ Type: 'Item', No: 'M365-BP', Quantity: 1 }],
      },
    });
    expect(deep.status).toBe(400);
    expect(sb.company(CRONUS).invoices.size).toBe(0);

    const ownNo = await nav(sb, 'SalesInvoice', {
      method: 'POST',
      body: { No: 'X1', Sell_to_Customer_No: 'C0001' },
    });
    expect(ownNo.status).toBe(400);
    expect(ownNo.body.error).toMatchObject({ code: 'Application_DialogException' });
    expect(ownNo.body.error.message).toMatch(/^You may not enter numbers manually/);

    const lcy = await nav(sb, 'SalesInvoice', {
      method: 'POST',
      body: { Sell_to_Customer_No: 'C0001', Currency_Code: 'USD' },
    });
    expect(lcy.status).toBe(400);
    expect(lcy.body.error.code).toBe('Internal_InvalidTableRelation');

    const head = await nav(sb, 'SalesInvoice', {
      method: 'POST',
      body: { Sell_to_Customer_No: 'c0001', External_Document_No: 'sp-2024-01-c0001' },
    });
    expect(head.status).toBe(201);
    expect(head.body).toMatchObject({
      Document_Type: 'Invoice',
      No: '1001',
      Sell_to_Customer_No: 'C0001',
      Sell_to_Customer_Name: 'Contoso Ltd',
      External_Document_No: 'SP-2024-01-C0001',
      Currency_Code: '',
    });
    const lines = `${invoiceKey('1001')}/SalesInvoiceSalesLines`;
    const item = await nav(sb, lines, { method: 'POST', body: { Type: 'Item', No: 'm365-bp', Quantity: 3 } });
    expect(item.status).toBe(201);
    expect(item.body).toMatchObject({
      Document_No: '1001',
      Line_No: 10000,
      No: 'M365-BP',
      Description: 'Microsoft 365 Business Premium',
      Unit_Price: 22,
      Line_Amount: 66,
    });
    const gl = await nav(sb, lines, {
      method: 'POST',
      body: {
        Type: 'G_L_Account',
        No: '6110',
        Quantity: 1,
        Unit_Price: 12.5,
        Description: 'Azure usage 2024-01',
      },
    });
    expect(gl.body).toMatchObject({ Line_No: 20000, Type: 'G_L_Account', Line_Amount: 12.5 });
    const comment = await nav(sb, lines, {
      method: 'POST',
      body: { Description: 'No type', Quantity: 5, Unit_Price: 9 },
    });
    expect(comment.body).toMatchObject({ Type: '_blank_', Quantity: 0, Line_Amount: 0 });
    const typeless = await nav(sb, lines, { method: 'POST', body: { No: 'M365-BP', Quantity: 1 } });
    expect(typeless.status).toBe(400);
    expect(typeless.body.error.message).toMatch(/^The Standard Text does not exist/);

    const longLine = await nav(sb, lines, {
      method: 'POST',
      body: { Type: 'Item', No: 'M365-BP', Quantity: 1, Description: 'D'.repeat(51) },
    });
    expect(longLine.body.error.code).toBe('Application_StringExceededLength');

    const filtered = await nav(sb, `SalesInvoiceSalesLines?$filter=Document_No eq '1001'`);
    expect(filtered.body.value.map((l: { Line_No: number }) => l.Line_No)).toEqual([10000, 20000, 30000]);
    const expanded = await nav(sb, `${invoiceKey('1001')}?$expand=SalesInvoiceSalesLines`);
    expect(expanded.body.SalesInvoiceSalesLines).toHaveLength(3);
  });

  it('needs If-Match on PATCH and DELETE: missing → 400, stale → 409, * accepted; lines change the header ETag', async () => {
    const sb = await start();
    const c = await nav(sb, "Customer('C0001')");
    const etag = c.body['@odata.etag'] as string;
    expect(etag).toMatch(/^W\/"JzQ0O[A-Za-z0-9+/=]+"$/);
    expect(c.headers.get('etag')).toBe(etag);

    const missing = await nav(sb, "Customer('C0001')", { method: 'PATCH', body: { Name: 'No token' } });
    expect(missing.status).toBe(400);
    expect(missing.body.error.code).toBe('BadRequest_InvalidToken');
    const inBody = await nav(sb, "Customer('C0001')", {
      method: 'PATCH',
      body: { '@odata.etag': etag, Name: 'Etag in the body' },
    });
    expect(inBody.status).toBe(400);

    const ok = await nav(sb, "Customer('C0001')", {
      method: 'PATCH',
      body: { Name: 'Renamed' },
      headers: { 'If-Match': etag },
    });
    expect(ok.status).toBe(200);
    expect(ok.body.Name).toBe('Renamed');
    expect(ok.body['@odata.etag']).not.toBe(etag);

    const stale = await nav(sb, "Customer('C0001')", {
      method: 'PATCH',
      body: { Name: 'Late' },
      headers: { 'If-Match': etag },
    });
    expect(stale.status).toBe(409);
    expect(stale.body.error.code).toBe('Request_EntityChanged');
    expect(stale.body.error.message).toMatch(
      /^Another user has already changed the record\. {2}CorrelationId: /,
    );
    expect(sb.company(CRONUS).customers.get('C0001')?.name).toBe('Renamed');

    const star = await nav(sb, "Customer('C0001')", {
      method: 'PATCH',
      body: { Name: 'Star' },
      headers: { 'If-Match': '*' },
    });
    expect(star.status).toBe(200);

    const head = await nav(sb, 'SalesInvoice', { method: 'POST', body: { Sell_to_Customer_No: 'C0001' } });
    const headerTag = head.body['@odata.etag'] as string;
    await nav(sb, `${invoiceKey('1001')}/SalesInvoiceSalesLines`, {
      method: 'POST',
      body: { Type: 'Item', No: 'M365-BP', Quantity: 1 },
    });
    const after = await nav(sb, invoiceKey('1001'));
    expect(after.body['@odata.etag']).not.toBe(headerTag);
    const old = await nav(sb, invoiceKey('1001'), {
      method: 'PATCH',
      body: { External_Document_No: 'SP-X' },
      headers: { 'If-Match': headerTag },
    });
    expect(old.status).toBe(409);

    const delNoTag = await nav(sb, invoiceKey('1001'), { method: 'DELETE' });
    expect(delNoTag.status).toBe(400);
    const del = await nav(sb, invoiceKey('1001'), {
      method: 'DELETE',
      headers: { 'If-Match': after.body['@odata.etag'] },
    });
    expect(del.status).toBe(204);
    expect(sb.company(CRONUS).invoices.size).toBe(0);
  });

  it('refuses POST and PATCH bodies not declared application/json, with a correlation id in the error', async () => {
    const sb = await start();
    const res = await call(`${sb.navBaseUrl}/${seg(CRONUS)}/Customer`, {
      method: 'POST',
      body: JSON.stringify({ Name: 'Plain text' }),
      headers: { Authorization: NAV_AUTH, 'Content-Type': 'text/plain' },
    });
    expect(res.status).toBe(415);
    expect(res.body.error.message).toMatch(CORRELATION);
    expect(sb.company(CRONUS).customers.size).toBe(3);
  });
});

describe('NAV page web services: posting', () => {
  async function draft(sb: NavisionSandbox, customer = 'C0001') {
    const head = await nav(sb, 'SalesInvoice', {
      method: 'POST',
      body: { Sell_to_Customer_No: customer, External_Document_No: 'SP-2024-02' },
    });
    expect(head.status).toBe(201);
    const line = await nav(sb, `${invoiceKey(head.body.No)}/SalesInvoiceSalesLines`, {
      method: 'POST',
      body: { Type: 'Item', No: 'M365-BP', Quantity: 2 },
    });
    expect(line.status).toBe(201);
    return head.body.No as string;
  }

  it('NAV.Post moves the invoice to PostedSalesInvoice with a posted number; posted invoices are read-only', async () => {
    const sb = await start();
    const no = await draft(sb);
    const wrongPrefix = await nav(sb, `${invoiceKey(no)}/Microsoft.NAV.Post`, { method: 'POST' });
    expect(wrongPrefix.status).toBe(404);
    const posted = await nav(sb, `${invoiceKey(no)}/NAV.Post`, { method: 'POST' });
    expect(posted.status).toBe(204);
    expect((await nav(sb, invoiceKey(no))).status).toBe(404);
    const found = await nav(sb, `PostedSalesInvoice?$filter=External_Document_No eq 'sp-2024-02'`);
    expect(found.body.value).toHaveLength(1);
    expect(found.body.value[0]).toMatchObject({ No: '103001', Pre_Assigned_No: no, Amount: 44 });
    const lines = await nav(sb, `PostedSalesInvoice('103001')/PostedSalesInvoiceSalesInvLines`);
    expect(lines.body.value.map((l: { No: string }) => l.No)).toEqual(['M365-BP']);

    const tag = found.body.value[0]['@odata.etag'];
    const patch = await nav(sb, "PostedSalesInvoice('103001')", {
      method: 'PATCH',
      body: { External_Document_No: 'X' },
      headers: { 'If-Match': tag },
    });
    expect(patch.status).toBe(405);
    expect((await nav(sb, 'PostedSalesInvoice', { method: 'POST', body: {} })).status).toBe(405);
    const del = await nav(sb, "PostedSalesInvoice('103001')", {
      method: 'DELETE',
      headers: { 'If-Match': '*' },
    });
    expect(del.status).toBe(405);
    expect(sb.company(CRONUS).posted.get('103001')?.externalDocumentNo).toBe('SP-2024-02');
  });

  it('has no bound action when none is published (NAV 2016/2017)', async () => {
    const sb = await start({ nav: { postAction: null } });
    const no = await draft(sb);
    const res = await nav(sb, `${invoiceKey(no)}/NAV.Post`, { method: 'POST' });
    expect(res.status).toBe(501);
    expect(res.body.error.code).toBe('BadRequest_MethodNotImplemented');
    expect(sb.company(CRONUS).invoices.has(no)).toBe(true);
  });

  it('fails posting with a clear error while the customer or item lacks posting groups, and changes nothing', async () => {
    const sb = await start();
    const cust = await nav(sb, 'Customer', { method: 'POST', body: { Name: 'No groups' } });
    const item = await nav(sb, 'Item', {
      method: 'POST',
      body: { No: 'BARE', Description: 'Bare', Type: 'Service' },
    });
    expect(item.body).toMatchObject({ No: 'BARE', Gen_Prod_Posting_Group: '' });
    const head = await nav(sb, 'SalesInvoice', {
      method: 'POST',
      body: { Sell_to_Customer_No: cust.body.No },
    });
    await nav(sb, `${invoiceKey(head.body.No)}/SalesInvoiceSalesLines`, {
      method: 'POST',
      body: { Type: 'Item', No: 'BARE', Quantity: 1, Unit_Price: 5 },
    });
    const first = await nav(sb, `${invoiceKey(head.body.No)}/NAV.Post`, { method: 'POST' });
    expect(first.status).toBe(400);
    expect(first.body.error.code).toBe('Application_FieldValidationException');
    expect(first.body.error.message).toMatch(
      new RegExp(
        `^Gen\\. Bus\\. Posting Group must have a value in Customer: No\\.=${cust.body.No}\\. It cannot be zero or empty\\.`,
      ),
    );
    const groups = {
      Gen_Bus_Posting_Group: 'DOMESTIC',
      VAT_Bus_Posting_Group: 'DOMESTIC',
      Customer_Posting_Group: 'DOMESTIC',
    };
    const badGroup = await nav(sb, `Customer('${cust.body.No}')`, {
      method: 'PATCH',
      body: { ...groups, Customer_Posting_Group: 'NOPE' },
      headers: { 'If-Match': '*' },
    });
    expect(badGroup.body.error.code).toBe('Internal_InvalidTableRelation');
    await nav(sb, `Customer('${cust.body.No}')`, {
      method: 'PATCH',
      body: groups,
      headers: { 'If-Match': '*' },
    });
    const second = await nav(sb, `${invoiceKey(head.body.No)}/NAV.Post`, { method: 'POST' });
    expect(second.body.error.message).toMatch(
      /^Gen\. Prod\. Posting Group must have a value in Item: No\.=BARE\./,
    );
    expect(sb.company(CRONUS).posted.size).toBe(0);
    await nav(sb, "Item('BARE')", {
      method: 'PATCH',
      body: { Gen_Prod_Posting_Group: 'SERVICES', VAT_Prod_Posting_Group: 'VAT25' },
      headers: { 'If-Match': '*' },
    });
    expect((await nav(sb, `${invoiceKey(head.body.No)}/NAV.Post`, { method: 'POST' })).status).toBe(204);
  });
});

describe('NAV page web services: reading', () => {
  const many = (n: number): CompanySeed => ({
    name: CRONUS,
    customers: Array.from({ length: n }, (_, i) => ({
      no: `K${String(i + 1).padStart(5, '0')}`,
      name: `Customer ${i + 1}`,
    })),
  });

  it('pages by @odata.nextLink at 1,000 by default and at the configured size', async () => {
    const sb = await start({ companies: [many(1001)] });
    const first = await nav(sb, 'Customer');
    expect(first.body.value).toHaveLength(1000);
    const second = await call(first.body['@odata.nextLink'], { headers: json(NAV_AUTH) });
    expect(second.body.value.map((c: { No: string }) => c.No)).toEqual(['K01001']);
    expect(second.body['@odata.nextLink']).toBeUndefined();

    sb.configure({ navPageSize: 10 });
    const seen: string[] = [];
    let url: string | undefined =
      `${sb.navBaseUrl}/${seg(CRONUS)}/Customer?$filter=startswith(No,'K000')&$select=No,Name`;
    let pages = 0;
    while (url) {
      const page: Reply = await call(url, { headers: json(NAV_AUTH) });
      expect(page.status).toBe(200);
      expect(Object.keys(page.body.value[0])).toEqual(['@odata.etag', 'No', 'Name']);
      seen.push(...page.body.value.map((c: { No: string }) => c.No));
      url = page.body['@odata.nextLink'];
      pages++;
    }
    expect(pages).toBe(10);
    expect(seen).toHaveLength(99);
    expect(new Set(seen).size).toBe(99);
  });

  it('drops the nextLink when $top is given, so rows past the page are silently missing', async () => {
    const sb = await start({ companies: [many(25)], nav: { pageSize: 10 } });
    const top = await nav(sb, 'Customer?$top=15');
    expect(top.body.value).toHaveLength(10);
    expect(top.body['@odata.nextLink']).toBeUndefined();
    const prefer = await nav(sb, 'Customer', { headers: { Prefer: 'odata.maxpagesize=4' } });
    expect(prefer.body.value).toHaveLength(4);
    expect(prefer.headers.get('preference-applied')).toBe('odata.maxpagesize=4');
    expect(prefer.body['@odata.nextLink']).toContain('$skiptoken=');
  });

  it('filters with eq ne gt ge lt le and or, startswith endswith contains, quotes doubled; refuses OR across fields', async () => {
    const sb = await start();
    const names = async (filter: string) =>
      (await nav(sb, `Customer?$filter=${encodeURIComponent(filter)}`)).body.value?.map(
        (c: { No: string }) => c.No,
      );
    expect(await names("Name eq 'O''Brien Ltd'")).toEqual(['C0002']);
    expect(await names("No eq 'C0001' or No eq 'c0003'")).toEqual(['C0001', 'C0003']);
    expect(await names("No ne 'C0001' and No le 'C0002'")).toEqual(['C0002']);
    expect(await names("No gt 'C0001' and No lt 'C0003'")).toEqual(['C0002']);
    expect(await names("No ge 'C0002'")).toEqual(['C0002', 'C0003']);
    expect(await names("startswith(Name,'Fab')")).toEqual(['C0003']);
    expect(await names("endswith(Name,'Ltd')")).toEqual(['C0001', 'C0002']);
    expect(await names("contains(Name,'Brien')")).toEqual(['C0002']);

    const or = await nav(
      sb,
      `Customer?$filter=${encodeURIComponent("No eq 'C0001' or Name eq 'Fabrikam Inc'")}`,
    );
    expect(or.status).toBe(501);
    expect(or.body.error).toMatchObject({ code: 'BadRequest_MethodNotImplemented' });
    expect(or.body.error.message).toMatch(
      /^The 'OR' operator is not supported on distinct fields on an OData filter\./,
    );
    const unquoted = await nav(sb, `Customer?$filter=${encodeURIComponent('No eq 10000')}`);
    expect(unquoted.status).toBe(400);
    const unknown = await nav(sb, `Customer?$filter=${encodeURIComponent("Nope eq 'x'")}`);
    expect(unknown.status).toBe(400);
    expect(unknown.body.error.message).toMatch(/Nope/);
  });
});

describe('NAV authentication', () => {
  it('takes Basic with the web service access key and refuses a wrong key, recording no secret', async () => {
    const sb = await start();
    const wrong = await call(`${sb.navBaseUrl}/Company`, {
      headers: { Authorization: basic(D.navUser.userName, 'guessed') },
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error.code).toBe('Authentication_InvalidCredentials');
    expect(wrong.headers.get('www-authenticate')).toMatch(/^Basic/);
    expect((await call(`${sb.navBaseUrl}/Company`)).status).toBe(401);
    const ok = await call(`${sb.navBaseUrl}/Company`, { headers: { Authorization: NAV_AUTH } });
    expect(ok.status).toBe(200);
    const log = JSON.stringify(sb.requests);
    expect(log).not.toContain(D.navUser.webServiceAccessKey);
    expect(log).not.toContain('guessed');
    expect(log).not.toContain(NAV_AUTH);
    expect(sb.requests.map((r) => [r.flavour, r.status, r.user])).toEqual([
      ['nav', 401, undefined],
      ['nav', 401, undefined],
      ['nav', 200, D.navUser.userName],
    ]);
  });
});

interface Raw {
  status: number;
  headers: IncomingHttpHeaders;
  rawHeaders: string[];
  body: string;
  localPort?: number;
}

/** A request over node:http on the given agent (one keep-alive socket per agent), reading the whole answer. */
function raw(agent: Agent, url: string, headers: Record<string, string> = {}): Promise<Raw> {
  return new Promise((ok, fail) => {
    const req = httpRequest(url, { agent, headers }, (res) => {
      const localPort = res.socket?.localPort;
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () =>
        ok({
          status: res.statusCode ?? 0,
          headers: res.headers,
          rawHeaders: res.rawHeaders,
          body: Buffer.concat(chunks).toString(),
          localPort,
        }),
      );
    });
    req.on('error', fail);
    req.end();
  });
}

describe('NAV Windows authentication (NTLM)', () => {
  const W = D.windowsUser;
  const ntlm = httpntlm.ntlm;
  const options: { username: string; password: string; domain: string; workstation: string } = {
    username: W.userName,
    password: W.password,
    domain: W.domain,
    workstation: 'WS01',
  };
  const startWindows = () => start({ nav: { auth: 'windows' } });
  const type2Of = (header: string | undefined) => {
    const msg = ntlm.parseType2Message((header ?? '').replace(/^Negotiate /, 'NTLM '), (e) => {
      throw e;
    });
    if (!msg) throw new Error('no type 2');
    return msg;
  };

  it('offers Negotiate and NTLM, and completes Type 1 → Type 2 → Type 3 on one keep-alive socket', async () => {
    const sb = await startWindows();
    const url = `${sb.navBaseUrl}/Company`;
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    try {
      const offer = await raw(agent, url);
      expect(offer.status).toBe(401);
      const offered = offer.rawHeaders.filter(
        (_, i, a) => i % 2 === 1 && a[i - 1]?.toLowerCase() === 'www-authenticate',
      );
      expect(offered).toEqual(['Negotiate', 'NTLM']);
      const challenge = await raw(agent, url, { Authorization: ntlm.createType1Message(options) });
      expect(challenge.status).toBe(401);
      expect(challenge.headers['www-authenticate']).toMatch(/^NTLM [A-Za-z0-9+/=]+$/);
      const done = await raw(agent, url, {
        Authorization: ntlm.createType3Message(type2Of(challenge.headers['www-authenticate']), options),
      });
      expect(done.status).toBe(200);
      expect(JSON.parse(done.body).value).toHaveLength(2);
      expect(done.localPort).toBe(challenge.localPort);
      // The connection stays authenticated.
      expect((await raw(agent, url)).status).toBe(200);
      expect(sb.requests.at(-1)?.user).toBe(`${W.domain}\\${W.userName}`);
    } finally {
      agent.destroy();
    }
  });

  it('refuses a Type 3 that arrives on another socket with 400, as http.sys does', async () => {
    const sb = await startWindows();
    const url = `${sb.navBaseUrl}/Company`;
    const [a, b] = [
      new Agent({ keepAlive: true, maxSockets: 1 }),
      new Agent({ keepAlive: true, maxSockets: 1 }),
    ];
    try {
      const challenge = await raw(a, url, { Authorization: ntlm.createType1Message(options) });
      const type3 = ntlm.createType3Message(type2Of(challenge.headers['www-authenticate']), options);
      const elsewhere = await raw(b, url, { Authorization: type3 });
      expect(elsewhere.status).toBe(400);
      expect(elsewhere.localPort).not.toBe(challenge.localPort);
    } finally {
      a.destroy();
      b.destroy();
    }
  });

  it('verifies the NTLMv2 response: a wrong password or user is refused, Negotiate with a raw NTLM token works', async () => {
    const sb = await startWindows();
    const url = `${sb.navBaseUrl}/Company`;
    const attempt = async (opts: typeof options, scheme = 'NTLM') => {
      const agent = new Agent({ keepAlive: true, maxSockets: 1 });
      try {
        const t1 = ntlm.createType1Message(opts).replace(/^NTLM/, scheme);
        const challenge = await raw(agent, url, { Authorization: t1 });
        const t3 = ntlm
          .createType3Message(type2Of(challenge.headers['www-authenticate']), opts)
          .replace(/^NTLM/, scheme);
        return (await raw(agent, url, { Authorization: t3 })).status;
      } finally {
        agent.destroy();
      }
    };
    expect(await attempt({ ...options, password: 'wrong' })).toBe(401);
    expect(await attempt({ ...options, username: 'someone' })).toBe(401);
    expect(await attempt({ ...options, domain: 'OTHER' })).toBe(401);
    expect(await attempt(options, 'Negotiate')).toBe(200);
    expect(JSON.stringify(sb.requests)).not.toContain(W.password);
  });

  it('checks NTLMv2 exactly as MS-NLMP 4.2.4 computes it', () => {
    const u = (s: string) => Buffer.from(s, 'utf16le');
    const av = (t: number, v: Buffer) => Buffer.concat([Buffer.from([t, 0, v.length, 0]), v]);
    const targetInfo = Buffer.concat([av(2, u('Domain')), av(1, u('Server')), Buffer.alloc(4)]);
    const temp = Buffer.concat([
      Buffer.from([1, 1, 0, 0, 0, 0, 0, 0]),
      Buffer.alloc(8),
      Buffer.alloc(8, 0xaa),
      Buffer.alloc(4),
      targetInfo,
      Buffer.alloc(4),
    ]);
    const response = Buffer.concat([Buffer.from('68cd0ab851e51c96aabc927bebef6a1c', 'hex'), temp]);
    const challenge = Buffer.from('0123456789abcdef', 'hex');
    expect(verifyNtlmV2(response, challenge, 'User', 'Domain', 'Password')).toBe(true);
    expect(verifyNtlmV2(response, challenge, 'User', 'Domain', 'password')).toBe(false);
    expect(verifyNtlmV2(response, Buffer.from('0123456789abcdee', 'hex'), 'User', 'Domain', 'Password')).toBe(
      false,
    );
    const msg = challengeMessage('SANDBOX', 'NAVSRV', challenge);
    expect(msg.subarray(0, 12)).toEqual(Buffer.from('NTLMSSP\0\u0002\0\0\0', 'latin1'));
    expect(msg.subarray(24, 32)).toEqual(challenge);
  });
});

describe('Business Central API v2.0 on-premises', () => {
  it('lists companies by GUID and serves camelCase customers and items with ids and ETags', async () => {
    const sb = await start();
    const list = await call(`${sb.bcOnPremBaseUrl}/companies`, { headers: { Authorization: BC_AUTH } });
    expect(list.body.value.map((c: { name: string }) => c.name)).toEqual([CRONUS, AB]);
    expect(list.body.value[0].id).toBe(companyId(sb));
    const customers = await bc(sb, "customers?$filter=number eq 'c0002'");
    expect(customers.body.value).toHaveLength(1);
    expect(customers.body.value[0]).toMatchObject({
      number: 'C0002',
      displayName: "O'Brien Ltd",
      currencyCode: 'USD',
    });
    expect(customers.body.value[0].id).toMatch(/^[0-9a-f-]{36}$/);
    expect(customers.body.value[0]['@odata.etag']).toMatch(/^W\/"JzQ0O/);
    const one = await bc(sb, `customers(${customers.body.value[0].id})`);
    expect(one.body.number).toBe('C0002');
    const quoted = await bc(sb, `customers('${customers.body.value[0].id}')`);
    expect(quoted.status).toBe(400);
    const created = await bc(sb, 'items', {
      method: 'POST',
      body: { number: 'teams-ess', displayName: 'Teams Essentials', type: 'Service' },
    });
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ number: 'TEAMS-ESS', generalProductPostingGroupCode: 'SERVICES' });
    const long = await bc(sb, 'items', { method: 'POST', body: { displayName: 'x'.repeat(101) } });
    expect(long.body.error.message).toMatch(
      /^The length of the string is 101, but it must be less than or equal to 100/,
    );
  });

  it('creates an invoice with its lines in one atomic deep insert; a bad line leaves nothing behind', async () => {
    const sb = await start();
    const bad = await bc(sb, 'salesInvoices', {
      method: 'POST',
      body: {
        customerNumber: 'C0001',
        externalDocumentNumber: 'sp-2024-03-c0001',
        salesInvoiceLines: [
          { lineType: 'Item', lineObjectNumber: 'M365-BP', quantity: 2 },
          { lineType: 'Item', lineObjectNumber: 'NO-SUCH-ITEM', quantity: 1 },
        ],
      },
    });
    expect(bad.status).toBe(400);
    expect(sb.company(CRONUS).invoices.size).toBe(0);
    expect(sb.company(CRONUS).series.salesInvoice.next).toBe('1001');

    const noCustomer = await bc(sb, 'salesInvoices', {
      method: 'POST',
      body: { externalDocumentNumber: 'X' },
    });
    expect(noCustomer.body.error.message).toMatch(/^A customerNumber or a customerID must be provided\./);
    const ownNumber = await bc(sb, 'salesInvoices', {
      method: 'POST',
      body: { number: 'MINE', customerNumber: 'C0001' },
    });
    expect(ownNumber.body.error.message).toMatch(/^You may not enter numbers manually/);

    const ok = await bc(sb, 'salesInvoices', {
      method: 'POST',
      body: {
        customerNumber: 'C0001',
        externalDocumentNumber: 'sp-2024-03-c0001',
        currencyCode: 'USD',
        invoiceDate: '2024-03-31',
        salesInvoiceLines: [
          { lineType: 'Item', lineObjectNumber: 'M365-BP', quantity: 2, description: 'M365 BP, March' },
          {
            lineType: 'Account',
            lineObjectNumber: '6110',
            quantity: 1,
            unitPrice: 30.25,
            description: 'Azure',
          },
        ],
      },
    });
    expect(ok.status).toBe(201);
    expect(ok.body).toMatchObject({
      number: '1001',
      externalDocumentNumber: 'SP-2024-03-C0001',
      status: 'Draft',
      currencyCode: 'USD',
      invoiceDate: '2024-03-31',
      totalAmountExcludingTax: 74.25,
    });
    expect(ok.body.salesInvoiceLines.map((l: { sequence: number }) => l.sequence)).toEqual([10000, 20000]);
    expect(sb.company(CRONUS).invoices.get('1001')?.currencyCode).toBe('');
  });

  it('Microsoft.NAV.post answers 204 and gives a new number but keeps the id; a posted invoice is read-only', async () => {
    const sb = await start();
    const draft = await bc(sb, 'salesInvoices', {
      method: 'POST',
      body: {
        customerNumber: 'C0001',
        salesInvoiceLines: [{ lineType: 'Item', lineObjectNumber: 'M365-BP', quantity: 1 }],
      },
    });
    const id = draft.body.id as string;
    const wrongCase = await bc(sb, `salesInvoices(${id})/Microsoft.NAV.Post`, { method: 'POST' });
    expect(wrongCase.status).toBe(404);
    const post = await bc(sb, `salesInvoices(${id})/Microsoft.NAV.post`, { method: 'POST' });
    expect(post.status).toBe(204);
    expect(post.text).toBe('');
    const after = await bc(sb, `salesInvoices(${id})`);
    expect(after.body).toMatchObject({ id, number: '103001', status: 'Open' });
    const again = await bc(sb, `salesInvoices(${id})/Microsoft.NAV.post`, { method: 'POST' });
    expect(again.status).toBe(400);
    const patch = await bc(sb, `salesInvoices(${id})`, {
      method: 'PATCH',
      body: { externalDocumentNumber: 'CHANGED' },
      headers: { 'If-Match': after.body['@odata.etag'] },
    });
    expect(patch.status).toBe(400);
    expect(patch.body.error.message).toMatch(/^The invoice has been posted and can no longer be modified\./);
    const line = await bc(sb, `salesInvoices(${id})/salesInvoiceLines`, {
      method: 'POST',
      body: { lineType: 'Item', lineObjectNumber: 'M365-BP', quantity: 1 },
    });
    expect(line.status).toBe(400);
    expect((await bc(sb, `salesInvoices(${id})/salesInvoiceLines`)).body.value).toHaveLength(1);
  });

  it('needs a documentId filter to read salesInvoiceLines on their own; adding a line changes the header ETag', async () => {
    const sb = await start();
    const draft = await bc(sb, 'salesInvoices', { method: 'POST', body: { customerNumber: 'C0002' } });
    const bare = await bc(sb, 'salesInvoiceLines');
    expect(bare.status).toBe(400);
    expect(bare.body.error.message).toMatch(/^You must specify an Id or a Document Id to get the lines\./);
    const added = await bc(sb, 'salesInvoiceLines', {
      method: 'POST',
      body: {
        documentId: draft.body.id,
        lineType: 'Item',
        lineObjectNumber: 'AZURE',
        quantity: 1,
        unitPrice: 9.99,
      },
    });
    expect(added.status).toBe(201);
    expect(added.body.documentId).toBe(draft.body.id);
    const lines = await bc(sb, `salesInvoiceLines?$filter=documentId eq ${draft.body.id}`);
    expect(lines.body.value.map((l: { lineObjectNumber: string }) => l.lineObjectNumber)).toEqual(['AZURE']);
    const stale = await bc(sb, `salesInvoices(${draft.body.id})`, {
      method: 'PATCH',
      body: { externalDocumentNumber: 'LATE' },
      headers: { 'If-Match': draft.body['@odata.etag'] },
    });
    expect(stale.status).toBe(409);
  });

  it('applies the company template to API-created customers; without one posting fails naming the missing group', async () => {
    const sb = await start({ companies: [{ ...SEED, templates: null }] });
    const cust = await bc(sb, 'customers', { method: 'POST', body: { displayName: 'API customer' } });
    expect(cust.status).toBe(201);
    const draft = await bc(sb, 'salesInvoices', {
      method: 'POST',
      body: {
        customerId: cust.body.id,
        salesInvoiceLines: [{ lineType: 'Item', lineObjectNumber: 'M365-BP', quantity: 1 }],
      },
    });
    const post = await bc(sb, `salesInvoices(${draft.body.id})/Microsoft.NAV.post`, { method: 'POST' });
    expect(post.status).toBe(400);
    expect(post.body.error.message).toMatch(
      /^Gen\. Bus\. Posting Group must have a value in Customer: No\.=C00010\./,
    );

    const withTemplate = await start();
    const c2 = await bc(withTemplate, 'customers', { method: 'POST', body: { displayName: 'API customer' } });
    expect(withTemplate.company(CRONUS).customers.get(c2.body.number)?.customerPostingGroup).toBe('DOMESTIC');
  });

  it('pages at 20,000 by default and at the configured size', async () => {
    const sb = await start({
      companies: [
        {
          name: CRONUS,
          customers: Array.from({ length: 25 }, (_, i) => ({ no: `B${i + 10}`, name: `B ${i}` })),
        },
      ],
    });
    const all = await bc(sb, 'customers');
    expect(all.body.value).toHaveLength(25);
    expect(all.body['@odata.nextLink']).toBeUndefined();
    sb.configure({ bcPageSize: 10 });
    const first = await bc(sb, 'customers');
    expect(first.body.value).toHaveLength(10);
    const second = await call(first.body['@odata.nextLink'], { headers: json(BC_AUTH) });
    expect(second.body.value[0].number).toBe('B20');
  });
});

describe('Business Central online: OAuth2 client credentials', () => {
  it('issues a bearer token for the BC scope and refuses a wrong secret, scope or grant', async () => {
    const sb = await start();
    const ok = await token(sb);
    expect(ok.status).toBe(200);
    expect(ok.body).toMatchObject({ token_type: 'Bearer', expires_in: 3599 });
    expect(ok.body.access_token.split('.')).toHaveLength(3);
    const secret = await token(sb, { client_secret: 'nope' });
    expect(secret.status).toBe(401);
    expect(secret.body.error).toBe('invalid_client');
    const scope = await token(sb, { scope: 'https://api.businesscentral.dynamics.com/user_impersonation' });
    expect(scope.status).toBe(400);
    expect(scope.body.error).toBe('invalid_scope');
    expect((await token(sb, { grant_type: 'password' })).body.error).toBe('unsupported_grant_type');
    expect(JSON.stringify(sb.requests)).not.toContain(D.client.clientSecret);
  });

  it('answers an expired or unknown token with 401 and WWW-Authenticate error="invalid_token"', async () => {
    const sb = await start({ bcOnline: { tokenLifetimeS: 1 } });
    const t = await token(sb);
    expect(t.body.expires_in).toBe(1);
    const get = (bearer: string) =>
      call(`${sb.bcOnlineBaseUrl}/companies`, { headers: { Authorization: `Bearer ${bearer}` } });
    const fresh = await get(t.body.access_token);
    expect(fresh.status).toBe(200);
    expect(fresh.body.value[0].id).toBe(companyId(sb));
    expect(sb.requests.at(-1)).toMatchObject({ flavour: 'bcOnline', user: D.client.clientId });
    await new Promise((r) => setTimeout(r, 1100));
    const expired = await get(t.body.access_token);
    expect(expired.status).toBe(401);
    expect(expired.headers.get('www-authenticate')).toMatch(/^Bearer .*error="invalid_token"/);
    expect(expired.body.error.code).toBe('Authentication_InvalidCredentials');
    const unknown = await get('not-a-token');
    expect(unknown.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    const none = await call(`${sb.bcOnlineBaseUrl}/companies`);
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).not.toMatch(/error=/);
    const refreshed = await token(sb);
    expect((await get(refreshed.body.access_token)).status).toBe(200);
    expect(JSON.stringify(sb.requests)).not.toContain(t.body.access_token);
  });

  it('serves only its tenant and environment', async () => {
    const sb = await start();
    const t = await token(sb);
    const auth = { Authorization: `Bearer ${t.body.access_token}` };
    const env = await call(`${sb.url}/v2.0/${sb.tenantId}/sandbox/api/v2.0/companies`, { headers: auth });
    expect(env.status).toBe(404);
    const tenant = await call(
      `${sb.url}/v2.0/00000000-0000-0000-0000-000000000001/production/api/v2.0/companies`,
      {
        headers: auth,
      },
    );
    expect(tenant.status).toBe(401);
    expect((await token(sb)).status).toBe(200);
    const otherTenant = await call(`${sb.url}/00000000-0000-0000-0000-000000000001/oauth2/v2.0/token`, {
      method: 'POST',
      body: 'grant_type=client_credentials',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
    });
    expect(otherTenant.body.error).toBe('invalid_request');
  });

  it('expireTokens() ends every token issued so far', async () => {
    const sb = await start();
    const t = await token(sb);
    sb.expireTokens();
    const res = await call(`${sb.bcOnlineBaseUrl}/companies`, {
      headers: { Authorization: `Bearer ${t.body.access_token}` },
    });
    expect(res.status).toBe(401);
  });
});

describe('Business Central limits', () => {
  const burst = (sb: NavisionSandbox, n: number, auth = BC_AUTH) =>
    Promise.all(
      Array.from({ length: n }, () =>
        call(`${sb.bcOnPremBaseUrl}/companies`, { headers: { Authorization: auth } }).then((r) => r.status),
      ),
    );

  it('processes at most 5 requests at once per user and queues the rest; NAV has no such cap', async () => {
    const sb = await start({ latencyMs: 300 });
    const t0 = Date.now();
    expect(await burst(sb, 8)).toEqual(Array(8).fill(200));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(590);
    const t1 = Date.now();
    const navs = await Promise.all(
      Array.from({ length: 8 }, () =>
        call(`${sb.navBaseUrl}/Company`, { headers: { Authorization: NAV_AUTH } }),
      ),
    );
    expect(navs.every((r) => r.status === 200)).toBe(true);
    expect(Date.now() - t1).toBeLessThan(590);
  });

  it('refuses with 429 when the queue is full and with 503 when a request waited too long', async () => {
    const sb = await start({ latencyMs: 200, limits: { maxConcurrent: 1, maxQueue: 2 } });
    const statuses = await burst(sb, 5);
    expect(statuses.filter((s) => s === 200)).toHaveLength(3);
    expect(statuses.filter((s) => s === 429)).toHaveLength(2);

    sb.configure({ latencyMs: 300, limits: { maxQueueWaitMs: 100 } });
    const [a, b] = await Promise.all([
      bc(sb, 'customers'),
      new Promise<Reply>((r) => setTimeout(() => r(bc(sb, 'customers')), 20)),
    ]);
    expect(a.status).toBe(200);
    expect(b.status).toBe(503);
    expect(b.headers.get('retry-after')).not.toBeNull();
  });

  it('counts a sliding window per user: past it 429, with Retry-After only when configured', async () => {
    const sb = await start({ limits: { windowRequests: 3 } });
    expect(await burst(sb, 3)).toEqual([200, 200, 200]);
    const over = await bc(sb, 'customers');
    expect(over.status).toBe(429);
    expect(over.headers.get('retry-after')).toBeNull();
    sb.configure({ limits: { retryAfter: 'auto' } });
    const again = await bc(sb, 'customers');
    expect(Number(again.headers.get('retry-after'))).toBeGreaterThan(0);
    const other = await start({
      limits: { windowRequests: 1 },
      bcOnPrem: { users: [D.bcUser, { userName: 'OTHER', webServiceAccessKey: 'other-key' }] },
    });
    expect(await burst(other, 2)).toEqual(expect.arrayContaining([200, 429]));
    expect(await burst(other, 1, basic('OTHER', 'other-key'))).toEqual([200]);
  });
});

describe('faults', () => {
  it('replays the same faults for the same seed', async () => {
    const faults = { seed: 7, errorRate: 0.3, lockRate: 0.2 };
    const run = async (seed: number) => {
      const sb = await start({ faults: { ...faults, seed } });
      const out: number[] = [];
      for (let i = 0; i < 30; i++) out.push((await nav(sb, 'Customer')).status);
      return { out, injected: sb.faults.injected };
    };
    const [a, b, c] = [await run(7), await run(7), await run(8)];
    expect(a.out).toEqual(b.out);
    expect(a.out).not.toEqual(c.out);
    expect(a.out.filter((s) => s === 500).length).toBe(a.injected.error);
    expect(a.out.filter((s) => s === 409).length).toBe(a.injected.lock);
    expect(a.injected.error).toBeGreaterThan(3);
  });

  it('loses the answer after committing: the invoice exists though the client saw the socket close', async () => {
    const sb = await start();
    sb.faults.inject({ kind: 'drop', entity: 'salesInvoices', method: 'POST' });
    const lost = await bc(sb, 'salesInvoices', {
      method: 'POST',
      body: {
        customerNumber: 'C0001',
        externalDocumentNumber: 'SP-LOST',
        salesInvoiceLines: [{ lineType: 'Item', lineObjectNumber: 'M365-BP', quantity: 1 }],
      },
    });
    expect(lost.status).toBe(0);
    expect(
      [...sb.company(CRONUS).invoices.values()].map((d) => [d.externalDocumentNo, d.lines.length]),
    ).toEqual([['SP-LOST', 1]]);
    expect(sb.requests.at(-1)).toMatchObject({ status: -1, fault: 'drop' });
    const found = await bc(sb, "salesInvoices?$filter=externalDocumentNumber eq 'SP-LOST'");
    expect(found.body.value).toHaveLength(1);
  });

  it('holds the answer of a timeout fault, then drops it: the line was added all the same', async () => {
    const sb = await start({ faults: { timeoutMs: 150 } });
    const head = await nav(sb, 'SalesInvoice', { method: 'POST', body: { Sell_to_Customer_No: 'C0001' } });
    sb.faults.inject({ kind: 'timeout', flavour: 'nav', entity: 'SalesInvoiceSalesLines', method: 'POST' });
    const t0 = Date.now();
    const lost = await nav(sb, `${invoiceKey(head.body.No)}/SalesInvoiceSalesLines`, {
      method: 'POST',
      body: { Type: 'Item', No: 'M365-BP', Quantity: 4 },
    });
    expect(lost.status).toBe(0);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(140);
    expect(
      sb
        .company(CRONUS)
        .invoices.get(head.body.No)
        ?.lines.map((l) => l.quantity),
    ).toEqual([4]);
    expect(sb.faults.injected.timeout).toBe(1);
  });

  it('answers a lock timeout (409 by default, 500 if configured) and 5xx without writing anything', async () => {
    const sb = await start();
    sb.faults.inject({ kind: 'lock', entity: 'SalesInvoice' });
    const locked = await nav(sb, 'SalesInvoice', { method: 'POST', body: { Sell_to_Customer_No: 'C0001' } });
    expect(locked.status).toBe(409);
    expect(locked.body.error.message).toMatch(
      /^The operation could not complete because a record in the Sales Header table was locked by another user\. Please retry the activity\./,
    );
    sb.configure({ faults: { lockStatus: 500 } });
    sb.faults.inject({ kind: 'lock' });
    expect(
      (await nav(sb, 'SalesInvoice', { method: 'POST', body: { Sell_to_Customer_No: 'C0001' } })).status,
    ).toBe(500);
    sb.configure({ faults: { errorStatus: 503 } });
    sb.faults.inject({ kind: 'error' });
    const unavailable = await nav(sb, 'SalesInvoice', {
      method: 'POST',
      body: { Sell_to_Customer_No: 'C0001' },
    });
    expect(unavailable.status).toBe(503);
    expect(unavailable.headers.get('retry-after')).toBe('1');
    expect(sb.company(CRONUS).invoices.size).toBe(0);
  });

  it('injects 429s with or without Retry-After, on the token endpoint only when asked', async () => {
    const sb = await start({ faults: { throttleRate: 1 } });
    const plain = await bc(sb, 'customers');
    expect(plain.status).toBe(429);
    expect(plain.headers.get('retry-after')).toBeNull();
    expect((await token(sb)).status).toBe(200);
    sb.configure({ faults: { throttleRate: 1, throttleRetryAfterS: 3 } });
    expect((await bc(sb, 'customers')).headers.get('retry-after')).toBe('3');
    sb.configure({ faults: {} });
    sb.faults.inject({ kind: 'error', flavour: 'token' });
    expect((await token(sb)).status).toBe(500);
  });
});
