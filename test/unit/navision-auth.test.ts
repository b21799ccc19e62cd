import { createServer, Agent as HttpAgent, type IncomingMessage, type Server } from 'node:http';
import { createRequire } from 'node:module';
import type { AddressInfo, Socket } from 'node:net';
import axios from 'axios';
import nock from 'nock';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ClientCredentialsTokens } from '../../connectors/navision/auth.ts';
import { NavisionClient, type NavisionClientOptions } from '../../connectors/navision/client.ts';
import {
  classifyNavisionError,
  credentialsRejected,
  NavisionError,
} from '../../connectors/navision/errors.ts';
import { NavisionCredentials } from '../../connectors/navision/schemas.ts';
import { CredentialsRejectedError } from '../../connectors/types.ts';

const AUTH = 'https://login.test';
const API = 'https://api.bc.test';
const CID = '11111111-2222-3333-4444-555555555555';
const CO = `/v2.0/tenant-1/Production/api/v2.0/companies(${CID})`;
const SECRET = 'client-secret-value-~xyz';
const TOKEN_PATH = '/tenant-1/oauth2/v2.0/token';

const online = NavisionCredentials.parse({
  flavour: 'bc-online',
  tenantId: 'tenant-1',
  environment: 'Production',
  company: 'CRONUS',
  clientId: 'app-1',
  clientSecret: SECRET,
  authorityUrl: AUTH,
  apiUrl: API,
});

/** A BC online client whose http instance records every URL it sends (the gate's instance stands in). */
function bcOnline(over: Partial<NavisionClientOptions> = {}) {
  const http = axios.create();
  const urls: string[] = [];
  http.interceptors.request.use((config) => {
    urls.push(config.url ?? '');
    return config;
  });
  const client = new NavisionClient({
    http,
    credentials: online,
    companyId: CID,
    sleep: async () => {},
    random: () => 0.5,
    ...over,
  });
  return { client, urls };
}

/** Entra ID: answers each token request with the next token of `tokens`, keeping the forms it got. */
function authority(tokens: string[], expiresIn = 3600) {
  const forms: Record<string, string>[] = [];
  let i = 0;
  const scope = nock(AUTH)
    .post(TOKEN_PATH)
    .times(tokens.length)
    .reply(function (_uri, body) {
      forms.push({
        ...Object.fromEntries(new URLSearchParams(String(body))),
        type: String(this.req.headers['content-type']),
      });
      return [
        200,
        { token_type: 'Bearer', expires_in: expiresIn, ext_expires_in: expiresIn, access_token: tokens[i++] },
      ];
    });
  return { forms, scope };
}

/** BC: answers `replies` in order, keeping the Authorization header of each request. */
function api(replies: [number, unknown, Record<string, string>?][]) {
  const auth: string[] = [];
  let i = 0;
  const scope = nock(API)
    .get(`${CO}/customers`)
    .times(replies.length)
    .reply(function () {
      auth.push(String(this.req.headers.authorization));
      const [status, body, headers] = replies[i++]!;
      return [status, body, headers ?? {}];
    });
  return { auth, scope };
}

const ok: [number, unknown] = [200, { value: [] }];
const invalidToken: [number, unknown, Record<string, string>] = [
  401,
  {
    error: {
      code: 'Authentication_InvalidCredentials',
      message:
        'The server has rejected the client credentials.  CorrelationId:  0b5c1e7a-1111-2222-3333-444444444444.',
    },
  },
  { 'WWW-Authenticate': 'Bearer realm="", error="invalid_token", error_description="The token is expired"' },
];

beforeAll(() => {
  nock.disableNetConnect();
});
afterEach(() => {
  nock.cleanAll();
});

