import { type ChildProcess, spawn } from 'node:child_process';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  type AutotaskRequest,
  type AutotaskSandbox,
  startAutotaskSandbox,
} from '../../connectors/autotask/sandbox.ts';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { buildServer } from '../../src/http/server.ts';
import { type SpinPanelSandbox, startSpinPanelSandbox } from '../../src/spinpanel/sandbox.ts';
import { mulberry32 } from '../../src/spinpanel/seed.ts';
import { apiToken } from '../helpers/api.ts';
import { dropPrefix, dumpPrefix, freshPrefix, keyEnv, REDIS_URL } from '../helpers/store.ts';
import { admin, BILLING_CODE } from '../helpers/world.ts';

/**
 * The promise of a revocation, tested the hard way: two worker processes sync ~2,000 operations against an
 * Autotask with 50 ms latency, and consent is revoked through the HTTP API at a random moment of the run. Each
 * trial gets a fresh Autotask database on the same port and its own API user, so a late request of any earlier
 * trial would still show up, under its own user name, in a later trial's request log.
 */
const TRIALS = Number(process.env.REVOKE_RACE_TRIALS ?? 50);
const SEED = Number(process.env.REVOKE_RACE_SEED ?? 20240601);
const TOKEN = 'race-admin-token-0123456789';

interface Trial {
  n: number;
  user: string;
  secret: string;
  delayMs: number;
  /** Date.now() right after the revoke call's answer was read. */
  returnedAt: number;
  /** Request-log lengths at that moment: anything appended later was received later. */
  logAt: number;
  spLogAt: number;
  sandbox: AutotaskSandbox;
  writesBefore: number;
  revokeMs: number;
  untilUnlinkedMs: number;
}

const userOf = (r: AutotaskRequest) => r.userName ?? new URL(r.path, 'http://x').searchParams.get('user');
const isWrite = (r: AutotaskRequest) => r.method !== 'GET' && !/\/query(\/count)?(\?|$)/i.test(r.path);

