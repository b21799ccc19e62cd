import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Subscription } from '../domain/types.ts';
import { CATALOGUE, generateData, hashUnit, makeSubscription, mulberry32, type SeedData } from './seed.ts';

/**
 * A local SpinPanel that speaks the contract in /work/shared/specs/spinpanel-api.md over real sockets, with
 * knobs for the failures a sync must survive: latency, 503s with Retry-After, malformed records.
 */

export interface SandboxConfig {
  /** Delay before every API answer. @defaultValue 0 */
  latencyMs: number;
  /** Fraction of API requests answered 503 with `Retry-After: 0`, drawn from the seed. @defaultValue 0 */
  errorRate: number;
  /** Fraction of subscription records served malformed, chosen per record from the seed. @defaultValue 0 */
  invalidRate: number;
}

export interface SandboxOptions extends Partial<SandboxConfig> {
  /** @defaultValue 0 (a free port) */
  port?: number;
  /** @defaultValue 'sp-sandbox-key' */
  apiKey?: string;
  /** The account the key belongs to (`GET /account`'s id). @defaultValue a UUID drawn from the seed */
  accountId?: string;
  /** @defaultValue 1 */
  seed?: number;
  /** @defaultValue 5 */
  customers?: number;
  /** @defaultValue 4 */
  subscriptionsPerCustomer?: number;
  /** The clock behind generated dates and `updatedAt` bumps. @defaultValue the system clock */
  now?: () => Date;
}

export interface SandboxRequest {
  method: string;
  /** Path without the query string, e.g. `/v1/customers`. */
  path: string;
  status: number;
  at: number;
}

export interface SpinPanelSandbox {
  /** Base URL ending in `/v1`. */
  url: string;
  /** The key the sandbox accepts now. */
  readonly apiKey: string;
  /** SpinPanel replaces the key (revoked, rotated): the old one answers 401 from now on. */
  setApiKey(key: string): void;
  /** The live records; changes show in the next response. */
  data: SeedData;
  setQuantity(subscriptionId: string, quantity: number): void;
  cancelSubscription(subscriptionId: string): void;
  addSubscription(partial: Partial<Subscription> & { customerId: string }): Subscription;
  configure(partial: Partial<SandboxConfig>): void;
  /** Serve this record malformed: `quantity` as a string, any other field left out. */
  markInvalid(subscriptionId: string, field: string): void;
  /** Every API request (not `/_control`), in arrival order. */
  requests: SandboxRequest[];
  close(): Promise<void>;
}

interface Reply {
  status: number;
  body: unknown;
  headers?: Record<string, string>;
}

const PROBLEM_BASE = 'https://api.spinpanel.example/problems/';

function problem(status: number, slug: string, title: string, detail: string, extra: object = {}): Reply {
  return { status, body: { type: PROBLEM_BASE + slug, title, status, detail, ...extra } };
}
const invalidParam = (name: string, reason: string) =>
  problem(400, 'invalid-parameter', 'Bad Request', `${name} ${reason}`, {
    invalidParams: [{ name, reason }],
  });
const notFound = (detail: string) => problem(404, 'not-found', 'Not Found', detail);

/** Tokens are opaque to clients; here they are just a base64url offset. */
const encodeToken = (offset: number) => Buffer.from(`o:${offset}`).toString('base64url');
function decodeToken(token: string): number | undefined {
  const m = /^o:(\d+)$/.exec(Buffer.from(token, 'base64url').toString());
  return m ? Number(m[1]) : undefined;
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;

function page<T extends object>(items: readonly T[], query: URLSearchParams): Reply {
  const rawSize = query.get('pageSize');
  let pageSize = 100;
  if (rawSize !== null) {
    pageSize = /^\d+$/.test(rawSize) ? Number(rawSize) : Number.NaN;
    if (!(pageSize >= 1 && pageSize <= 500))
      return invalidParam('pageSize', 'must be an integer from 1 to 500');
  }
  let offset = 0;
  const token = query.get('pageToken');
  if (token !== null) {
    const decoded = decodeToken(token);
    if (decoded === undefined) return invalidParam('pageToken', 'is not a token this API issued');
    offset = decoded;
  }
  let list = items;
  const since = query.get('updatedSince');
  if (since !== null) {
    if (!RFC3339.test(since) || Number.isNaN(Date.parse(since))) {
      return invalidParam('updatedSince', 'must be an RFC 3339 timestamp');
    }
    const t = Date.parse(since);
    // Inclusive, so a record stamped in the same millisecond as the previous pull is not lost.
    list = items.filter((r) => !('updatedAt' in r) || Date.parse(String(r.updatedAt)) >= t);
  }
  const end = offset + pageSize;
  return {
    status: 200,
    body: { items: list.slice(offset, end), nextPageToken: end < list.length ? encodeToken(end) : null },
  };
}

function malform(sub: Subscription, field: string): Record<string, unknown> {
  const copy: Record<string, unknown> = structuredClone(sub);
  if (field === 'quantity') copy.quantity = String(sub.quantity);
  else delete copy[field];
  return copy;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1_000_000) throw new Error('body too large');
    chunks.push(chunk);
  }
  return chunks.length === 0 ? {} : JSON.parse(Buffer.concat(chunks).toString('utf8'));
}

