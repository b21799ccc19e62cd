import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { utcToday } from './dates.ts';
import { createStore } from './db.ts';
import { SandboxReply } from './errors.ts';
import { type FaultKind, Faults } from './faults.ts';
import { type Ctx, resolve } from './router.ts';
import type { AutotaskRequest, AutotaskSandbox, AutotaskSandboxOptions } from './types.ts';
import { unitsOn } from './units.ts';

const DEFAULT_USER = {
  userName: 'sandbox@example.com',
  secret: 'sandbox-secret',
  integrationCode: 'SPINPANEL-SANDBOX',
};
const HOUR_MS = 60 * 60 * 1000;

const header = (req: IncomingMessage, name: string): string | undefined => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: ServerResponse, status: number, body: unknown, headers?: Record<string, string>): void {
  if (res.destroyed) return;
  const text = JSON.stringify(body);
  res.writeHead(status, {
    ...headers,
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': Buffer.byteLength(text),
  });
  res.end(text);
}

/**
 * Starts a local Autotask REST v1.0 database: zone lookup, header auth, queries with Autotask's filter
 * language and paging, the writes a licence-billing sync makes, and Autotask's limits (per-endpoint thread
 * limit, hourly request budget).
 */
export async function startAutotaskSandbox(opts: AutotaskSandboxOptions = {}): Promise<AutotaskSandbox> {
  const users = opts.users ?? [DEFAULT_USER];
  const store = createStore(opts, opts.today ?? utcToday);
  const settings = {
    latencyMs: opts.latencyMs ?? 0,
    threadLimit: opts.threadLimit ?? 3,
    requestThreshold: opts.requestThreshold ?? 10_000,
    budgetLatencyMs: { from50: 500, from75: 1000, ...opts.budgetLatencyMs },
  };
  const faults = new Faults(opts.faults);
  const requests: AutotaskRequest[] = [];
  const inFlight = new Map<string, number>();
  const counted: number[] = []; // receive times of authenticated requests, for the rolling hour
  const timers = new Set<NodeJS.Timeout>();
  let seq = 0;

  const sleep = (ms: number) =>
    ms <= 0
      ? Promise.resolve()
      : new Promise<void>((done) => {
          const t = setTimeout(() => {
            timers.delete(t);
            done();
          }, ms);
          timers.add(t);
        });
  const hourCount = (now: number): number => {
    while (counted.length > 0 && (counted[0] as number) <= now - HOUR_MS) counted.shift();
    return counted.length;
  };
  /** Autotask slows every call down once the database has used half its hourly budget. */
  const budgetLatency = (now: number): number => {
    const share = hourCount(now) / settings.requestThreshold;
    if (share >= 0.75) return settings.budgetLatencyMs.from75;
    return share >= 0.5 ? settings.budgetLatencyMs.from50 : 0;
  };
  const threadRefusal = (status = 429, retryAfterS?: number) =>
    new SandboxReply(
      status,
      { errors: [`API thread threshold of ${settings.threadLimit} threads has been exceeded`] },
      retryAfterS === undefined ? undefined : { 'Retry-After': String(retryAfterS) },
    );

  function authenticate(req: IncomingMessage): void {
    const code = header(req, 'apiintegrationcode');
    const name = header(req, 'username');
    const secret = header(req, 'secret');
    const absent = [
      ['ApiIntegrationCode', code],
      ['UserName', name],
      ['Secret', secret],
    ].filter(([, v]) => !v);
    if (absent.length > 0) {
      throw new SandboxReply(401, {
        errors: [`Missing required header(s): ${absent.map(([h]) => h).join(', ')}`],
      });
    }
    const user = users.find((u) => u.userName.toLowerCase() === name?.toLowerCase());
    // One message for every mismatch, so the API does not reveal which of the three was wrong.
    if (!user || user.secret !== secret || user.integrationCode !== code) {
      throw new SandboxReply(401, {
        errors: ['Authentication failed: invalid UserName, Secret or ApiIntegrationCode'],
      });
    }
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const mySeq = ++seq;
    const method = (req.method ?? 'GET').toUpperCase();
    const text = await readBody(req);
    let body: unknown;
    let badJson = false;
    if (text.trim() !== '') {
      try {
        body = JSON.parse(text);
      } catch {
        badJson = true;
        body = text;
      }
    }
    const url = new URL(req.url ?? '/', origin);
    const route = resolve(url);
    const code = header(req, 'apiintegrationcode');
    const record: AutotaskRequest = {
      seq: mySeq,
      at,
      method,
      path: req.url ?? '/',
      entity: route.entity,
      userName: header(req, 'username'),
      integrationCode: code,
      status: 0,
      body,
    };
    requests.push(record);
    const ctx: Ctx = {
      store,
      method,
      url,
      body,
      apiBaseUrl,
      webUrl: `${origin}/`,
      knownUser: (u) => users.some((x) => x.userName.toLowerCase() === u.toLowerCase()),
      threshold: () => ({ limit: settings.requestThreshold, count: hourCount(Date.now()) }),
    };
    let status = 200;
    let out: unknown;
    let after: FaultKind | undefined;
    let headers: Record<string, string> | undefined;
    try {
      if (!route.auth) {
        await sleep(settings.latencyMs);
        if (badJson) throw new SandboxReply(400, { errors: ['The request body is not valid JSON'] });
        out = route.run(ctx);
      } else {
        authenticate(req);
        counted.push(at);
        if (hourCount(at) > settings.requestThreshold) {
          throw new SandboxReply(429, {
            errors: [
              `The request threshold of ${settings.requestThreshold} requests per 60 minutes has been exceeded`,
            ],
          });
        }
        // Autotask caps concurrent requests per integration code and endpoint; the excess is refused at once.
        const key = `${code}\u0000${route.entity.toLowerCase()}`;
        const busy = inFlight.get(key) ?? 0;
        if (busy >= settings.threadLimit) throw threadRefusal();
        const create = method === 'POST' && !/\/query(\/|$)/i.test(url.pathname);
        const fault = faults.pick({ entity: route.entity, method, create });
        if (fault === 'throttle') {
          throw threadRefusal(faults.options.throttleStatus, faults.options.throttleRetryAfterS);
        }
        inFlight.set(key, busy + 1);
        try {
          await sleep(settings.latencyMs + budgetLatency(at));
          if (fault === 'error') throw new SandboxReply(500, { Message: 'An error has occurred.' });
          if (badJson) throw new SandboxReply(400, { errors: ['The request body is not valid JSON'] });
          out = route.run(ctx);
          after = fault;
          if (fault === 'nullItemId' && typeof out === 'object' && out !== null && 'itemId' in out)
            out = { itemId: null };
        } finally {
          const left = (inFlight.get(key) ?? 1) - 1;
          if (left > 0) inFlight.set(key, left);
          else inFlight.delete(key);
        }
      }
    } catch (err) {
      if (err instanceof SandboxReply) {
        status = err.status;
        out = err.body;
        headers = err.headers;
      } else {
        status = 500;
        out = { errors: [err instanceof Error ? err.message : String(err)] };
      }
    }
    if (after === 'timeout' || after === 'drop') {
      // Done, but the answer never arrives: the client cannot tell whether its write happened.
      record.status = -1;
      if (after === 'timeout') await sleep(faults.options.timeoutMs ?? 5000);
      res.destroy();
      return;
    }
    record.status = status;
    send(res, status, out, headers);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { errors: [String(err)] }));
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', fail);
      ok();
    });
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const apiBaseUrl = `${origin}/ATServicesRest/`;

  return {
    url: origin,
    zoneLookupUrl: `${origin}/atservicesrest/v1.0/zoneInformation`,
    apiBaseUrl,
    requests,
    db: store.db,
    unitsAt: (contractServiceId, date) => unitsOn(store.db.adjustments, contractServiceId, date),
    faults,
    configure(p) {
      if (p.latencyMs !== undefined) settings.latencyMs = p.latencyMs;
      if (p.threadLimit !== undefined) settings.threadLimit = p.threadLimit;
      if (p.requestThreshold !== undefined) settings.requestThreshold = p.requestThreshold;
      if (p.budgetLatencyMs) Object.assign(settings.budgetLatencyMs, p.budgetLatencyMs);
      if (p.faults) faults.set(p.faults);
    },
    useBudget(n) {
      const now = Date.now();
      for (let i = 0; i < n; i++) counted.push(now);
    },
    close: () =>
      new Promise<void>((done, fail) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        server.close((err) => (err ? fail(err) : done()));
        server.closeAllConnections();
      }),
  };
}