describe('revocation race: nothing reaches the target after the revoke call returned', () => {
  let sp: SpinPanelSandbox;
  let app: App;
  let server: FastifyInstance;
  let base: string;
  let prefix: string;
  let env: Record<string, string>;
  let port = 0;
  const workers: ChildProcess[] = [];
  const sandboxes: AutotaskSandbox[] = [];
  const trials: Trial[] = [];
  const rand = mulberry32(SEED);

  beforeAll(async () => {
    sp = await startSpinPanelSandbox({ seed: 7, customers: 80, subscriptionsPerCustomer: 25 });
    prefix = freshPrefix();
    const first = await startAutotaskSandbox({ latencyMs: 50 });
    port = Number(new URL(first.url).port);
    await first.close();
    env = {
      REDIS_URL,
      REDIS_PREFIX: prefix,
      CREDENTIALS_KEYS: keyEnv(),
      SPINPANEL_API_URL: sp.url,
      AUTOTASK_ZONE_LOOKUP_URL: `http://127.0.0.1:${port}/atservicesrest/v1.0/zoneInformation`,
      AUTOTASK_ALLOWED_HOSTS: `127.0.0.1:${port}`,
      SYNC_BACKOFF_MS: '100',
      SYNC_LOCK_TTL_MS: '2000',
      LOG_LEVEL: 'silent',
      ...(process.env.REVOKE_RACE_WAIT_MS ? { REVOKE_WAIT_MS: process.env.REVOKE_RACE_WAIT_MS } : {}),
    };
    app = await createApp(loadConfig(env), { logger: pino({ level: 'silent' }) });
    server = buildServer({
      services: app.services,
      tokens: [
        apiToken({
          token: TOKEN,
          accountId: sp.data.account.id,
          role: 'company_admin',
          userId: admin.userId,
        }),
      ],
    });
    base = await server.listen({ host: '127.0.0.1', port: 0 });
    for (let i = 0; i < 2; i++) {
      workers.push(
        spawn(process.execPath, ['bin/billing-sync.js', 'worker'], {
          env: { ...process.env, ...env },
          stdio: 'ignore',
        }),
      );
    }
    // Both processes listen for cancel messages before the first trial.
    const deadline = Date.now() + 30_000;
    for (;;) {
      const [, n] = (await app.redis.pubsub('NUMSUB', app.store.keys.cancelChannel())) as [string, number];
      if (n >= 2) break;
      if (Date.now() > deadline) throw new Error('worker processes did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  }, 60_000);

  afterAll(async () => {
    await Promise.all(
      workers.map(
        (w) =>
          new Promise((r) => {
            if (w.exitCode !== null) return r(null);
            w.once('exit', r);
            w.kill('SIGTERM');
          }),
      ),
    );
    await server?.close();
    await app?.close();
    const r = app.redis.duplicate();
    await dropPrefix(r, prefix);
    r.disconnect();
    await Promise.all(sandboxes.map((s) => s.close().catch(() => {})));
    await sp?.close();
  });

  async function runTrial(n: number): Promise<Trial> {
    const user = `api-user-${n}@race.example`;
    const secret = `race-secret-${n}-${Math.floor(rand() * 1e9)}`;
    const accountId = sp.data.account.id;
    // The previous trial's sandbox stops taking requests; its log stays for the final check.
    await sandboxes.at(-1)?.close();
    const sandbox = await startAutotaskSandbox({
      port,
      latencyMs: 50,
      users: [{ userName: user, secret, integrationCode: 'SPINPANEL-RACE' }],
      companies: sp.data.customers.map((c) => ({ companyName: c.name, companyType: 1 })),
    });
    sandboxes.push(sandbox);
    const consent = await app.services.grantConsent(admin, accountId, {
      level: 'company',
      scopes: ['billing:read', 'billing:push'],
    });
    const link = await app.services.createLink(admin, accountId, {
      target: 'autotask',
      credentials: { userName: user, secret, integrationCode: 'SPINPANEL-RACE' },
      spinpanelApiKey: sp.apiKey,
      settings: { serviceBillingCodeId: BILLING_CODE },
    });
    const sealed = await app.redis.get(app.store.keys.credentials(accountId, link.id));
    expect(sealed).toBeTruthy();

    await app.services.syncNow(admin, accountId, link.id, { dryRun: false });
    // Reads take the first second or so, then writes: the window covers both phases.
    const delayMs = Math.round(200 + rand() * 3300);
    await new Promise((r) => setTimeout(r, delayMs));
    const writesBefore = sandbox.requests.filter(isWrite).length;
    const started = Date.now();
    const res = await fetch(`${base}/v1/accounts/${accountId}/consents/${consent.id}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    const body = (await res.json()) as { confirmed: boolean; note: string; closedLinks: string[] };
    const returnedAt = Date.now();
    const logAt = sandbox.requests.length;
    const spLogAt = sp.requests.length;
    // Stronger than "received": every request the target got for this link had been answered already.
    const unanswered = sandbox.requests.filter((r) => userOf(r) === user && r.status === 0);
    expect(unanswered.map((r) => `${r.method} ${r.path}`)).toEqual([]);
    expect(res.status).toBe(200);
    expect(body).toMatchObject({ confirmed: true, closedLinks: [link.id] });
    expect(body.note).toMatch(/not retroactive/);

    const linkKey = app.store.keys.link(accountId, link.id);
    for (const end = Date.now() + 20_000; (await app.redis.hget(linkKey, 'status')) !== 'unlinked'; ) {
      if (Date.now() > end) throw new Error(`trial ${n}: link not unlinked within 20 s`);
      await new Promise((r) => setTimeout(r, 10));
    }
    const untilUnlinkedMs = Date.now() - started;
    // No credential left anywhere under the prefix: not the sealed blob, not the secrets in clear.
    const dump = await dumpPrefix(app.redis, prefix);
    expect(dump).not.toContain(sealed!);
    expect(dump).not.toContain(secret);
    expect(dump).not.toContain(sp.apiKey);
    expect(await app.redis.exists(app.store.keys.credentials(accountId, link.id))).toBe(0);
    // Nothing of this link reached SpinPanel either (no other link exists to explain a request).
    expect(sp.requests.length).toBe(spLogAt);
    return {
      n,
      user,
      secret,
      delayMs,
      returnedAt,
      logAt,
      spLogAt,
      sandbox,
      writesBefore,
      revokeMs: returnedAt - started,
      untilUnlinkedMs,
    };
  }

  it(
    `over ${TRIALS} trials at random moments, zero late requests, every link unlinked, no credential left`,
    async () => {
      for (let n = 0; n < TRIALS; n++) trials.push(await runTrial(n));
      // Give any straggler the chance to show up before looking.
      await new Promise((r) => setTimeout(r, 500));
      const late: string[] = [];
      for (const t of trials) {
        const mine = (r: AutotaskRequest) => userOf(r) === t.user;
        const own = t.sandbox.requests.slice(t.logAt).filter(mine);
        const later = sandboxes
          .slice(sandboxes.indexOf(t.sandbox) + 1)
          .flatMap((s) => s.requests.filter(mine));
        const byTime = t.sandbox.requests.filter((r) => mine(r) && r.at > t.returnedAt);
        for (const r of [...own, ...later, ...byTime])
          late.push(`trial ${t.n}: ${r.method} ${r.path} at ${r.at}`);
        expect(t.sandbox.requests.some(mine)).toBe(true);
      }
      expect(late).toEqual([]);
      // The trials did stop running syncs, in the read phase and in the write phase.
      expect(trials.some((t) => t.writesBefore === 0)).toBe(true);
      expect(trials.some((t) => t.writesBefore > 20)).toBe(true);
      const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
      const p = (xs: number[], q: number) => sorted(xs)[Math.min(xs.length - 1, Math.floor(q * xs.length))];
      const revoke = trials.map((t) => t.revokeMs);
      const unlinked = trials.map((t) => t.untilUnlinkedMs);
      console.log(
        JSON.stringify({
          trials: trials.length,
          seed: SEED,
          revokeMs: { p50: p(revoke, 0.5), p99: p(revoke, 0.99) },
          untilUnlinkedMs: { p50: p(unlinked, 0.5), p99: p(unlinked, 0.99) },
          writesBeforeRevoke: trials.map((t) => t.writesBefore),
          delays: trials.map((t) => t.delayMs),
        }),
      );
    },
    TRIALS * 10_000 + 30_000,
  );
});
