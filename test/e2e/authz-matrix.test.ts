import { randomUUID } from 'node:crypto';
import type { FastifyInstance, HTTPMethods } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Role } from '../../src/config.ts';
import { DASHBOARD_PATH } from '../../src/http/ops.ts';
import { buildServer } from '../../src/http/server.ts';
import { readAudit } from '../../src/store/audit.ts';
import { saveRun } from '../../src/sync/runs.ts';
import { apiToken } from '../helpers/api.ts';
import { AUTOTASK_CREDENTIALS, admin, BILLING_CODE, startWorld, type World } from '../helpers/world.ts';

/**
 * Every route the server registers × every caller (each role, bound to account A or to every account, and no
 * token) × own account, another account, and another account's ids under one's own account path. Statuses are
 * the README's "Admin API" table; no answer to a caller of A holds any of B's data.
 */

type Caller = Role | 'anonymous';
const CALLERS: Caller[] = ['company_admin', 'reseller', 'user', 'operator', 'anonymous'];
const TOKENS: Record<Role, string> = {
  company_admin: 'matrix-admin-token-0123456789',
  reseller: 'matrix-reseller-token-0123456789',
  user: 'matrix-user-token-0123456789',
  operator: 'matrix-operator-token-0123456789',
};
const ADMINS: Role[] = ['company_admin', 'reseller'];
const RIGHTS: Role[] = ['company_admin', 'reseller', 'operator'];
const EVERYONE: Role[] = ['company_admin', 'reseller', 'user', 'operator'];

interface Ids {
  accountId: string;
  linkId: string;
  consentId: string;
  runId: string;
  userId: string;
}
interface Spec {
  /** Roles the README lets call the route (on their own account; operators on every account). */
  who: Role[] | 'public';
  /** The answer of an allowed call. */
  ok: number;
  body?: (w: World) => unknown;
  /** Makes the state the call needs (run before each call on that account). */
  setup?: (w: World, ids: Ids) => Promise<Partial<Ids> | undefined>;
  /** A call on one's own path with another account's ids: the answer when allowed (default 404). */
  mixedOk?: number;
  /** Erases the account: called last. */
  destructive?: boolean;
}

const ensureLink = async (w: World, status: 'active' | 'suspended') => {
  const link = await w.app.services.getLink(w.accountId, w.link.id);
  if (status === 'active' && link.status === 'suspended')
    await w.app.services.resumeLink(admin, w.accountId, w.link.id);
  if (status === 'suspended' && link.status === 'active')
    await w.app.services.suspendLink(admin, w.accountId, w.link.id);
  return undefined;
};

