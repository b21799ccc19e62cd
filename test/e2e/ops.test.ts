import { type ChildProcess, spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { buildServer } from '../../src/http/server.ts';
import { createLogger } from '../../src/logger.ts';
import { apiToken, startApi } from '../helpers/api.ts';
import { keyEnv } from '../helpers/store.ts';
import { admin, startWorld, type World } from '../helpers/world.ts';

const OPERATOR = 'ops-operator-token-0123456789';
const ADMIN = 'ops-admin-token-0123456789';
const ACCOUNT_OPERATOR = 'ops-account-operator-token-0123456789';

const freePort = () =>
  new Promise<number>((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });

/** A private redis-server of this test's own (never the shared one): it is stopped and started again. */
async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn(
    'redis-server',
    ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'],
    { stdio: 'ignore' },
  );
  const { Redis } = await import('ioredis');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    const r = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0 });
    r.on('error', () => {});
    const ok = await r
      .connect()
      .then(() => r.ping())
      .then(
        () => true,
        () => false,
      );
    r.disconnect();
    if (ok) return child;
    await new Promise((res) => setTimeout(res, 50));
  }
  child.kill('SIGKILL');
  throw new Error(`redis-server on ${port} did not start`);
}
const exited = (child: ChildProcess) => child.exitCode !== null || child.signalCode !== null;
const stopRedis = (child: ChildProcess) =>
  new Promise<void>((resolve) => {
    if (exited(child)) return resolve();
    child.once('exit', () => resolve());
    child.kill('SIGKILL');
  });

describe('operations: metrics, health, dashboard, request logs', () => {
  let w: World;
  let api: Awaited<ReturnType<typeof startApi>>;
  const lines: string[] = [];

  beforeAll(async () => {
    w = await startWorld();
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    api = await startApi(
      w,
      [
        { token: OPERATOR, accountId: '*', role: 'operator', userId: 'op-1' },
        { token: ACCOUNT_OPERATOR, accountId: w.accountId, role: 'operator', userId: 'op-2' },
        { token: ADMIN, accountId: w.accountId, role: 'company_admin', userId: 'admin-9' },
      ],
      { log: createLogger('info', sink) },
    );
  });
  afterAll(async () => {
    await api?.close();
    await w?.close();
  });

  const get = (path: string, token?: string) =>
    fetch(`${api.base}${path}`, { headers: token ? { authorization: `Bearer ${token}` } : {} });

  it('exposes runs, operations, target requests, queues, revocations and gate refusals after a sync', async () => {
    const run = await w.sync();
    expect(run.status).toBe('succeeded');
    // A request under an epoch the link no longer has is refused by the gate.
    await expect(
      w.app.gate
        .client({ accountId: w.accountId, linkId: w.link.id, epoch: 999 }, { timeoutMs: 1000 })
        .get(w.sp.url),
    ).rejects.toThrow(/may not act/);
    await w.app.services.revokeConsent(admin, w.accountId, w.consent.id);

    const res = await get('/metrics', OPERATOR);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/text\/plain/);
    const text = await res.text();
    expect(text).toContain(
      'billing_sync_runs_total{outcome="succeeded",target="autotask",dry_run="false"} 1',
    );
    expect(text).toMatch(/billing_sync_operations_total\{kind="[^"]+",outcome="applied"\} \d+/);
    const spHost = new URL(w.sp.url).host;
    const atHost = new URL(w.at.url).host;
    expect(text).toContain(`billing_sync_target_requests_total{status="200",endpoint="${spHost}"}`);
    expect(text).toMatch(
      new RegExp(`billing_sync_target_requests_total\\{status="20\\d",endpoint="${atHost}"\\}`),
    );
    expect(text).toContain('# TYPE billing_sync_throttle_waits_total counter');
    expect(text).toMatch(/billing_sync_queue_jobs\{queue="sync",state="waiting"\} \d+/);
    expect(text).toMatch(/billing_sync_queue_oldest_waiting_seconds\{queue="unlink"\} [\d.]+/);
    expect(text).toMatch(/billing_sync_job_wait_seconds_count\{queue="sync"\} [1-9]/);
    expect(text).toMatch(/billing_sync_jobs_total\{queue="sync",outcome="completed"\} [1-9]/);
    expect(text).toMatch(/billing_sync_revoke_seconds_count\{outcome="answered"\} 1/);
    expect(text).toContain('billing_sync_gate_refusals_total{reason="the link changed"} 1');
    if (run.targetBudget?.usedAtEnd != null) {
      expect(text).toContain(`billing_sync_target_budget_used{target="autotask",link_id="${w.link.id}"}`);
    }
    // No series names a secret or a path with ids.
    expect(text).not.toContain('sandbox-secret');
    expect(text).not.toContain(w.sp.apiKey);
  });

  it('lets only operator tokens bound to every account read /metrics', async () => {
    expect((await get('/metrics')).status).toBe(401);
    expect((await get('/metrics', ADMIN)).status).toBe(403);
    expect((await get('/metrics', ACCOUNT_OPERATOR)).status).toBe(403);
  });

  it('answers /healthz and /readyz without a token, saying what was checked', async () => {
    const health = await get('/healthz');
    expect(health.status).toBe(200);
    const ready = await get('/readyz');
    const body = await ready.json();
    expect(ready.status, JSON.stringify(body)).toBe(200);
    expect(body.ready).toBe(true);
    expect(body.checks.redis.ok).toBe(true);
    expect(body.checks.queues.ok).toBe(true);
    expect(body.checks.workers).toMatchObject({ ok: true });
    expect(body.checks.workers.connected).toBeGreaterThanOrEqual(1);
  });

  it('serves the queue dashboard to operators only', async () => {
    expect((await get('/admin/queues')).status).toBe(401);
    expect((await get('/admin/queues', ADMIN)).status).toBe(403);
    expect((await get('/admin/queues/api/queues', ADMIN)).status).toBe(403);
    const page = await get('/admin/queues', OPERATOR);
    expect(page.status).toBe(200);
    expect(page.headers.get('content-type')).toMatch(/text\/html/);
    const queues = await get('/admin/queues/api/queues', OPERATOR);
    expect(queues.status).toBe(200);
    const names = ((await queues.json()) as { queues: { name: string }[] }).queues.map((q) => q.name);
    expect(names).toEqual(expect.arrayContaining(['sync', 'unlink']));
  });

  it('logs each request as one JSON line with its request id, and hands the id back', async () => {
    const res = await get(`/v1/accounts/${w.accountId}/links`, ADMIN);
    expect(res.status).toBe(200);
    const id = res.headers.get('x-request-id');
    expect(id).toBeTruthy();
    const parsed = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    const mine = parsed.filter((l) => l.reqId === id);
    expect(mine).toContainEqual(
      expect.objectContaining({ msg: 'request', route: '/v1/accounts/:accountId/links', status: 200 }),
    );
    expect(lines.join('\n')).not.toContain(ADMIN);
  });
});

