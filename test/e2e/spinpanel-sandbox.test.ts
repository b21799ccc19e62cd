import { Agent, request } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import {
  type SandboxOptions,
  type SpinPanelSandbox,
  startSpinPanelSandbox,
} from '../../src/spinpanel/sandbox.ts';

let sandbox: SpinPanelSandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function start(opts: SandboxOptions = {}) {
  sandbox = await startSpinPanelSandbox(opts);
  return sandbox;
}

/** Plain fetch against the sandbox origin; `path` is absolute (e.g. `/v1/customers`). */
async function call(
  sb: SpinPanelSandbox,
  path: string,
  init: { method?: string; body?: unknown; key?: string } = {},
) {
  const res = await fetch(new URL(path, sb.url), {
    method: init.method ?? 'GET',
    headers: { Authorization: `Bearer ${init.key ?? sb.apiKey}`, 'Content-Type': 'application/json' },
    body: init.body === undefined ? undefined : JSON.stringify(init.body),
  });
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    headers: res.headers,
    body: await res.json(),
  };
}

describe('SpinPanel sandbox HTTP', () => {
  it('answers a wrong key with a 401 problem', async () => {
    const sb = await start();
    const res = await call(sb, '/v1/customers', { key: 'nope' });
    expect(res.status).toBe(401);
    expect(res.type).toBe('application/problem+json');
    expect(res.headers.get('www-authenticate')).toBe('Bearer');
    expect(res.body).toMatchObject({ status: 401, title: 'Unauthorized' });
  });

  it('validates paging parameters, naming the one at fault', async () => {
    const sb = await start();
    for (const size of ['0', '501', 'ten', '2.5']) {
      const res = await call(sb, `/v1/customers?pageSize=${size}`);
      expect(res.status).toBe(400);
      expect(res.type).toBe('application/problem+json');
      expect(res.body.detail).toBe('pageSize must be an integer from 1 to 500');
      expect(res.body.invalidParams).toEqual([
        { name: 'pageSize', reason: 'must be an integer from 1 to 500' },
      ]);
    }
    expect((await call(sb, '/v1/customers?pageToken=bogus')).body.invalidParams[0].name).toBe('pageToken');
    expect((await call(sb, '/v1/customers?updatedSince=yesterday')).body.invalidParams[0].name).toBe(
      'updatedSince',
    );
    const customerId = sb.data.customers[0]!.id;
    expect((await call(sb, `/v1/customers/${customerId}/usage`)).body.invalidParams[0].name).toBe('period');
  });

  it('defaults to 100 items a page and hands out opaque tokens', async () => {
    const sb = await start({ customers: 1, subscriptionsPerCustomer: 150 });
    const path = `/v1/customers/${sb.data.customers[0]!.id}/subscriptions`;
    const first = await call(sb, path);
    expect(first.body.items).toHaveLength(100);
    expect(typeof first.body.nextPageToken).toBe('string');
    const second = await call(sb, `${path}?pageToken=${first.body.nextPageToken}`);
    expect(second.body.items).toHaveLength(50);
    expect(second.body.nextPageToken).toBeNull();
  });

  it('answers an unknown customer or path with 404 problems', async () => {
    const sb = await start();
    const res = await call(sb, '/v1/customers/does-not-exist/subscriptions');
    expect(res.status).toBe(404);
    expect(res.body.detail).toBe('Customer does-not-exist does not exist.');
    expect((await call(sb, '/v1/invoices')).status).toBe(404);
    expect((await call(sb, '/v1/customers', { method: 'DELETE' })).status).toBe(405);
  });

  it('lets another process change data and settings through /_control', async () => {
    let clock = new Date('2026-11-15T10:00:00Z');
    const sb = await start({ now: () => clock });
    const sub = sb.data.subscriptions[0]!;
    clock = new Date('2026-11-16T08:00:00Z');

    expect(
      (await call(sb, `/_control/subscriptions/${sub.id}`, { method: 'POST', body: {}, key: 'x' })).status,
    ).toBe(401);
    const bad = await call(sb, `/_control/subscriptions/${sub.id}`, {
      method: 'POST',
      body: { quantity: -1 },
    });
    expect(bad.status).toBe(400);
    const ok = await call(sb, `/_control/subscriptions/${sub.id}`, {
      method: 'POST',
      body: { quantity: 42, status: 'suspended' },
    });
    expect(ok.body).toMatchObject({
      id: sub.id,
      quantity: 42,
      status: 'suspended',
      updatedAt: clock.toISOString(),
    });
    expect(sb.data.subscriptions[0]).toMatchObject({ quantity: 42, status: 'suspended' });

    const cfg = await call(sb, '/_control/config', { method: 'POST', body: { errorRate: 1 } });
    expect(cfg.body).toEqual({ latencyMs: 0, errorRate: 1, invalidRate: 0 });
    const busy = await call(sb, '/v1/account');
    expect(busy.status).toBe(503);
    expect(busy.headers.get('retry-after')).toBe('0');
    expect((await call(sb, '/_control/config', { method: 'POST', body: { errorRate: 2 } })).status).toBe(400);

    const state = await call(sb, '/_control/state');
    expect(state.body.requestCount).toBe(1);
    expect(state.body.data.subscriptions[0].quantity).toBe(42);
    // Control calls are not API traffic.
    expect(sb.requests.map((r) => `${r.path} ${r.status}`)).toEqual(['/v1/account 503']);
  });

  it('closes promptly with a keep-alive socket busy on a slow request', async () => {
    const sb = await start({ latencyMs: 10_000 });
    const agent = new Agent({ keepAlive: true });
    try {
      const outcome = new Promise<string>((resolve) => {
        const req = request(
          new URL('/v1/account', sb.url),
          { agent, headers: { Authorization: `Bearer ${sb.apiKey}` } },
          (res) => resolve(`answered ${res.statusCode}`),
        );
        req.on('error', (err) => resolve(`dropped: ${err.message}`));
        req.end();
      });
      while (sb.requests.length === 0) await new Promise((r) => setTimeout(r, 5));
      const started = Date.now();
      await sb.close();
      sandbox = undefined;
      expect(Date.now() - started).toBeLessThan(1000);
      expect(await outcome).toMatch(/^dropped/);
    } finally {
      agent.destroy();
    }
  });
});
