import axios from 'axios';
import { afterEach, describe, expect, it } from 'vitest';
import { SpinPanelClient, type SpinPanelClientOptions } from '../../src/spinpanel/client.ts';
import { classifySpinPanelError, SpinPanelError } from '../../src/spinpanel/errors.ts';
import {
  type SandboxOptions,
  type SpinPanelSandbox,
  startSpinPanelSandbox,
} from '../../src/spinpanel/sandbox.ts';
import { previousPeriod } from '../../src/spinpanel/seed.ts';
import { pullSnapshot } from '../../src/spinpanel/snapshot.ts';

let sandbox: SpinPanelSandbox | undefined;
afterEach(async () => {
  await sandbox?.close();
  sandbox = undefined;
});

async function start(opts: SandboxOptions = {}) {
  sandbox = await startSpinPanelSandbox(opts);
  return sandbox;
}

/** What the gate would hand over: base URL and bearer key already set. */
function clientFor(sb: SpinPanelSandbox, opts: SpinPanelClientOptions = {}, key = sb.apiKey) {
  return new SpinPanelClient(
    axios.create({ baseURL: sb.url, headers: { Authorization: `Bearer ${key}` } }),
    opts,
  );
}

const subsPath = (sb: SpinPanelSandbox, customerId: string) =>
  sb.requests.filter((r) => r.path === `/v1/customers/${customerId}/subscriptions`);