describe('operations of the other processes', () => {
  it('a 5xx leaves an error line with its request id', async () => {
    const w = await startWorld({ worker: false });
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(...String(chunk).split('\n').filter(Boolean));
        done();
      },
    });
    const server = buildServer({
      services: {
        ...w.app.services,
        listLinks: async () => {
          throw new Error('the store fell over');
        },
      },
      tokens: [apiToken({ token: ADMIN, accountId: w.accountId, role: 'company_admin', userId: 'a' })],
      log: createLogger('info', sink),
    });
    const base = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const res = await fetch(`${base}/v1/accounts/${w.accountId}/links`, {
        headers: { authorization: `Bearer ${ADMIN}` },
      });
      expect(res.status).toBe(500);
      const id = res.headers.get('x-request-id');
      const parsed = lines.map(
        (l) => JSON.parse(l) as { level: number; reqId?: string; err?: { message?: string } },
      );
      expect(parsed).toContainEqual(
        expect.objectContaining({
          level: 50,
          reqId: id,
          err: expect.objectContaining({ message: 'the store fell over' }),
        }),
      );
    } finally {
      await server.close();
      await w.close();
    }
  });

  it("a worker process alone serves its runs' metrics on METRICS_PORT, to an operator token", async () => {
    const w = await startWorld({ worker: false });
    const port = await freePort();
    const entry = apiToken({ token: OPERATOR, accountId: '*', role: 'operator', userId: 'op' });
    const child = spawn(process.execPath, ['bin/billing-sync.js', 'worker'], {
      env: {
        ...process.env,
        ...w.env,
        METRICS_PORT: String(port),
        API_TOKENS: `sha256:${entry.digest.toString('hex')}=*:operator:op`,
      },
      stdio: 'ignore',
    });
    try {
      const run = await w.sync();
      expect(run.status).toBe('succeeded');
      const url = `http://127.0.0.1:${port}/metrics`;
      expect((await fetch(url)).status).toBe(401);
      const res = await fetch(url, { headers: { authorization: `Bearer ${OPERATOR}` } });
      expect(res.status).toBe(200);
      expect(await res.text()).toContain(
        'billing_sync_runs_total{outcome="succeeded",target="autotask",dry_run="false"} 1',
      );
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => (exited(child) ? r(undefined) : child.once('exit', r)));
      await w.close();
    }
  });
});

describe('readiness follows Redis', () => {
  it('answers /readyz 200, then 503 naming redis once its Redis stops', async () => {
    const port = await freePort();
    let redis = await startRedis(port);
    const app = await createApp(
      loadConfig({
        REDIS_URL: `redis://127.0.0.1:${port}`,
        REDIS_PREFIX: 'ready',
        CREDENTIALS_KEYS: keyEnv(),
        READY_TIMEOUT_MS: '500',
        // Workers are asked for in the test above; here only Redis and the queues are.
        READY_WORKERS_MIN: '0',
        LOG_LEVEL: 'silent',
      }),
      { logger: pino({ level: 'silent' }) },
    );
    const server = buildServer({
      services: app.services,
      tokens: [apiToken({ token: OPERATOR, accountId: '*', role: 'operator', userId: 'op' })],
    });
    const base = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const up = await fetch(`${base}/readyz`);
      expect(up.status, JSON.stringify(await up.clone().json())).toBe(200);

      await stopRedis(redis);
      const down = await fetch(`${base}/readyz`);
      expect(down.status).toBe(503);
      const body = await down.json();
      expect(body.ready).toBe(false);
      expect(body.checks.redis).toMatchObject({ ok: false });
      expect(body.checks.redis.detail).toMatch(/redis/);
      // Liveness does not depend on Redis.
      expect((await fetch(`${base}/healthz`)).status).toBe(200);
    } finally {
      // Back up, so the worker and queues can close cleanly.
      if (exited(redis)) redis = await startRedis(port);
      await server.close();
      await app.close();
      await stopRedis(redis);
    }
  });
});