describe('credentials', () => {
  it('fills the defaults of each flavour', () => {
    const navCreds = NavisionCredentials.parse({
      flavour: 'nav-odata',
      baseUrl: 'https://nav.example.com:7048/',
      serverInstance: 'DynamicsNAV100',
      company: 'CRONUS',
      auth: { type: 'ntlm', user: 'CONTOSO\\sync', password: 'pw' },
    });
    expect(navCreds).toMatchObject({
      baseUrl: 'https://nav.example.com:7048',
      services: {
        customer: 'Customer',
        item: 'Item',
        salesInvoice: 'SalesInvoice',
        salesInvoiceLines: 'SalesInvoiceSalesLines',
        postedSalesInvoice: 'PostedSalesInvoice',
      },
    });
    const bcCreds = NavisionCredentials.parse({ ...online, authorityUrl: undefined, apiUrl: undefined });
    expect(bcCreds).toMatchObject({
      authorityUrl: 'https://login.microsoftonline.com',
      apiUrl: 'https://api.businesscentral.dynamics.com',
    });
  });

  it('names bad fields without quoting any value', () => {
    const parsed = NavisionCredentials.safeParse({
      flavour: 'bc-online',
      tenantId: `not a tenant ${SECRET}`,
      environment: 'Production',
      company: 'CRONUS',
      clientId: 'app-1',
      clientSecret: 42,
    });
    expect(parsed.success).toBe(false);
    const text = JSON.stringify(parsed.error?.issues);
    expect(text).toContain('tenantId');
    expect(text).toContain('clientSecret');
    expect(text).not.toContain(SECRET);
    expect(text).not.toContain('42');
  });
});

describe('Basic', () => {
  it('sends the user and its web service access key', async () => {
    let header: unknown;
    nock('https://bc.test')
      .get(`/BC/api/v2.0/companies(${CID})/items`)
      .reply(function () {
        header = this.req.headers.authorization;
        return [200, { value: [] }];
      });
    const client = new NavisionClient({
      http: axios.create(),
      credentials: NavisionCredentials.parse({
        flavour: 'bc-onprem',
        baseUrl: 'https://bc.test',
        serverInstance: 'BC',
        company: 'CRONUS',
        auth: { type: 'basic', user: 'SYNC', accessKey: 'AbC+/key=' },
      }),
      companyId: CID,
    });
    await client.list('items');
    expect(header).toBe(`Basic ${Buffer.from('SYNC:AbC+/key=').toString('base64')}`);
  });
});