describe('SpinPanel client and snapshot against the sandbox', () => {
  it('reads a whole account into a snapshot that matches the source', async () => {
    const sb = await start({ seed: 21, customers: 6, subscriptionsPerCustomer: 5 });
    const snap = await pullSnapshot(clientFor(sb));
    expect(snap.account).toEqual(sb.data.account);
    expect(snap.customers).toEqual(sb.data.customers);
    expect(snap.subscriptions).toEqual(sb.data.subscriptions);
    expect(snap.quarantined).toEqual([]);
    // One account call, one customer page, one subscription page per customer.
    expect(sb.requests).toHaveLength(1 + 1 + 6);
  });

  it('pages past one page: 1,200 subscriptions at pageSize 500 take 3 requests', async () => {
    const sb = await start({ customers: 2, subscriptionsPerCustomer: 1200 });
    const customerId = sb.data.customers[0]!.id;
    const items = await clientFor(sb).listSubscriptions(customerId);
    const expected = sb.data.subscriptions.filter((s) => s.customerId === customerId).map((s) => s.id);
    expect(items.map((s) => (s as { id: string }).id)).toEqual(expected);
    expect(expected).toHaveLength(1200);
    expect(subsPath(sb, customerId).map((r) => r.status)).toEqual([200, 200, 200]);
  });

  it('pages with a small page size too, without losing or repeating records', async () => {
    const sb = await start({ customers: 7, subscriptionsPerCustomer: 1 });
    const customers = await clientFor(sb, { pageSize: 3 }).listCustomers();
    expect(customers).toEqual(sb.data.customers);
    expect(sb.requests.filter((r) => r.path === '/v1/customers')).toHaveLength(3);
  });

  it('reads only what changed since the last pull', async () => {
    let clock = new Date('2026-11-15T10:00:00Z');
    const now = () => clock;
    const sb = await start({ seed: 4, customers: 3, subscriptionsPerCustomer: 3, now });
    const client = clientFor(sb);
    const first = await pullSnapshot(client, { now });
    expect(first.subscriptions).toHaveLength(9);

    clock = new Date('2026-11-15T11:00:00Z');
    const changed = sb.data.subscriptions[4]!;
    sb.setQuantity(changed.id, changed.quantity + 7);
    const cancelled = sb.data.subscriptions[7]!;
    sb.cancelSubscription(cancelled.id);

    const next = await pullSnapshot(client, { now, updatedSince: first.pulledAt });
    expect(next.subscriptions.map((s) => [s.id, s.quantity, s.status])).toEqual([
      [changed.id, changed.quantity, 'active'],
      [cancelled.id, cancelled.quantity, 'cancelled'],
    ]);
    // The customer list stays whole: a subscription can change without its customer changing.
    expect(next.customers).toHaveLength(3);
    expect(await client.listCustomers({ updatedSince: first.pulledAt })).toEqual([]);
  });

  it('quarantines a malformed record and still delivers the rest of the snapshot', async () => {
    const sb = await start({ seed: 8, customers: 3, subscriptionsPerCustomer: 4 });
    const bad = sb.data.subscriptions[5]!;
    sb.markInvalid(bad.id, 'quantity');
    const missing = sb.data.subscriptions[9]!;
    sb.markInvalid(missing.id, 'productId');
    const snap = await pullSnapshot(clientFor(sb));
    expect(snap.customers).toHaveLength(3);
    expect(snap.subscriptions.map((s) => s.id)).toEqual(
      sb.data.subscriptions.filter((s) => s !== bad && s !== missing).map((s) => s.id),
    );
    expect(snap.quarantined).toEqual([
      {
        kind: 'subscription',
        id: bad.id,
        customerId: bad.customerId,
        reason: 'quantity: expected number, received string',
      },
      {
        kind: 'subscription',
        id: missing.id,
        customerId: missing.customerId,
        reason: 'productId: expected string, received undefined',
      },
    ]);
  });

  it('serves a seeded fraction of records malformed, the same ones every time', async () => {
    const sb = await start({ seed: 13, customers: 5, subscriptionsPerCustomer: 10, invalidRate: 0.2 });
    const a = await pullSnapshot(clientFor(sb));
    const b = await pullSnapshot(clientFor(sb));
    expect(a.quarantined.length).toBeGreaterThan(0);
    expect(a.quarantined.length).toBeLessThan(25);
    expect(a.subscriptions.length + a.quarantined.length).toBe(50);
    expect(b.quarantined).toEqual(a.quarantined);
    sb.configure({ invalidRate: 0 });
    expect((await pullSnapshot(clientFor(sb))).quarantined).toEqual([]);
  });

  it('never reads an excluded customer beyond its id', async () => {
    const sb = await start({ customers: 4, subscriptionsPerCustomer: 2 });
    const excluded = sb.data.customers[2]!.id;
    const snap = await pullSnapshot(clientFor(sb), { excludedCustomerIds: new Set([excluded]) });
    expect(sb.requests.some((r) => r.path.includes(excluded))).toBe(false);
    expect(snap.customers.map((c) => c.id)).not.toContain(excluded);
    expect(snap.subscriptions.some((s) => s.customerId === excluded)).toBe(false);
    expect(snap.subscriptions).toHaveLength(6);
  });

  it('rides out 503 Retry-After answers and completes the snapshot', async () => {
    const sb = await start({ seed: 3, customers: 6, subscriptionsPerCustomer: 3, errorRate: 0.4 });
    const snap = await pullSnapshot(clientFor(sb, { maxThrottleWaits: 20 }));
    expect(sb.requests.filter((r) => r.status === 503).length).toBeGreaterThan(0);
    expect(snap.customers).toEqual(sb.data.customers);
    expect(snap.subscriptions).toEqual(sb.data.subscriptions);
  });

  it('surfaces a wrong key as a permanent 401 with SpinPanel’s detail, key not included', async () => {
    const sb = await start();
    const wrongKey = 'sp-wrong-key-987';
    const err = await pullSnapshot(clientFor(sb, {}, wrongKey)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SpinPanelError);
    const e = err as SpinPanelError;
    expect(e.status).toBe(401);
    expect(e.message).toBe(
      'SpinPanel GET /account failed: 401 Unauthorized — The API key is missing or not valid for any account.',
    );
    expect(`${e.message} ${JSON.stringify(e)} ${JSON.stringify(e.cause)}`).not.toContain(wrongKey);
    expect(classifySpinPanelError(e).kind).toBe('permanent');
    expect(sb.requests).toEqual([expect.objectContaining({ path: '/v1/account', status: 401 })]);
  });

  it('lists last month’s usage per customer', async () => {
    const sb = await start({ seed: 6, customers: 2 });
    const customerId = sb.data.customers[1]!.id;
    const period = previousPeriod(new Date());
    const usage = await clientFor(sb).listUsage(customerId, period);
    expect(usage).toEqual(sb.data.usage.filter((u) => u.customerId === customerId));
    expect(usage.length).toBeGreaterThan(0);
  });

  it('stops at once when the run is cancelled mid-request', async () => {
    const sb = await start({ latencyMs: 2000 });
    const controller = new AbortController();
    const pending = pullSnapshot(clientFor(sb, { signal: controller.signal })).catch((e: unknown) => e);
    setTimeout(() => controller.abort(), 50);
    const started = Date.now();
    const err = await pending;
    expect(axios.isCancel(err)).toBe(true);
    expect(Date.now() - started).toBeLessThan(1000);
    expect(sb.requests).toHaveLength(1);
  });
});
