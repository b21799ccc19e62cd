import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.ts';
import { mulberry32 } from '../../src/prng.ts';
import { apiToken } from '../helpers/api.ts';
import { AUTOTASK_CREDENTIALS, BILLING_CODE, startWorld, type World } from '../helpers/world.ts';

/**
 * 1,000 seeded bad (and some good) requests over every route of the OpenAPI document, with a valid operator-free
 * admin token: random and mutated bodies, queries and path parameters. None may answer 5xx, and every error
 * answers `{ error: { code, message, details? } }`. The same seed sends the same requests.
 */

const SEED = 20261130;
const REQUESTS = 1_000;
const ADMIN = 'fuzz-admin-token-0123456789';
const KEYS = [
  'dryRun',
  'dry_run',
  'customers',
  'customer',
  'level',
  'scopes',
  'target',
  'credentials',
  'settings',
  'customerIds',
  'wait',
  '__proto__',
  'constructor',
  '',
];

describe('1,000 bad requests: no 5xx, every error in the one shape', () => {
  let w: World;
  let base: string;
  let close: () => Promise<unknown>;
  let routes: { method: string; path: string }[];

  beforeAll(async () => {
    w = await startWorld({
      worker: false,
      env: { SPINPANEL_WEBHOOK_SECRET: 'whsec-fuzz-0123456789abcdef' },
    });
    const app = buildServer({
      services: w.app.services,
      tokens: [apiToken({ token: ADMIN, accountId: w.accountId, role: 'company_admin', userId: 'fuzz-1' })],
      // No worker runs here: a `?wait=true` sync gives up at once.
      maxWaitMs: 50,
    });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    close = () => app.close();
    const doc = (await (await fetch(`${base}/openapi.json`)).json()) as {
      paths: Record<string, Record<string, unknown>>;
    };
    // /readyz answers 503 by design while no worker is connected (none runs here): a probe, not an error.
    routes = Object.entries(doc.paths)
      .filter(([path]) => path !== '/readyz')
      .flatMap(([path, ops]) => Object.keys(ops).map((method) => ({ method: method.toUpperCase(), path })));
  });
  afterAll(async () => {
    await close?.();
    await w?.close();
  });

  it('answers each with a 4xx or a success, never a 5xx, errors in the one shape', async () => {
    const random = mulberry32(SEED);
    const int = (n: number) => Math.floor(random() * n);
    const pick = <T>(xs: readonly T[]): T => xs[int(xs.length)]!;

    const scalar = (): unknown =>
      pick([
        () => null,
        () => true,
        () => int(1e9) - 5e8,
        () => random() * 1e6,
        () => 'x'.repeat(int(300)),
        () => '\u0000\u202e<script>',
        () => '',
        () => w.link.id,
        () => -1,
        () => 1e308,
      ])();
    const value = (depth: number): unknown => {
      if (depth > 3 || random() < 0.5) return scalar();
      if (random() < 0.5) return Array.from({ length: int(4) }, () => value(depth + 1));
      return Object.fromEntries(Array.from({ length: int(4) }, () => [pick(KEYS), value(depth + 1)]));
    };
    const validBody = (path: string): unknown => {
      if (path.endsWith('/consents')) return { level: 'company', scopes: ['billing:read', 'billing:push'] };
      if (path.endsWith('/links'))
        return {
          target: 'autotask',
          credentials: AUTOTASK_CREDENTIALS,
          spinpanelApiKey: w.sp.apiKey,
          settings: { serviceBillingCodeId: BILLING_CODE },
        };
      if (path.endsWith('/syncs')) return { dryRun: true };
      if (path.endsWith('/mappings')) return { customers: {}, products: {} };
      if (path.endsWith('/exclusions')) return { customerIds: [] };
      if (path.endsWith('/settings')) return { usageMonths: 2 };
      return {};
    };
    /** A body: random JSON, a valid one with one key too many or one field of the wrong type, or raw text. */
    const body = (path: string): { text?: string; type?: string } => {
      const valid = validBody(path) as Record<string, unknown>;
      switch (int(6)) {
        case 0:
          return { text: JSON.stringify(value(0)), type: 'application/json' };
        case 1:
          return {
            text: JSON.stringify({ ...valid, [pick(KEYS) || 'extra']: value(1) }),
            type: 'application/json',
          };
        case 2: {
          const keys = Object.keys(valid);
          const k = keys.length > 0 ? pick(keys) : 'extra';
          return { text: JSON.stringify({ ...valid, [k]: value(2) }), type: 'application/json' };
        }
        case 3:
          return pick([
            { text: '{"a":', type: 'application/json' },
            { text: 'null', type: 'application/json' },
            { text: '', type: 'application/json' },
            { text: 'plain', type: 'text/plain' },
            { text: '<x/>', type: 'application/xml' },
            { text: '{}', type: 'application/json; charset=utf-16' },
          ]);
        case 4:
          return {};
        default:
          return { text: JSON.stringify(valid), type: 'application/json' };
      }
    };
    const ids: Record<string, () => string> = {
      accountId: () => w.accountId,
      linkId: () => w.link.id,
      consentId: () => w.consent.id,
      runId: () => `run-${int(10)}`,
      userId: () => `user-${int(10)}`,
    };
    const badSegment = () =>
      pick(['', '%00', '..', '%2F', 'x'.repeat(2_000), '%E0%A4%A', '😀', 'null', '0', '-1', '%20', '{id}']);
    const query = () => {
      if (random() < 0.5) return '';
      const params = Array.from({ length: 1 + int(3) }, () => {
        const k = pick(['wait', 'wait', 'limit', 'dry_run', '__proto__', 'x[y]', '']);
        const v = pick(['true', 'false', 'maybe', '', '1', '%ZZ', 'a&b']);
        return `${k}=${v}`;
      });
      return `?${params.join('&')}`;
    };

    const failures: string[] = [];
    const statuses = new Map<number, number>();
    for (let i = 0; i < REQUESTS; i++) {
      const route = pick(routes);
      // Mostly the route's own method; sometimes another one (a 405).
      const method = random() < 0.9 ? route.method : pick(['GET', 'POST', 'PUT', 'PATCH', 'DELETE']);
      // Erasing the account would leave nothing to fuzz: its route gets bad paths only.
      const erase = route.path.endsWith('/data');
      const path = route.path.replace(/\{(\w+)\}/g, (_, name: string) =>
        erase || random() < 0.3 ? badSegment() : encodeURIComponent(ids[name]?.() ?? 'x'),
      );
      if (erase && method === 'DELETE' && path.includes(w.accountId)) continue;
      const b = method === 'GET' || method === 'HEAD' ? {} : body(route.path);
      const url = `${base}${path}${query()}`;
      let res: Response;
      try {
        res = await fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${ADMIN}`,
            ...(b.type ? { 'content-type': b.type } : {}),
          },
          body: b.text,
        });
      } catch (error) {
        failures.push(`#${i} ${method} ${url.slice(0, 200)}: ${(error as Error).message}`);
        continue;
      }
      const text = await res.text();
      statuses.set(res.status, (statuses.get(res.status) ?? 0) + 1);
      const cell = `#${i} ${method} ${url.slice(0, 200)} → ${res.status}`;
      if (res.status >= 500) failures.push(`${cell}: ${text.slice(0, 300)}`);
      if (res.status >= 400) {
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          failures.push(`${cell}: not JSON: ${text.slice(0, 100)}`);
          continue;
        }
        const error = (parsed as { error?: Record<string, unknown> }).error;
        const keys = Object.keys(parsed as object);
        if (
          keys.length !== 1 ||
          !error ||
          typeof error.code !== 'string' ||
          typeof error.message !== 'string' ||
          Object.keys(error).some((k) => !['code', 'message', 'details'].includes(k)) ||
          (error.details !== undefined && (typeof error.details !== 'object' || error.details === null))
        ) {
          failures.push(`${cell}: not the error shape: ${text.slice(0, 200)}`);
        }
      }
    }
    expect(failures).toEqual([]);
    // The requests reached the handlers as well as the checks in front of them.
    expect([...statuses.keys()].some((s) => s < 300)).toBe(true);
    expect(statuses.get(400)).toBeGreaterThan(200);
  }, 300_000);
});