describe('OAuth2 client credentials (BC online)', () => {
  it('asks Entra ID with a form through the same http instance, and reuses the token', async () => {
    const { forms } = authority(['tok-1']);
    const { auth } = api([ok, ok]);
    const { client, urls } = bcOnline();
    await client.list('customers');
    await client.list('customers');
    expect(forms).toEqual([
      {
        grant_type: 'client_credentials',
        client_id: 'app-1',
        client_secret: SECRET,
        // Business Central's resource, not the host the API is reached at (here a test host).
        scope: 'https://api.businesscentral.dynamics.com/.default',
        type: 'application/x-www-form-urlencoded',
      },
    ]);
    expect(auth).toEqual(['Bearer tok-1', 'Bearer tok-1']);
    expect(urls).toEqual([`${AUTH}${TOKEN_PATH}`, `${API}${CO}/customers`, `${API}${CO}/customers`]);
  });

  it('renews the token before it expires (a 5-minute margin)', async () => {
    const clock = { now: 1_000_000 };
    const { forms } = authority(['tok-1', 'tok-2']);
    const { auth } = api([ok, ok, ok]);
    const { client } = bcOnline({ now: () => clock.now });
    await client.list('customers');
    clock.now += 3600_000 - 300_000 - 1; // just inside the margin: still the first token
    await client.list('customers');
    clock.now += 2;
    await client.list('customers');
    expect(auth).toEqual(['Bearer tok-1', 'Bearer tok-1', 'Bearer tok-2']);
    expect(forms).toHaveLength(2);
  });

  it('answers a 401 invalid_token with exactly one refresh and one more try', async () => {
    const { forms } = authority(['tok-1', 'tok-2']);
    const { auth, scope } = api([invalidToken, ok]);
    const { client } = bcOnline();
    expect(await client.list('customers')).toEqual([]);
    expect(auth).toEqual(['Bearer tok-1', 'Bearer tok-2']);
    expect(forms).toHaveLength(2);
    expect(scope.isDone()).toBe(true);
  });

  it('treats a second 401 as permanent: no further refresh, no further try', async () => {
    const { forms } = authority(['tok-1', 'tok-2', 'tok-3']);
    const { auth } = api([invalidToken, invalidToken, ok]);
    const err = await bcOnline()
      .client.list('customers')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(NavisionError);
    expect((err as NavisionError).status).toBe(401);
    expect((err as NavisionError).targetMessages).toEqual([
      'The server has rejected the client credentials.',
    ]);
    expect(classifyNavisionError(err).kind).toBe('permanent');
    expect(credentialsRejected(err)).toBeInstanceOf(CredentialsRejectedError);
    expect(auth).toEqual(['Bearer tok-1', 'Bearer tok-2']);
    expect(forms).toHaveLength(2);
  });

  it('refreshes once for several requests refused together', async () => {
    const { forms } = authority(['tok-1', 'tok-2']);
    const { auth } = api([invalidToken, invalidToken, invalidToken, ok, ok, ok]);
    const { client } = bcOnline();
    await Promise.all([client.list('customers'), client.list('customers'), client.list('customers')]);
    expect(forms).toHaveLength(2);
    expect(auth.slice(3)).toEqual(['Bearer tok-2', 'Bearer tok-2', 'Bearer tok-2']);
  });

  it('retries a token request that failed transiently; a refused client is permanent, quoted, without the secret', async () => {
    nock(AUTH)
      .post(TOKEN_PATH)
      .reply(503)
      .post(TOKEN_PATH)
      .reply(200, { access_token: 'tok-1', expires_in: 3600 });
    api([ok]);
    await bcOnline().client.list('customers');

    nock(AUTH)
      .post(TOKEN_PATH)
      .reply(401, {
        error: 'invalid_client',
        error_description: `AADSTS7000215: Invalid client secret provided. Ensure the secret being sent is the client secret value, not ${SECRET}.\r\nTrace ID: 1\r\nCorrelation ID: 2`,
      });
    const sent = vi.fn();
    nock(API)
      .get(() => true)
      .reply(() => {
        sent();
        return [200, { value: [] }];
      });
    const err = await bcOnline()
      .client.list('customers')
      .catch((e: unknown) => e);
    expect(classifyNavisionError(err).kind).toBe('permanent');
    expect((err as Error).message).toContain('AADSTS7000215');
    expect((err as Error).message).not.toContain(SECRET);
    expect(credentialsRejected(err)?.targetMessage).toMatch(/^invalid_client: AADSTS7000215/);
    expect(sent).not.toHaveBeenCalled();
  });

  it('caches per instance and shares one request among concurrent callers', async () => {
    const { forms } = authority(['tok-1']);
    const tokens = new ClientCredentialsTokens({
      http: axios.create(),
      authorityUrl: AUTH,
      tenantId: 'tenant-1',
      clientId: 'app-1',
      clientSecret: SECRET,
      scope: `${API}/.default`,
    });
    expect(await Promise.all([tokens.get(), tokens.get(), tokens.get()])).toEqual([
      'tok-1',
      'tok-1',
      'tok-1',
    ]);
    expect(tokens.fetches).toBe(1);
    expect(forms).toHaveLength(1);
  });
});

// ---------------------------------------------------------------------------------------------------------
// NTLM over real sockets: a tiny server that, like NAV's HTTP.sys, answers 400 when the Type 3 message does
// not arrive on the socket its Type 1 came on.

const ntlm = createRequire(import.meta.url)('@ewsjs/ntlm-client') as {
  createType1Message(workstation?: string, target?: string): string;
  decodeType2Message(token: string): unknown;
  createType3Message(
    t2: unknown,
    user: string,
    password: string,
    workstation?: string,
    target?: string,
  ): string;
};

