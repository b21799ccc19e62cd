import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { NOTIFY_SIGNATURE_HEADER, NOTIFY_TIMESTAMP_HEADER } from '../../src/notify/deliver.ts';
import { notifiedKey } from '../../src/notify/state.ts';
import { verifyWebhook } from '../../src/privacy/webhook.ts';
import { AUTOTASK_CREDENTIALS, startWorld, type World } from '../helpers/world.ts';

const SECRET = 'notify-secret-0123456789';

interface Received {
  headers: IncomingHttpHeaders;
  raw: string;
  body: Record<string, string>;
  status: number;
}

/** A local webhook receiver; `answer` decides each request's status. */
async function startReceiver(answer: (n: number) => number = () => 204) {
  const received: Received[] = [];
  const server: Server = createServer((req, res) => {
    let raw = '';
    req.on('data', (c) => {
      raw += c;
    });
    req.on('end', () => {
      const status = answer(received.length);
      received.push({ headers: req.headers, raw, body: JSON.parse(raw), status });
      res.writeHead(status).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/billing-sync`;
  return { url, received, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function until(check: () => boolean, ms = 10_000) {
  const end = Date.now() + ms;
  while (!check()) {
    if (Date.now() > end) throw new Error('timed out waiting');
    await new Promise((r) => setTimeout(r, 25));
  }
}

const settle = () => new Promise((r) => setTimeout(r, 600));

/** The last customer is left without an Autotask company, so every run meets it unmapped. */
const oneUnmapped = (customers: { name: string }[]) =>
  customers.slice(0, -1).map((c) => ({ companyName: c.name, companyType: 1 }));

describe('problem notifications', () => {
  let world: World | undefined;
  let receiver: Awaited<ReturnType<typeof startReceiver>> | undefined;
  afterEach(async () => {
    await world?.close();
    await receiver?.close();
    world = undefined;
    receiver = undefined;
  });

  it('notifies an unmapped customer once, signed, and a new problem again', async () => {
    receiver = await startReceiver();
    const r = receiver;
    world = await startWorld({
      companies: oneUnmapped,
      env: { NOTIFY_WEBHOOK_URL: r.url, NOTIFY_WEBHOOK_SECRET: SECRET },
    });
    const w = world;
    const missing = w.sp.data.customers.at(-1)!;

    const first = await w.sync();
    expect(first.unmapped.map((u) => u.customerId)).toEqual([missing.id]);
    await until(() => r.received.length >= 1);
    await settle();
    expect(r.received).toHaveLength(1);
    const [hit] = r.received;
    expect(() =>
      verifyWebhook(
        SECRET,
        {
          rawBody: hit!.raw,
          signature: hit!.headers[NOTIFY_SIGNATURE_HEADER] as string,
          timestamp: hit!.headers[NOTIFY_TIMESTAMP_HEADER] as string,
        },
        { toleranceSeconds: 300, nowMs: Date.now() },
      ),
    ).not.toThrow();
    expect(() =>
      verifyWebhook(
        'another-secret-0123456789',
        {
          rawBody: hit!.raw,
          signature: hit!.headers[NOTIFY_SIGNATURE_HEADER] as string,
          timestamp: hit!.headers[NOTIFY_TIMESTAMP_HEADER] as string,
        },
        { toleranceSeconds: 300, nowMs: Date.now() },
      ),
    ).toThrow();
    expect(hit!.body).toMatchObject({
      type: 'sync.problem',
      accountId: w.accountId,
      linkId: w.link.id,
      runId: first.id,
      kind: 'unmapped',
    });
    expect(hit!.body.summary).toContain(missing.name);
    for (const secret of [w.sp.apiKey, AUTOTASK_CREDENTIALS.secret, SECRET])
      expect(hit!.raw).not.toContain(secret);

    // The same problem on the next run: nothing new.
    await w.sync();
    await settle();
    expect(r.received).toHaveLength(1);

    // A new problem (a malformed subscription is quarantined) is notified; the unmapped one still is not.
    const sub = w.sp.data.subscriptions.find((s) => s.customerId !== missing.id)!;
    w.sp.markInvalid(sub.id, 'quantity');
    const third = await w.sync();
    expect(third.quarantined.length).toBeGreaterThan(0);
    await until(() => r.received.length >= 2);
    await settle();
    expect(r.received.map((x) => x.body.kind)).toEqual(['unmapped', 'quarantined']);
    expect(r.received[1]!.body.runId).toBe(third.id);
  });

  it('retries a receiver that answers 500 through the queue', async () => {
    receiver = await startReceiver((n) => (n < 2 ? 500 : 204));
    const r = receiver;
    world = await startWorld({
      companies: oneUnmapped,
      env: { NOTIFY_WEBHOOK_URL: r.url, NOTIFY_WEBHOOK_SECRET: SECRET },
    });
    await world.sync();
    await until(() => r.received.length >= 3);
    await settle();
    expect(r.received.map((x) => x.status)).toEqual([500, 500, 204]);
    expect(new Set(r.received.map((x) => x.body.id)).size).toBe(1);
  });

  it('sends nothing when no webhook is configured', async () => {
    world = await startWorld({ companies: oneUnmapped });
    const w = world;
    expect(w.app.notifier).toBeUndefined();
    const run = await w.sync();
    expect(run.unmapped).toHaveLength(1);
    expect(await w.app.redis.exists(notifiedKey(w.app.store, w.accountId, w.link.id))).toBe(0);
    expect(await w.app.redis.keys(`{${w.env.REDIS_PREFIX}-q}:notify:*`)).toEqual([]);
  });
});