/** One row per route; a route the server registers without a row here fails the test. */
const SPECS: Record<string, Spec> = {
  'GET /healthz': { who: 'public', ok: 200 },
  // Readiness is public like liveness; metrics span every account: operators only (README "Operations").
  // 503: the matrix's worlds run no sync worker, and readiness says so (test/e2e/ops.test.ts has the 200).
  'GET /readyz': { who: 'public', ok: 503 },
  'GET /metrics': { who: ['operator'], ok: 200 },
  // The API's description and its interactive page: public, they hold no account's data.
  'GET /openapi.json': { who: 'public', ok: 200 },
  'GET /docs': { who: 'public', ok: 200 },
  'GET /docs/': { who: 'public', ok: 200 },
  'POST /v1/webhooks/spinpanel': { who: 'public', ok: 401 },
  'POST /v1/accounts/:accountId/consents': {
    who: ['company_admin', 'reseller', 'user'],
    ok: 201,
    body: () => ({ level: 'user', scopes: ['billing:read'] }),
  },
  'GET /v1/accounts/:accountId/consents': { who: EVERYONE, ok: 200 },
  'POST /v1/accounts/:accountId/consents/:consentId/revoke': {
    who: ADMINS,
    ok: 200,
    // A fresh company-level consent given by someone else: only an admin may revoke it.
    setup: async (w) => ({
      consentId: (
        await w.app.services.grantConsent(admin, w.accountId, { level: 'company', scopes: ['billing:read'] })
      ).id,
    }),
  },
  'POST /v1/accounts/:accountId/links': {
    who: ADMINS,
    ok: 201,
    body: (w) => ({
      target: 'autotask',
      credentials: AUTOTASK_CREDENTIALS,
      spinpanelApiKey: w.sp.apiKey,
      settings: { serviceBillingCodeId: BILLING_CODE },
    }),
  },
  'GET /v1/accounts/:accountId/links': { who: EVERYONE, ok: 200 },
  'GET /v1/accounts/:accountId/links/:linkId': { who: EVERYONE, ok: 200 },
  'POST /v1/accounts/:accountId/links/:linkId/suspend': {
    who: ADMINS,
    ok: 200,
    setup: (w) => ensureLink(w, 'active'),
  },
  'POST /v1/accounts/:accountId/links/:linkId/resume': {
    who: ADMINS,
    ok: 200,
    setup: (w) => ensureLink(w, 'suspended'),
  },
  'POST /v1/accounts/:accountId/links/:linkId/syncs': {
    who: RIGHTS,
    ok: 202,
    body: () => ({ dryRun: true }),
    setup: (w) => ensureLink(w, 'active'),
  },
  'POST /v1/accounts/:accountId/links/:linkId/runs/:runId/approve': {
    who: ADMINS,
    ok: 202,
    // A run awaiting approval (review mode), made from the finished one; no worker runs the queued approval.
    setup: async (w, ids) => {
      await ensureLink(w, 'active');
      const done = await w.app.services.getRun(ids.accountId, ids.linkId, ids.runId);
      const runId = `awaiting-${randomUUID()}`;
      await saveRun(w.app.store, { ...done, id: runId, jobId: runId, status: 'awaiting-approval' });
      return { runId };
    },
  },
  'GET /v1/accounts/:accountId/links/:linkId/syncs': { who: EVERYONE, ok: 200 },
  'GET /v1/accounts/:accountId/links/:linkId/syncs/:runId': { who: EVERYONE, ok: 200 },
  'PATCH /v1/accounts/:accountId/links/:linkId/settings': {
    who: ADMINS,
    ok: 200,
    body: () => ({ usageMonths: 2 }),
  },
  'GET /v1/accounts/:accountId/links/:linkId/mappings': { who: EVERYONE, ok: 200 },
  'PUT /v1/accounts/:accountId/links/:linkId/mappings': {
    who: ADMINS,
    ok: 200,
    body: () => ({ customers: {}, products: {} }),
  },
  'GET /v1/accounts/:accountId/links/:linkId/exclusions': { who: EVERYONE, ok: 200 },
  'PUT /v1/accounts/:accountId/links/:linkId/exclusions': {
    who: ADMINS,
    ok: 200,
    body: () => ({ customerIds: [] }),
  },
  // A user id names no record of an account: another account's user reported removed here ends only this
  // account's consents given by that id (none), so it answers like any other id.
  'POST /v1/accounts/:accountId/users/:userId/removed': { who: RIGHTS, ok: 200, mixedOk: 200 },
  'GET /v1/accounts/:accountId/export': { who: RIGHTS, ok: 200 },
  'GET /v1/accounts/:accountId/audit': { who: RIGHTS, ok: 200 },
  'DELETE /v1/accounts/:accountId/data': { who: RIGHTS, ok: 200, destructive: true },
};

/**
 * Method and URL of every route the server registered, read from its own route tree. The queue dashboard's
 * routes (the plugin's own, with its own ids) are checked apart: `dashboard: true` lists only them.
 */
