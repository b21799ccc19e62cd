import SwaggerParser from '@apidevtools/swagger-parser';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.ts';
import { startWorld, type World } from '../helpers/world.ts';

type Operation = {
  summary?: string;
  requestBody?: unknown;
  responses?: Record<string, { content?: Record<string, { schema?: unknown }> }>;
};
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>> };

/** Method and URL of every route the server registered, read from fastify itself (as the authz matrix does). */
function registeredRoutes(app: FastifyInstance): string[] {
  const out = new Set<string>();
  const stack: string[] = [];
  for (const line of app.printRoutes({ commonPrefix: false }).split('\n')) {
    const m = /^([│├└─ ]*?)(\/\S*)(?: \(([^)]+)\))?$/.exec(line);
    if (!m) continue;
    const depth = m[1]!.length / 4;
    stack.length = depth;
    stack[depth] = m[2]!;
    for (const method of (m[3] ?? '').split(',').map((s) => s.trim())) {
      if (method && method !== 'HEAD') out.add(`${method} ${stack.join('')}`);
    }
  }
  return [...out];
}

/** `/v1/accounts/:accountId` → `/v1/accounts/{accountId}` */
const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

describe('OpenAPI document', () => {
  let w: World;
  let app: FastifyInstance;
  let base: string;
  let doc: Doc;

  beforeAll(async () => {
    w = await startWorld({ worker: false });
    app = buildServer({ services: w.app.services, tokens: [] });
    base = await app.listen({ host: '127.0.0.1', port: 0 });
    const res = await fetch(`${base}/openapi.json`);
    expect(res.status).toBe(200);
    doc = (await res.json()) as Doc;
  });
  afterAll(async () => {
    await app?.close();
    await w?.close();
  });

  it('is a valid OpenAPI 3 document, served without a token', async () => {
    expect(doc.openapi).toMatch(/^3\./);
    await expect(SwaggerParser.validate(structuredClone(doc) as never)).resolves.toBeTruthy();
  });

  it('holds every route fastify registered', () => {
    const routes = registeredRoutes(app);
    expect(routes.length).toBeGreaterThan(20);
    // Two pages, not the API: /docs (swagger-ui's HTML and assets) and the operators' BullMQ dashboard.
    const missing = routes
      .filter((r) => !/^GET \/docs(\/|$)/.test(r) && !/^\w+ \/admin\/queues(\/|$)/.test(r))
      .filter((r) => {
        const [method, url] = r.split(' ') as [string, string];
        return !doc.paths[openApiPath(url)]?.[method.toLowerCase()];
      });
    expect(missing).toEqual([]);
  });

  it('documents the body, the answers and the errors of every API route, errors in the one shape', () => {
    const gaps: string[] = [];
    for (const [path, ops] of Object.entries(doc.paths)) {
      if (!path.startsWith('/v1/')) continue;
      for (const [method, op] of Object.entries(ops)) {
        const name = `${method.toUpperCase()} ${path}`;
        if (!op.summary) gaps.push(`${name}: no summary`);
        const statuses = Object.keys(op.responses ?? {});
        if (!statuses.some((s) => s.startsWith('2'))) gaps.push(`${name}: no success answer`);
        for (const s of ['400', '401', ...(path.includes('{') ? ['404'] : [])]) {
          if (path === '/v1/webhooks/spinpanel' && s === '404') continue;
          if (!statuses.includes(s)) gaps.push(`${name}: no ${s}`);
        }
        for (const s of statuses.filter((x) => Number(x) >= 400)) {
          const schema = JSON.stringify(op.responses![s]!.content?.['application/json']?.schema ?? {});
          if (!schema.includes('"error"') || !schema.includes('"code"'))
            gaps.push(`${name}: ${s} not the error shape`);
        }
        if (['post', 'put', 'patch'].includes(method) && path !== '/v1/webhooks/spinpanel' && !op.requestBody)
          gaps.push(`${name}: no body`);
      }
    }
    expect(gaps).toEqual([]);
    // Strict bodies: an unknown key is refused, and the document says so.
    const put = doc.paths['/v1/accounts/{accountId}/links/{linkId}/mappings']!.put!;
    expect(JSON.stringify(put.requestBody)).toContain('"additionalProperties":false');
    const link = doc.paths['/v1/accounts/{accountId}/links']!.post!;
    expect(Object.keys(link.responses!)).toEqual(expect.arrayContaining(['201', '409', '422', '502', '503']));
  });

  it('serves an interactive page at /docs from the npm package, no network needed', async () => {
    const page = await fetch(`${base}/docs`);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\//);
    const csp = page.headers.get('content-security-policy') ?? '';
    expect(csp).toContain("script-src 'self'");
    for (const asset of [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)) {
      const res = await fetch(new URL(asset, `${base}/docs/`));
      expect(res.status, asset).toBe(200);
      // Read to the end: an unread body keeps its connection busy, and the server's close waits ~30 s for it.
      await res.arrayBuffer();
    }
    const init = await fetch(`${base}/docs/static/swagger-initializer.js`);
    expect(await init.text()).toContain('/openapi.json');
  });
});
