import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Authenticators, identify } from './auth.ts';
import { bcResolve } from './bc.ts';
import type { Ctx, Resolved, Result } from './crud.ts';
import { type Company, createStore } from './db.ts';
import { badRequest, odataError, SandboxReply, segmentNotFound } from './errors.ts';
import { type FaultKind, Faults } from './faults.ts';
import { NAV_DEFAULT_SERVICES, navDefs } from './fields.ts';
import { DEFAULT_LIMITS, Limiter, type Limits } from './limits.ts';
import { type NavSettings, navResolve } from './nav.ts';
import { NtlmGate } from './ntlm.ts';
import { TokenIssuer } from './tokens.ts';
import type { NavisionRequest, NavisionSandbox, NavisionSandboxOptions } from './types.ts';

/** Defaults of the sandbox's credentials and names, for tests and the demo. */
export const NAVISION_SANDBOX_DEFAULTS = {
  company: 'CRONUS International Ltd.',
  navInstance: 'DynamicsNAV110',
  navUser: { userName: 'NAVUSER', webServiceAccessKey: 'U2FuZGJveE5hdldlYlNlcnZpY2VBY2Nlc3NLZXkwMDE=' },
  windowsUser: { domain: 'SANDBOX', userName: 'navuser', password: 'Nav-Passw0rd' },
  bcInstance: 'BC',
  bcUser: { userName: 'BCUSER', webServiceAccessKey: 'U2FuZGJveEJDV2ViU2VydmljZUFjY2Vzc0tleTAwMDE=' },
  tenantId: 'e2c9a7b0-5d1f-4c3e-9a8b-2f6d7c1e0a11',
  environment: 'production',
  client: { clientId: '3f1c2b4a-8d7e-4f60-9b1a-5c2d3e4f5a6b', clientSecret: 'sandbox~client~secret' },
} as const;

type Route =
  | { flavour: 'token'; tenant: string }
  | { flavour: 'nav' | 'bcOnPrem'; rest: string[] }
  | { flavour: 'bcOnline'; tenant: string; environment: string; rest: string[] }
  | { flavour: 'unknown'; first: string };

const eqi = (a: string | undefined, b: string) => a?.toLowerCase() === b.toLowerCase();

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(
  res: ServerResponse,
  status: number,
  r: Partial<Result>,
  headers: Record<string, string | string[]>,
) {
  if (res.destroyed) return;
  let payload = '';
  let type: string | undefined;
  if (r.text !== undefined) {
    payload = r.text;
    type = r.contentType ?? 'text/plain';
  } else if (typeof r.body === 'string') {
    payload = r.body;
    type = 'text/html';
  } else if (r.body !== undefined && status !== 204) {
    payload = JSON.stringify(r.body);
    type = 'application/json; odata.metadata=minimal; odata.streaming=true; charset=utf-8';
  }
  res.writeHead(status, {
    'OData-Version': '4.0',
    ...(type ? { 'Content-Type': type } : {}),
    ...headers,
    'Content-Length': String(Buffer.byteLength(payload)),
  });
  res.end(payload);
}

/**
 * Starts one local HTTP server that speaks NAV 2016–2018 OData V4 page web services, Business Central API v2.0
 * on-premises and online, and an Entra ID token endpoint for the online flavour, over one store of companies.
 */