const NEGOTIATE_UNICODE = 0x1;
const NEGOTIATE_NTLM = 0x200;
const NEGOTIATE_NTLM2_KEY = 0x80000;
const NEGOTIATE_TARGET_INFO = 0x800000;

/** A Type 2 (challenge) message: a fixed layout, no cryptography. */
function type2Message(): Buffer {
  const target = Buffer.from('NAVDOM', 'ucs2');
  const pair = (type: number, text: string) => {
    const value = Buffer.from(text, 'ucs2');
    const head = Buffer.alloc(4);
    head.writeUInt16LE(type, 0);
    head.writeUInt16LE(value.length, 2);
    return Buffer.concat([head, value]);
  };
  const info = Buffer.concat([pair(2, 'NAVDOM'), pair(1, 'NAVSRV'), Buffer.alloc(4)]);
  const head = Buffer.alloc(48);
  head.write('NTLMSSP\0', 0, 'ascii');
  head.writeUInt32LE(2, 8);
  head.writeUInt16LE(target.length, 12);
  head.writeUInt16LE(target.length, 14);
  head.writeUInt32LE(48, 16);
  head.writeUInt32LE(NEGOTIATE_UNICODE | NEGOTIATE_NTLM | NEGOTIATE_NTLM2_KEY | NEGOTIATE_TARGET_INFO, 20);
  Buffer.from('0123456789abcdef', 'hex').copy(head, 24);
  head.writeUInt16LE(info.length, 40);
  head.writeUInt16LE(info.length, 42);
  head.writeUInt32LE(48 + target.length, 44);
  return Buffer.concat([head, target, info]);
}

/** The user name, domain and workstation of a Type 3 message (UCS-2, as the challenge asked). */
function type3Names(msg: Buffer) {
  const field = (at: number) => {
    const len = msg.readUInt16LE(at);
    const offset = msg.readUInt32LE(at + 4);
    return msg.toString('ucs2', offset, offset + len);
  };
  return { domain: field(28), user: field(36), workstation: field(44) };
}

interface Handshake {
  scheme: string;
  sameSocket: boolean;
  names?: ReturnType<typeof type3Names>;
}