function registeredRoutes(app: FastifyInstance, opts: { dashboard?: boolean } = {}): string[] {
  const out: string[] = [];
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    // The dashboard plugin's tree has segments that do not start with a slash ("api/queues/").
    const m = (
      opts.dashboard ? /^([│├└─ ]*?)([^│├└─ ]\S*)(?: \(([^)]+)\))?$/ : /^([│├└─ ]*?)(\/\S*)(?: \(([^)]+)\))?$/
    ).exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack[depth] = m[2]!;
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim())) {
      const url = stack.join('');
      if (method && url.startsWith(DASHBOARD_PATH) === Boolean(opts.dashboard)) out.push(`${method} ${url}`);
    }
  }
  return out;
}

const pathOf = (url: string, ids: Ids) =>
  url.replace(/:(\w+)/g, (_, name: keyof Ids) => encodeURIComponent(ids[name]));

describe('authorization matrix: every route × role × own / other account', () => {
  let a: World;
  let b: World;
  let app: FastifyInstance;
  let base: string;
  let idsA: Ids;
  let idsB: Ids;
  /** Values only account B holds: none may appear in an answer to a caller of account A. */
  let markersB: string[];
  const failures: string[] = [];
  let calls = 0;

  beforeAll(async () => {
    a = await startWorld({
      worker: false,
      env: { SPINPANEL_WEBHOOK_SECRET: 'whsec-matrix-0123456789abcdef' },
    });
    b = await startWorld({
      worker: false,
      spinpanel: { seed: 11, apiKey: 'sp-key-of-account-b-only' },
      env: { REDIS_PREFIX: a.env.REDIS_PREFIX!, SPINPANEL_WEBHOOK_SECRET: 'whsec-matrix-0123456789abcdef' },
    });
    expect(b.accountId).not.toBe(a.accountId);
    // One finished run each, from each account's own worker (each world reads its own SpinPanel).
    for (const w of [a, b]) {
      const worker = w.app.startWorker(1);
      await w.sync(true);
      await worker.close();
    }
    const userB = 'user-of-account-b';
    const userConsentB = await b.app.services.grantConsent({ userId: userB, role: 'user' }, b.accountId, {
      level: 'user',
      scopes: ['billing:read'],
    });
    const customerB = b.sp.data.customers[0]!.id;
    await b.app.services.putExclusions(admin, b.accountId, b.link.id, { customerIds: [customerB] });
    const [runA] = await a.app.services.listRuns(a.accountId, a.link.id);
    const [runB] = await b.app.services.listRuns(b.accountId, b.link.id);
    idsA = {
      accountId: a.accountId,
      linkId: a.link.id,
      consentId: a.consent.id,
      runId: runA!.id,
      userId: 'gone-user-a',
    };
    idsB = {
      accountId: b.accountId,
      linkId: b.link.id,
      consentId: b.consent.id,
      runId: runB!.id,
      userId: userB,
    };
    const namesA = new Set(a.sp.data.customers.map((c) => c.name));
    markersB = [
      b.accountId,
      b.link.id,
      b.consent.id,
      userConsentB.id,
      runB!.id,
      userB,
      b.sp.apiKey,
      ...b.sp.data.customers.map((c) => c.id),
      ...b.sp.data.customers.map((c) => c.name).filter((n) => !namesA.has(n)),
    ];

    app = buildServer({
      services: a.app.services,
      tokens: [
        ...(['company_admin', 'reseller', 'user'] as const).map((role) =>
          apiToken({ token: TOKENS[role], accountId: a.accountId, role, userId: `${role}-of-a` }),
        ),
        apiToken({ token: TOKENS.operator, accountId: '*', role: 'operator', userId: 'ops-1' }),
      ],
      // The matrix itself makes hundreds of refused calls from one address.
      authFailures: { max: 100_000, windowMs: 60_000 },
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
  }, 120_000);

  afterAll(async () => {
    await app?.close();
    await b?.close();
    await a?.close();
  });

  /** What B holds, to compare before and after the calls that must not touch it. */
  const stateOfB = async () => {
    const s = b.app.services;
    return JSON.stringify({
      consents: await s.listConsents(b.accountId),
      links: await s.listLinks(b.accountId),
      mapping: await s.getMapping(b.accountId, b.link.id),
      exclusions: await s.getExclusions(b.accountId, b.link.id),
      runs: (await s.listRuns(b.accountId, b.link.id)).map((r) => r.id),
      audit: (await readAudit(b.app.redis, b.app.store.keys, b.accountId)).length,
    });
  };

  async function call(route: string, caller: Caller, ids: Ids, expected: number[], what: string) {
    const [method, url] = route.split(' ') as [string, string];
    const spec = SPECS[method === 'HEAD' ? `GET ${url}` : route]!;
    const path = pathOf(url, ids);
    const body = spec.body?.(ids.accountId === a.accountId ? a : b);
    const res = await fetch(`${base}${path}`, {
      method,
      headers: {
        ...(caller !== 'anonymous' ? { authorization: `Bearer ${TOKENS[caller]}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      },
      body: body !== undefined ? JSON.stringify(body) : undefined,
    });
    const text = await res.text();
    calls++;
    const cell = `${route} as ${caller}, ${what} (${path})`;
    if (!expected.includes(res.status))
      failures.push(`${cell}: ${res.status}, expected ${expected.join('|')}: ${text.slice(0, 200)}`);
    if (res.headers.get('cache-control') !== 'no-store')
      failures.push(`${cell}: cache-control ${res.headers.get('cache-control')}`);
    if (res.headers.get('x-content-type-options') !== 'nosniff') failures.push(`${cell}: no nosniff`);
    // Operators may read B on B's own path; nobody reads B through A's path or A's token.
    const mayHoldB = caller === 'operator' && ids.accountId === b.accountId;
    const leaked = mayHoldB
      ? []
      : markersB.filter((m) => text.includes(m) && !path.includes(encodeURIComponent(m)));
    if (leaked.length > 0) failures.push(`${cell}: answer holds B's ${leaked.join(', ')}`);
  }

  /** Own account A, then A's path with each of B's ids in turn and all of them, then B's path with B's ids. */
  async function row(route: string, callers: Caller[]) {
    const [method, url] = route.split(' ') as [string, string];
    const spec = SPECS[method === 'HEAD' ? `GET ${url}` : route]!;
    const params = [...url.matchAll(/:(\w+)/g)]
      .map((m) => m[1] as keyof Ids)
      .filter((p) => p !== 'accountId');
    for (const caller of callers) {
      const allowed = spec.who === 'public' || (caller !== 'anonymous' && spec.who.includes(caller));
      const refusal = caller === 'anonymous' && spec.who !== 'public' ? [401] : [403];
      const head = method === 'HEAD';
      const okStatus = head && spec.ok === 201 ? 201 : spec.ok;

      const own = { ...idsA, ...(await spec.setup?.(a, idsA)) };
      await call(route, caller, own, allowed ? [okStatus] : refusal, 'own account');

      if (params.length > 0) {
        const variants: [string, Partial<Ids>][] = params.map((p) => [`B's ${p} under A`, { [p]: idsB[p] }]);
        if (params.length > 1)
          variants.push(["all B's ids under A", Object.fromEntries(params.map((p) => [p, idsB[p]]))]);
        for (const [what, swap] of variants) {
          const ids = { ...idsA, ...(await spec.setup?.(a, idsA)), ...swap };
          const mixed = allowed ? [spec.mixedOk ?? 404] : caller === 'anonymous' ? [401] : [403, 404];
          await call(route, caller, ids, mixed, what);
        }
      }

      if (spec.who === 'public' || caller !== 'operator') {
        // Another account's path: refused at the door for anyone bound to A.
        const other = spec.who === 'public' ? [spec.ok] : caller === 'anonymous' ? [401] : [403];
        await call(route, caller, idsB, other, "B's path");
      }
    }
  }

  it('refuses every route of the queue dashboard to all but operators of every account', async () => {
    // Read from the printed tree, which can splice a wildcard's segments: only patterns the router holds count.
    const routes = registeredRoutes(app, { dashboard: true }).filter((r) => {
      const [method, url] = r.split(' ') as [HTTPMethods, string];
      return app.hasRoute({ method, url });
    });
    routes.push(`GET ${DASHBOARD_PATH}/static/x.js`);
    expect(routes.length).toBeGreaterThan(10);
    for (const route of routes) {
      const [method, url] = route.split(' ') as [string, string];
      const path = url.replace(/:\w+|\*/g, 'x');
      for (const caller of CALLERS.filter((c) => c !== 'operator')) {
        const res = await fetch(`${base}${path}`, {
          method,
          headers: caller !== 'anonymous' ? { authorization: `Bearer ${TOKENS[caller]}` } : {},
        });
        await res.arrayBuffer();
        const expected = caller === 'anonymous' ? 401 : 403;
        if (res.status !== expected)
          failures.push(`${route} as ${caller}: ${res.status}, expected ${expected}`);
        if (res.headers.get('cache-control') !== 'no-store')
          failures.push(`${route} as ${caller}: cacheable`);
      }
    }
    const page = await fetch(`${base}${DASHBOARD_PATH}`, {
      headers: { authorization: `Bearer ${TOKENS.operator}` },
    });
    expect(page.status).toBe(200);
    expect(failures).toEqual([]);
  });

  it('covers every registered route with a row of the README table', async () => {
    const routes = registeredRoutes(app);
    expect(routes.length).toBeGreaterThan(20);
    const missing = routes.filter((r) => !SPECS[r.startsWith('HEAD ') ? `GET ${r.slice(5)}` : r]);
    expect(missing).toEqual([]);
    expect(Object.keys(SPECS).filter((k) => !routes.includes(k))).toEqual([]);
  });

  it('answers each caller as the README says and never with another account’s data', async () => {
    const routes = registeredRoutes(app);
    const before = await stateOfB();
    const [erasing, rest] = [
      routes.filter((r) => SPECS[r]?.destructive),
      routes.filter((r) => !SPECS[r.startsWith('HEAD ') ? `GET ${r.slice(5)}` : r]?.destructive),
    ];
    for (const route of rest) await row(route, CALLERS);
    // Nothing a caller of A did, through any path, changed B (operators on B's path come next).
    if ((await stateOfB()) !== before)
      failures.push("B's consents, links, mapping, exclusions, runs or trail changed");

    // Operators hold every account: B's path answers them as A's does.
    for (const route of rest) {
      const [method, url] = route.split(' ') as [string, string];
      const spec = SPECS[method === 'HEAD' ? `GET ${url}` : route]!;
      if (spec.who === 'public') continue;
      const ids = { ...idsB, ...(await spec.setup?.(b, idsB)) };
      await call(
        route,
        'operator',
        ids,
        [spec.who.includes('operator') ? spec.ok : 403],
        "B's path (operator)",
      );
    }

    // Erasure last: refusals first, then each allowed caller on its own account, then an operator on B.
    for (const route of erasing) {
      for (const caller of ['user', 'anonymous', 'company_admin', 'reseller'] as Caller[]) {
        await call(route, caller, idsB, caller === 'anonymous' ? [401] : [403], "B's path");
      }
      await call(route, 'user', idsA, [403], 'own account');
      await call(route, 'anonymous', idsA, [401], 'own account');
      for (const caller of RIGHTS) await call(route, caller, idsA, [200], 'own account');
      await call(route, 'operator', idsB, [200], "B's path (operator)");
    }
    expect(failures).toEqual([]);
    expect(calls).toBeGreaterThan(400);
  }, 120_000);
});