export async function startNavisionSandbox(opts: NavisionSandboxOptions = {}): Promise<NavisionSandbox> {
  const D = NAVISION_SANDBOX_DEFAULTS;
  const today = opts.today ?? (() => new Date().toISOString().slice(0, 10));
  const store = createStore(opts.companies ?? [{ name: D.company }], today);
  const navOpts = opts.nav ?? {};
  const navInstance = navOpts.instance ?? D.navInstance;
  const bcInstance = opts.bcOnPrem?.instance ?? D.bcInstance;
  const tenantId = opts.bcOnline?.tenantId ?? D.tenantId;
  const environment = opts.bcOnline?.environment ?? D.environment;
  const settings = {
    latencyMs: opts.latencyMs ?? 0,
    limits: { ...DEFAULT_LIMITS, ...opts.limits } as Limits,
    bcOnPremPageSize: opts.bcOnPrem?.pageSize ?? 20_000,
    bcOnlinePageSize: opts.bcOnline?.pageSize ?? 20_000,
    defaultCompany: opts.defaultCompany === undefined ? [...store.companies.keys()][0] : opts.defaultCompany,
  };
  const services = { ...NAV_DEFAULT_SERVICES, ...navOpts.services };
  const nav: NavSettings = {
    instance: navInstance,
    services,
    postAction: navOpts.postAction === undefined ? 'Post' : navOpts.postAction,
    defs: navDefs(services, navOpts.fieldLengths),
    pageSize: navOpts.pageSize ?? 1000,
    companies: store.companies,
    defaultCompany(): Company {
      const name = settings.defaultCompany;
      const only = store.companies.size === 1 ? [...store.companies.values()][0] : undefined;
      const c = name ? store.companies.get(name) : only;
      if (c) return c;
      throw odataError(
        400,
        'Internal_CompanyNotFound',
        'Cannot process the request because the default company cannot be found. You can specify a default company in the service configuration file, or specify one for each tenant, or you can add a query string in the form of "company=[name]". You can see the available companies by accessing the default OData web service, Company. For more information, see "OData Web Services" in Help',
      );
    },
  };
  const tokens = new TokenIssuer(
    tenantId,
    opts.bcOnline?.clients ?? [D.client],
    opts.bcOnline?.tokenLifetimeS ?? 3599,
  );
  const auth: Authenticators = {
    navAuth: navOpts.auth ?? 'basic',
    navUsers: navOpts.users ?? [D.navUser],
    ntlm: new NtlmGate(navOpts.windowsUsers ?? [D.windowsUser]),
    bcUsers: opts.bcOnPrem?.users ?? [D.bcUser],
    tokens,
    authority: () => origin,
  };
  const faults = new Faults(opts.faults);
  const limiter = new Limiter(() => settings.limits);
  const requests: NavisionRequest[] = [];
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

  function classify(rawPath: string): Route {
    const segs = rawPath.split('/').filter((s) => s !== '');
    if (segs.length === 4 && eqi(segs[1], 'oauth2') && segs[2] === 'v2.0' && eqi(segs[3], 'token'))
      return { flavour: 'token', tenant: segs[0] as string };
    if (eqi(segs[0], 'v2.0') && eqi(segs[3], 'api') && segs[4] === 'v2.0')
      return {
        flavour: 'bcOnline',
        tenant: segs[1] as string,
        environment: segs[2] as string,
        rest: segs.slice(5),
      };
    if (eqi(segs[0], navInstance) && eqi(segs[1], 'ODataV4')) return { flavour: 'nav', rest: segs.slice(2) };
    if (eqi(segs[0], bcInstance) && eqi(segs[1], 'api') && segs[2] === 'v2.0')
      return { flavour: 'bcOnPrem', rest: segs.slice(3) };
    return { flavour: 'unknown', first: segs[0] ?? '' };
  }

  function faultReply(kind: FaultKind): SandboxReply | undefined {
    const o = faults.options;
    if (kind === 'throttle')
      return odataError(
        429,
        'Application_TooManyRequests',
        'Too many requests reached.',
        o.throttleRetryAfterS === undefined ? undefined : { 'Retry-After': String(o.throttleRetryAfterS) },
      );
    if (kind === 'lock')
      return odataError(
        o.lockStatus ?? 409,
        'Unknown',
        'The operation could not complete because a record in the Sales Header table was locked by another user. Please retry the activity.',
      );
    if (kind === 'error') {
      const status = o.errorStatus ?? 500;
      return status === 500
        ? odataError(500, 'Internal_ServerError', 'Cannot establish a connection to the SQL Server/Database.')
        : odataError(status, 'Unknown', 'The service is temporarily unavailable. Please retry the request.', {
            'Retry-After': '1',
          });
    }
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const at = Date.now();
    const method = (req.method ?? 'GET').toUpperCase();
    const rawUrl = req.url ?? '/';
    const bodyText = await readBody(req);
    const route = classify(rawUrl.split('?')[0] as string);
    const record: NavisionRequest = {
      seq: ++seq,
      at,
      method,
      path: rawUrl,
      flavour: route.flavour,
      entity: '',
      status: 0,
    };
    requests.push(record);
    let result: Result | undefined;
    let after: FaultKind | undefined;
    try {
      if (route.flavour === 'unknown') throw segmentNotFound(route.first);
      if (route.flavour === 'token') {
        const form = new URLSearchParams(bodyText);
        record.entity = 'token';
        record.body = {
          grant_type: form.get('grant_type'),
          client_id: form.get('client_id'),
          scope: form.get('scope'),
        };
        const fault = faults.pick({ flavour: 'token', entity: 'token', method });
        record.fault = fault;
        const refusal = fault && faultReply(fault);
        if (refusal) throw refusal;
        result = tokens.token(route.tenant, method, form);
        after = fault;
      } else {
        record.user = identify(
          auth,
          route.flavour,
          req,
          route.flavour === 'bcOnline' ? route.tenant : undefined,
        );
        if (route.flavour === 'bcOnline' && route.environment !== environment)
          throw segmentNotFound(route.environment);
        let body: unknown;
        if (bodyText.trim() !== '') {
          try {
            body = JSON.parse(bodyText);
          } catch {
            throw badRequest('Invalid Request Body');
          }
        }
        record.body = body;
        const ctx: Ctx = {
          store,
          method,
          url: new URL(rawUrl, origin),
          body,
          contentType: req.headers['content-type'],
          ifMatch: req.headers['if-match'],
          prefer: req.headers.prefer as string | undefined,
        };
        const resolved: Resolved =
          route.flavour === 'nav'
            ? navResolve(route.rest, ctx, nav)
            : bcResolve(
                route.rest,
                ctx,
                {
                  companies: store.companies,
                  pageSize:
                    route.flavour === 'bcOnline' ? settings.bcOnlinePageSize : settings.bcOnPremPageSize,
                },
                route.flavour === 'bcOnline' ? bcOnlineBaseUrl : bcOnPremBaseUrl,
              );
        record.entity = resolved.entity;
        record.company = resolved.company?.name;
        const release =
          route.flavour === 'nav' ? () => {} : await limiter.enter(`${route.flavour}:${record.user}`);
        try {
          const fault = faults.pick({ flavour: route.flavour, entity: resolved.entity, method });
          record.fault = fault;
          if (fault === 'throttle') throw faultReply(fault);
          await sleep(settings.latencyMs);
          const refusal = fault && faultReply(fault);
          if (refusal) throw refusal;
          result = resolved.run();
          after = fault;
        } finally {
          release();
        }
      }
    } catch (err) {
      const reply =
        err instanceof SandboxReply
          ? err
          : odataError(500, 'Internal_ServerError', err instanceof Error ? err.message : String(err));
      record.status = reply.status;
      send(res, reply.status, { body: reply.body }, reply.headers ?? {});
      return;
    }
    if (after === 'drop' || after === 'timeout') {
      // Committed, but the answer never arrives: the client cannot tell whether its write happened.
      record.status = -1;
      if (after === 'timeout') await sleep(faults.options.timeoutMs ?? 5000);
      res.destroy();
      return;
    }
    record.status = result.status;
    send(res, result.status, result, result.headers ?? {});
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) =>
      send(res, 500, { body: { error: { code: 'Unknown', message: String(err) } } }, {}),
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, '127.0.0.1', () => {
      server.off('error', fail);
      ok();
    });
  });
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const bcOnPremBaseUrl = `${origin}/${bcInstance}/api/v2.0`;
  const bcOnlineBaseUrl = `${origin}/v2.0/${tenantId}/${environment}/api/v2.0`;

  return {
    url: origin,
    navBaseUrl: `${origin}/${navInstance}/ODataV4`,
    bcOnPremBaseUrl,
    bcOnlineBaseUrl,
    authorityUrl: origin,
    tokenUrl: `${origin}/${tenantId}/oauth2/v2.0/token`,
    tenantId,
    requests,
    companies: store.companies,
    company(name) {
      const c = store.companies.get(name);
      if (!c) throw new Error(`The sandbox has no company named ${JSON.stringify(name)}`);
      return c;
    },
    faults,
    configure(p) {
      if (p.latencyMs !== undefined) settings.latencyMs = p.latencyMs;
      if (p.limits) settings.limits = { ...settings.limits, ...p.limits } as Limits;
      if (p.faults) faults.set(p.faults);
      if (p.navPageSize !== undefined) nav.pageSize = p.navPageSize;
      if (p.bcPageSize !== undefined) {
        settings.bcOnPremPageSize = p.bcPageSize;
        settings.bcOnlinePageSize = p.bcPageSize;
      }
      if (p.tokenLifetimeS !== undefined) tokens.setLifetime(p.tokenLifetimeS);
      if (p.defaultCompany !== undefined) settings.defaultCompany = p.defaultCompany ?? undefined;
    },
    expireTokens: () => tokens.expireAll(),
    resetNtlm: () => auth.ntlm.reset(),
    close: () =>
      new Promise<void>((done, fail) => {
        for (const t of timers) clearTimeout(t);
        timers.clear();
        limiter.clear();
        server.close((err) => (err ? fail(err) : done()));
        server.closeAllConnections();
      }),
  };
}
