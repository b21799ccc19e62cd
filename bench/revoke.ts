/**
 * Revocation latency: how long the revoke call takes (it answers only once nothing of the link is on the wire)
 * and how long until the link is `unlinked` (credentials destroyed, data purged), with no sync running and with
 * a sync in full swing against an Autotask with 50 ms latency. The two cases alternate in one run, so the
 * ratios compare like with like. Prints JSON.
 *
 *   node --import tsx bench/revoke.ts            (BENCH_ITERATIONS=20, REDIS_URL as for the tests)
 */
import { randomBytes } from 'node:crypto';
import pino from 'pino';
import { startAutotaskSandbox } from '../connectors/autotask/sandbox.ts';
import { createApp } from '../src/app.ts';
import { loadConfig } from '../src/config.ts';
import type { Actor } from '../src/consent/consents.ts';
import { startSpinPanelSandbox } from '../src/spinpanel/sandbox.ts';

const ITERATIONS = Number(process.env.BENCH_ITERATIONS ?? 20);
const admin: Actor = { userId: 'bench-admin', role: 'company_admin' };
const credentials = { userName: 'bench@example.com', secret: 'bench-secret', integrationCode: 'BENCH' };

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};
const stats = (xs: number[]) => ({ p50: quantile(xs, 0.5), p99: quantile(xs, 0.99), max: Math.max(...xs) });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main() {
  const sp = await startSpinPanelSandbox({ seed: 11, customers: 40, subscriptionsPerCustomer: 12 });
  const at = await startAutotaskSandbox({
    latencyMs: 50,
    users: [credentials],
    companies: sp.data.customers.map((c) => ({ companyName: c.name, companyType: 1 })),
  });
  const prefix = `bench${randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    REDIS_URL: process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
    REDIS_PREFIX: prefix,
    CREDENTIALS_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    SPINPANEL_API_URL: sp.url,
    AUTOTASK_ZONE_LOOKUP_URL: at.zoneLookupUrl,
    AUTOTASK_ALLOWED_HOSTS: new URL(at.url).host,
    SYNC_LOCK_TTL_MS: '2000',
    LOG_LEVEL: 'silent',
  });
  const app = await createApp(config, { logger: pino({ level: 'silent' }) });
  app.startWorker(2);
  const accountId = sp.data.account.id;
  const samples = {
    idle: { revokeMs: [] as number[], untilUnlinkedMs: [] as number[], inFlight: [] as number[] },
    runningSync: { revokeMs: [] as number[], untilUnlinkedMs: [] as number[], inFlight: [] as number[] },
  };
  let unconfirmed = 0;

  async function once(running: boolean) {
    const consent = await app.services.grantConsent(admin, accountId, {
      level: 'company',
      scopes: ['billing:read', 'billing:push'],
    });
    const link = await app.services.createLink(admin, accountId, {
      target: 'autotask',
      credentials,
      spinpanelApiKey: sp.apiKey,
      settings: { serviceBillingCodeId: 29682801 },
    });
    if (running) {
      const before = at.requests.length;
      await app.services.syncNow(admin, accountId, link.id, { dryRun: false });
      // Well into the run: past the reads, with requests on the wire.
      while (at.requests.length < before + 25) await sleep(5);
    }
    const started = performance.now();
    const answer = await app.services.revokeConsent(admin, accountId, consent.id);
    const revokeMs = performance.now() - started;
    const key = app.store.keys.link(accountId, link.id);
    while ((await app.redis.hget(key, 'status')) !== 'unlinked') await sleep(2);
    const s = running ? samples.runningSync : samples.idle;
    s.revokeMs.push(revokeMs);
    s.untilUnlinkedMs.push(performance.now() - started);
    s.inFlight.push(answer.stopped[0]?.inFlight.inFlight ?? 0);
    if (!answer.confirmed) unconfirmed++;
  }

  try {
    await once(false); // warm-up: connections, scripts, JIT
    samples.idle = { revokeMs: [], untilUnlinkedMs: [], inFlight: [] };
    for (let i = 0; i < ITERATIONS; i++) {
      await once(i % 2 === 1);
      await once(i % 2 === 0);
    }
    const round = (o: Record<string, number>) =>
      Object.fromEntries(Object.entries(o).map(([k, v]) => [k, Math.round(v * 10) / 10]));
    const idle = {
      revokeMs: stats(samples.idle.revokeMs),
      untilUnlinkedMs: stats(samples.idle.untilUnlinkedMs),
    };
    const busy = {
      revokeMs: stats(samples.runningSync.revokeMs),
      untilUnlinkedMs: stats(samples.runningSync.untilUnlinkedMs),
    };
    console.log(
      JSON.stringify(
        {
          iterations: ITERATIONS,
          autotaskLatencyMs: 50,
          idle: { revokeMs: round(idle.revokeMs), untilUnlinkedMs: round(idle.untilUnlinkedMs) },
          runningSync: {
            revokeMs: round(busy.revokeMs),
            untilUnlinkedMs: round(busy.untilUnlinkedMs),
            requestsOnTheWireAtRevoke: stats(samples.runningSync.inFlight),
          },
          ratio: {
            revokeP50: Math.round((busy.revokeMs.p50 / idle.revokeMs.p50) * 100) / 100,
            revokeP99: Math.round((busy.revokeMs.p99 / idle.revokeMs.p99) * 100) / 100,
            untilUnlinkedP50: Math.round((busy.untilUnlinkedMs.p50 / idle.untilUnlinkedMs.p50) * 100) / 100,
          },
          unconfirmedRevocations: unconfirmed,
        },
        null,
        2,
      ),
    );
  } finally {
    await app.close();
    const r = app.redis.duplicate();
    for (const pattern of [`${prefix}:*`, `{${prefix}-q}:*`]) {
      let cursor = '0';
      do {
        const [next, keys] = await r.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
        cursor = next;
        if (keys.length) await r.del(...keys);
      } while (cursor !== '0');
    }
    r.disconnect();
    await Promise.all([sp.close(), at.close()]);
  }
}

await main();