const isRate = (v: unknown) => typeof v === 'number' && v >= 0 && v <= 1;

export async function startSpinPanelSandbox(opts: SandboxOptions = {}): Promise<SpinPanelSandbox> {
  let apiKey = opts.apiKey ?? 'sp-sandbox-key';
  const seed = opts.seed ?? 1;
  const now = opts.now ?? (() => new Date());
  const config: SandboxConfig = {
    latencyMs: opts.latencyMs ?? 0,
    errorRate: opts.errorRate ?? 0,
    invalidRate: opts.invalidRate ?? 0,
  };
  const data = generateData({
    seed,
    customers: opts.customers,
    subscriptionsPerCustomer: opts.subscriptionsPerCustomer,
    now: now(),
  });
  if (opts.accountId !== undefined) data.account.id = opts.accountId;
  // Separate streams so injected errors and added records do not shift each other or the seed data.
  const errorRand = mulberry32(seed ^ 0x5eed_e770);
  const addRand = mulberry32(seed ^ 0x5eed_add0);
  const markedInvalid = new Map<string, string>();
  const requests: SandboxRequest[] = [];
  const timers = new Set<NodeJS.Timeout>();

  const findSub = (id: string) => {
    const sub = data.subscriptions.find((s) => s.id === id);
    if (!sub) throw new Error(`no subscription ${id} in the sandbox`);
    return sub;
  };
  const touch = (sub: Subscription) => {
    sub.updatedAt = now().toISOString();
  };
  const invalidField = (sub: Subscription): string | undefined => {
    const marked = markedInvalid.get(sub.id);
    if (marked) return marked;
    if (config.invalidRate > 0 && hashUnit(`${seed}:${sub.id}`) < config.invalidRate) {
      return hashUnit(`${sub.id}:${seed}`) < 0.5 ? 'quantity' : 'productId';
    }
    return undefined;
  };
  const serve = (sub: Subscription) => {
    const field = invalidField(sub);
    return field ? malform(sub, field) : sub;
  };

  const sandbox = {
    setApiKey(key: string) {
      apiKey = key;
    },
    setQuantity(id: string, quantity: number) {
      const sub = findSub(id);
      sub.quantity = quantity;
      touch(sub);
    },
    cancelSubscription(id: string) {
      const sub = findSub(id);
      sub.status = 'cancelled';
      touch(sub);
    },
    addSubscription(partial: Partial<Subscription> & { customerId: string }): Subscription {
      if (!data.customers.some((c) => c.id === partial.customerId)) {
        throw new Error(`no customer ${partial.customerId} in the sandbox`);
      }
      const product =
        CATALOGUE.find((p) => p.productId === partial.productId) ??
        CATALOGUE[Math.floor(addRand() * CATALOGUE.length)]!;
      const sub = makeSubscription(addRand, partial.customerId, product, now(), {
        updatedAt: now().toISOString(),
        ...partial,
      });
      data.subscriptions.push(sub);
      return sub;
    },
    configure(partial: Partial<SandboxConfig>) {
      for (const key of ['latencyMs', 'errorRate', 'invalidRate'] as const) {
        const v = partial[key];
        if (v !== undefined) config[key] = v;
      }
    },
    markInvalid(id: string, field: string) {
      findSub(id);
      markedInvalid.set(id, field);
    },
  };

  function api(req: IncomingMessage, url: URL): Reply {
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return {
        ...problem(
          401,
          'unauthorized',
          'Unauthorized',
          'The API key is missing or not valid for any account.',
        ),
        headers: { 'WWW-Authenticate': 'Bearer' },
      };
    }
    if (req.method !== 'GET') {
      return {
        ...problem(405, 'method-not-allowed', 'Method Not Allowed', `${req.method} is not supported`),
        headers: { Allow: 'GET' },
      };
    }
    if (config.errorRate > 0 && errorRand() < config.errorRate) {
      return {
        ...problem(503, 'unavailable', 'Service Unavailable', 'SpinPanel is busy; try again shortly.'),
        headers: { 'Retry-After': '0' },
      };
    }
    const path = url.pathname.replace(/\/+$/, '');
    if (path === '/v1/account') return { status: 200, body: data.account };
    if (path === '/v1/customers') return page(data.customers, url.searchParams);
    const m = /^\/v1\/customers\/([^/]+)\/(subscriptions|usage)$/.exec(path);
    if (!m) return notFound(`No resource at ${path}.`);
    const customerId = decodeURIComponent(m[1]!);
    if (!data.customers.some((c) => c.id === customerId))
      return notFound(`Customer ${customerId} does not exist.`);
    if (m[2] === 'subscriptions') {
      const reply = page(
        data.subscriptions.filter((s) => s.customerId === customerId),
        url.searchParams,
      );
      if (reply.status !== 200) return reply;
      const body = reply.body as { items: Subscription[]; nextPageToken: string | null };
      return { status: 200, body: { ...body, items: body.items.map(serve) } };
    }
    const period = url.searchParams.get('period');
    if (period === null || !/^\d{4}-(0[1-9]|1[0-2])$/.test(period)) {
      return invalidParam('period', 'is required as YYYY-MM');
    }
    return page(
      data.usage.filter((u) => u.customerId === customerId && u.period === period),
      url.searchParams,
    );
  }

  async function control(req: IncomingMessage, url: URL): Promise<Reply> {
    // The control surface changes data, so it takes the same key as the API.
    if (req.headers.authorization !== `Bearer ${apiKey}`) {
      return problem(401, 'unauthorized', 'Unauthorized', 'The API key is missing or not valid.');
    }
    if (req.method === 'GET' && url.pathname === '/_control/state') {
      return { status: 200, body: { config, requestCount: requests.length, data } };
    }
    if (req.method !== 'POST') return notFound(`No control at ${req.method} ${url.pathname}.`);
    let body: unknown;
    try {
      body = await readJson(req);
    } catch {
      return problem(400, 'invalid-body', 'Bad Request', 'The body must be a JSON object.');
    }
    if (typeof body !== 'object' || body === null) {
      return problem(400, 'invalid-body', 'Bad Request', 'The body must be a JSON object.');
    }
    const b = body as Record<string, unknown>;
    if (url.pathname === '/_control/config') {
      if (b.latencyMs !== undefined && !(Number.isInteger(b.latencyMs) && (b.latencyMs as number) >= 0)) {
        return invalidParam('latencyMs', 'must be a non-negative integer');
      }
      for (const key of ['errorRate', 'invalidRate'] as const) {
        if (b[key] !== undefined && !isRate(b[key])) return invalidParam(key, 'must be a number from 0 to 1');
      }
      sandbox.configure(b as Partial<SandboxConfig>);
      return { status: 200, body: config };
    }
    const m = /^\/_control\/subscriptions\/([^/]+)$/.exec(url.pathname);
    if (!m) return notFound(`No control at POST ${url.pathname}.`);
    const sub = data.subscriptions.find((s) => s.id === decodeURIComponent(m[1]!));
    if (!sub) return notFound(`Subscription ${m[1]} does not exist.`);
    if (b.quantity !== undefined && !(Number.isInteger(b.quantity) && (b.quantity as number) >= 0)) {
      return invalidParam('quantity', 'must be a non-negative integer');
    }
    if (b.status !== undefined && !['active', 'suspended', 'cancelled'].includes(b.status as string)) {
      return invalidParam('status', 'must be active, suspended or cancelled');
    }
    if (b.quantity !== undefined) sub.quantity = b.quantity as number;
    if (b.status !== undefined) sub.status = b.status as Subscription['status'];
    touch(sub);
    return { status: 200, body: sub };
  }

  const wait = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        timers.delete(t);
        resolve();
      }, ms);
      timers.add(t);
    });

  function send(res: ServerResponse, reply: Reply) {
    const isProblem = reply.status >= 400;
    res.writeHead(reply.status, {
      'Content-Type': isProblem ? 'application/problem+json' : 'application/json; charset=utf-8',
      ...reply.headers,
    });
    res.end(JSON.stringify(reply.body));
  }

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://sandbox.local');
    const at = Date.now();
    const handle = async () => {
      if (url.pathname.startsWith('/_control/')) return send(res, await control(req, url));
      const reply = api(req, url);
      requests.push({ method: req.method ?? 'GET', path: url.pathname, status: reply.status, at });
      if (config.latencyMs > 0) await wait(config.latencyMs);
      send(res, reply);
    };
    handle().catch((err: unknown) => {
      if (!res.headersSent) send(res, problem(500, 'internal', 'Internal Server Error', String(err)));
    });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/v1`,
    get apiKey() {
      return apiKey;
    },
    data,
    requests,
    ...sandbox,
    close: () =>
      new Promise<void>((resolve, reject) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close((err) => (err ? reject(err) : resolve()));
        // Keep-alive sockets would otherwise hold close() open until they time out.
        server.closeAllConnections();
      }),
  };
}