/** `offer`: the schemes the server accepts (NAV may offer only Negotiate). */
function ntlmServer(offer: string[]) {
  const handshakes: Handshake[] = [];
  const challenged = new WeakSet<Socket>();
  const sockets = new Set<Socket>();
  const server: Server = createServer((req: IncomingMessage, res) => {
    const m = /^(\w+) (.+)$/.exec(req.headers.authorization ?? '');
    const msg = m && offer.includes(m[1]!) ? Buffer.from(m[2]!, 'base64') : undefined;
    const type = msg && msg.toString('ascii', 0, 8) === 'NTLMSSP\0' ? msg.readUInt32LE(8) : undefined;
    if (type === 1) {
      challenged.add(req.socket);
      res.writeHead(401, { 'WWW-Authenticate': `${m![1]} ${type2Message().toString('base64')}` });
      res.end();
      return;
    }
    if (type === 3) {
      const sameSocket = challenged.has(req.socket);
      handshakes.push({ scheme: m![1]!, sameSocket, names: type3Names(msg!) });
      if (!sameSocket) {
        res.writeHead(400, { 'Content-Type': 'text/html' });
        res.end('<h1>Bad Request</h1>');
        return;
      }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(
        JSON.stringify(
          req.url?.endsWith("Company('CRONUS')") ? { Name: 'CRONUS' } : { value: [{ No: 'C1' }] },
        ),
      );
      return;
    }
    res.writeHead(401, { 'WWW-Authenticate': offer.join(', ') });
    res.end();
  });
  server.on('connection', (s) => {
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  return {
    handshakes,
    sockets,
    listen: () =>
      new Promise<string>((done) =>
        server.listen(0, '127.0.0.1', () =>
          done(`http://127.0.0.1:${(server.address() as AddressInfo).port}`),
        ),
      ),
    close: () => new Promise<void>((done) => server.close(() => done())),
  };
}

function ntlmClient(base: string) {
  return new NavisionClient({
    http: axios.create({ timeout: 5_000 }),
    credentials: NavisionCredentials.parse({
      flavour: 'nav-odata',
      baseUrl: base,
      serverInstance: 'NAV',
      company: 'CRONUS',
      auth: { type: 'ntlm', user: 'CONTOSO\\sync', password: 'Pa55w.rd', workstation: 'BILLING' },
    }),
    sleep: async () => {},
  });
}

describe('NTLM', () => {
  // nock's interceptor answers pass-through requests on sockets of its own, which would break keep-alive reuse
  // (and so NTLM): it is switched off for these tests, which talk only to the local server.
  beforeAll(() => {
    nock.restore();
  });
  afterAll(() => {
    nock.activate();
    nock.disableNetConnect();
  });

  it('keeps the whole handshake on one socket and sends the user of its domain', async () => {
    const srv = ntlmServer(['NTLM', 'Negotiate']);
    const base = await srv.listen();
    try {
      const client = ntlmClient(base);
      const rows = await Promise.all([
        client.list('Customer'),
        client.list('Customer'),
        client.list('Customer'),
      ]);
      expect(rows).toEqual([[{ No: 'C1' }], [{ No: 'C1' }], [{ No: 'C1' }]]);
      expect(srv.handshakes).toHaveLength(3);
      expect(srv.handshakes.every((h) => h.sameSocket && h.scheme === 'NTLM')).toBe(true);
      expect(srv.handshakes[0]!.names).toEqual({ domain: 'CONTOSO', user: 'sync', workstation: 'BILLING' });
      // Each handshake's agent is destroyed after it: no sockets are left open by the client.
      await new Promise((r) => setTimeout(r, 20));
      expect(srv.sockets.size).toBe(0);
    } finally {
      await srv.close();
    }
  });

  it('the server of this test refuses a Type 3 on a new socket (so the check above can fail)', async () => {
    const srv = ntlmServer(['NTLM']);
    const base = await srv.listen();
    try {
      const url = `${base}/NAV/ODataV4/Company('CRONUS')/Customer`;
      const fresh = () => ({ httpAgent: new HttpAgent({ keepAlive: false }), validateStatus: () => true });
      const first = await axios.get(url, {
        ...fresh(),
        headers: { Authorization: ntlm.createType1Message('BILLING', 'CONTOSO') },
      });
      expect(first.status).toBe(401);
      const t2 = ntlm.decodeType2Message(String(first.headers['www-authenticate']));
      const third = await axios.get(url, {
        ...fresh(),
        headers: { Authorization: ntlm.createType3Message(t2, 'sync', 'Pa55w.rd', 'BILLING', 'CONTOSO') },
      });
      expect(third.status).toBe(400);
      expect(srv.handshakes).toEqual([expect.objectContaining({ sameSocket: false })]);
    } finally {
      await srv.close();
    }
  });

  it('speaks NTLM inside Negotiate when that is all the server offers', async () => {
    const srv = ntlmServer(['Negotiate']);
    const base = await srv.listen();
    try {
      const client = ntlmClient(base);
      expect(await client.list('Customer')).toEqual([{ No: 'C1' }]);
      expect(await client.list('Customer')).toEqual([{ No: 'C1' }]);
      expect(srv.handshakes.map((h) => [h.scheme, h.sameSocket])).toEqual([
        ['Negotiate', true],
        ['Negotiate', true],
      ]);
    } finally {
      await srv.close();
    }
  });

  it('reports refused Windows credentials as permanent', async () => {
    const srv = ntlmServer([]);
    const base = await srv.listen();
    try {
      const err = await ntlmClient(base)
        .list('Customer')
        .catch((e: unknown) => e);
      expect((err as NavisionError).status).toBe(401);
      expect(classifyNavisionError(err).kind).toBe('permanent');
      expect((err as Error).message).not.toContain('Pa55w.rd');
    } finally {
      await srv.close();
    }
  });
});
