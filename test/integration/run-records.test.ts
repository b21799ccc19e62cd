import { type Queue, QueueEvents, type Worker } from 'bullmq';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  BudgetExhaustedError,
  type Connector,
  type Plan,
  type ReconLine,
  type UsageReconLine,
} from '../../connectors/types.ts';
import type { Services } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { type Actor, grantConsent } from '../../src/consent/consents.ts';
import { Gate } from '../../src/consent/gate.ts';
import { buildServer } from '../../src/http/server.ts';
import { createLink, type Link } from '../../src/links/links.ts';
import { createSyncQueue, enqueueSync, queuePrefix } from '../../src/queue/queues.ts';
import { createSyncWorker } from '../../src/queue/worker.ts';
import { type SpinPanelSandbox, startSpinPanelSandbox } from '../../src/spinpanel/sandbox.ts';
import type { EngineDeps } from '../../src/sync/engine.ts';
import { getRun, listRuns, type RunRecord, runsOfJob, saveRun } from '../../src/sync/runs.ts';
import { apiToken } from '../helpers/api.ts';
import { keyEnv, type TestStore, testStore } from '../helpers/store.ts';
import { startWorld } from '../helpers/world.ts';

const admin: Actor = { userId: 'admin-1', role: 'company_admin' };
const retry = { attempts: 3, backoffMs: 20 };

interface Target {
  /** Op keys the target holds (what earlier runs wrote). */
  done: Set<string>;
  /** Every run's connector, counted. In run `run` (1-based), the `nth` op applied fails (throughout the run) or defers. */
  runs: number;
  failOn?: { run: number; nth: number };
  deferOn?: { run: number; nth: number };
}

/** One op and one reconciliation line per customer; a customer already written is `unchanged`. */
function fakeConnector(target: Target): Connector {
  const run = ++target.runs;
  const seen: string[] = [];
  const bites = (rule: { run: number; nth: number } | undefined, key: string) => {
    if (!seen.includes(key)) seen.push(key);
    return rule?.run === run && seen.indexOf(key) === rule.nth - 1;
  };
  return {
    kind: 'autotask',
    verify: async () => ({ displayName: 'fake' }),
    readState: async () => ({}),
    plan: (desired): Plan => {
      const todo = desired.customers.filter((c) => !target.done.has(`x:${c.customerId}`));
      return {
        ops: todo.map((c) => ({ key: `x:${c.customerId}`, kind: 'touch', summary: c.name, data: null })),
        unmapped: [],
        recon: desired.customers.map((c) => {
          const key = `x:${c.customerId}`;
          const changed = !target.done.has(key);
          return {
            customerId: c.customerId,
            customerName: c.name,
            productId: 'p1',
            productName: 'Product',
            spinpanelSeats: 1,
            targetUnitsBefore: changed ? 0 : 1,
            targetUnitsAfter: 1,
            action: changed ? 'add' : 'unchanged',
            ...(changed ? { opKeys: [key] } : {}),
          };
        }),
      };
    },
    async apply(op) {
      if (bites(target.failOn, op.key)) {
        throw Object.assign(new Error('target unavailable'), { transient: true });
      }
      if (bites(target.deferOn, op.key)) {
        throw new BudgetExhaustedError('hourly request budget spent', Date.now() + 50);
      }
      target.done.add(op.key);
      return null;
    },
    classify: (e) => ({
      kind: (e as { transient?: boolean }).transient ? 'transient' : 'permanent',
      message: String(e),
    }),
  };
}

describe('run records: one per start of a job', () => {
  let t: TestStore;
  let sp: SpinPanelSandbox;
  let queue: Queue;
  let events: QueueEvents;
  let link: Link;
  let target: Target;
  const workers: Worker[] = [];

  beforeEach(async () => {
    t = await testStore();
    sp = await startSpinPanelSandbox({ customers: 3, subscriptionsPerCustomer: 1, accountId: 'a1' });
    queue = createSyncQueue(t.ctx.redis, t.prefix);
    events = new QueueEvents('sync', { connection: t.ctx.redis.duplicate(), prefix: queuePrefix(t.prefix) });
    await events.waitUntilReady();
    target = { done: new Set(), runs: 0 };
    await grantConsent(
      t.ctx,
      admin,
      'a1',
      { level: 'company', scopes: ['billing:read', 'billing:push'] },
      'p',
    );
    link = await createLink(
      t.ctx,
      {
        spinpanelAccount: async (_key, under) => under.accountId,
        verify: async () => ({ displayName: 'fake' }),
        parseSettings: (_t, s) => s,
        defaultEveryMinutes: 30,
      },
      admin,
      'a1',
      { target: 'autotask', credentials: {}, spinpanelApiKey: sp.apiKey, settings: {} },
    );
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
    await events.close();
    await queue.close();
    await sp.close();
    await t.close();
  });

  const startWorker = () => {
    const engine: EngineDeps = {
      store: t.ctx,
      gate: new Gate(t.ctx.redis, t.ctx.keys),
      spinpanelUrl: sp.url,
      httpTimeoutMs: 5000,
      makeConnector: () => fakeConnector(target),
    };
    const w = createSyncWorker({
      connection: t.ctx.redis.duplicate(),
      prefix: t.prefix,
      concurrency: 1,
      engine,
      logger: pino({ level: 'silent' }),
      lockRetryMs: 30,
    });
    workers.push(w);
    return w;
  };

  it('a retried attempt leaves its own record; the failed attempt’s writes stay on the first', async () => {
    // The second op fails throughout the first run: the first customer is written, then the run ends.
    target.failOn = { run: 1, nth: 2 };
    startWorker();
    const job = await enqueueSync(queue, link, false, retry);
    const result = await job.waitUntilFinished(events, 20_000);
    const id = job.id!;
    expect(result).toEqual({ runId: `${id}.2`, status: 'succeeded' });

    const runs = await listRuns(t.ctx, 'a1', link.id);
    expect(runs.map((r) => r.id)).toEqual([`${id}.2`, `${id}.1`]);
    const [second, first] = runs as [RunRecord, RunRecord];
    expect(first).toMatchObject({ jobId: id, attempt: 1, status: 'failed', applied: { touch: 1 } });
    expect(first.errors.at(-1)?.message).toMatch(/target unavailable/);
    expect(second).toMatchObject({ jobId: id, attempt: 2, status: 'succeeded', applied: { touch: 2 } });
    // What the first attempt wrote is on its own record, not the second's (which found it done).
    expect(second.recon.filter((l) => l.action === 'unchanged')).toHaveLength(1);
    expect(second.lineCounts?.recon).toMatchObject({ lines: 3, unchanged: 1 });

    // A job id answers its latest start (what "sync now" hands out); a run id exactly that record.
    expect((await getRun(t.ctx, 'a1', link.id, id)).id).toBe(`${id}.2`);
    expect((await getRun(t.ctx, 'a1', link.id, `${id}.1`)).status).toBe('failed');
    expect((await runsOfJob(t.ctx, 'a1', link.id, id)).map((r) => r.id)).toEqual([`${id}.2`, `${id}.1`]);
    await expect(getRun(t.ctx, 'a1', link.id, `${id}.3`)).rejects.toThrow(/not found/i);
    await expect(getRun(t.ctx, 'a1', link.id, id.slice(0, 8))).rejects.toThrow(/not found/i);
  });

  it('a deferred run that resumes gets a new record; the deferred one keeps what it wrote', async () => {
    target.deferOn = { run: 1, nth: 3 };
    startWorker();
    const job = await enqueueSync(queue, link, false, retry);
    await job.waitUntilFinished(events, 20_000);
    const id = job.id!;
    const [resumed, deferred] = await runsOfJob(t.ctx, 'a1', link.id, id);
    expect(deferred).toMatchObject({ id: `${id}.1`, status: 'deferred', attempt: 1, applied: { touch: 2 } });
    // No queue attempt was spent on the deferral: both are attempt 1, told apart by their start.
    expect(resumed).toMatchObject({ id: `${id}.2`, status: 'succeeded', attempt: 1, applied: { touch: 1 } });
  });
});

describe('run records: bounded', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await testStore();
  });
  afterEach(async () => {
    await t.close();
  });

  const LINK = '00000000-0000-4000-8000-000000000001';
  const line = (i: number, action: ReconLine['action'], outcome?: ReconLine['outcome']): ReconLine => ({
    customerId: `c${i}`,
    customerName: `Customer ${i}`,
    productId: `p${i % 7}`,
    productName: `Product ${i % 7}`,
    spinpanelSeats: 5,
    targetUnitsBefore: action === 'unchanged' ? 5 : 3,
    targetUnitsAfter: 5,
    action,
    ...(action === 'unchanged' ? {} : { opKeys: [`op:${i}`] }),
    ...(outcome ? { outcome } : {}),
  });
  /** 600 lines: 590 unchanged, 8 increased, 2 failed; usage: 2 posted, 1 posted now. */
  const record = (id: string, at: number): RunRecord => ({
    id,
    accountId: 'a1',
    linkId: LINK,
    trigger: 'schedule',
    dryRun: false,
    status: 'partial',
    attempt: 1,
    startedAt: new Date(at).toISOString(),
    finishedAt: new Date(at + 1000).toISOString(),
    durationMs: 1000,
    planned: { adjustUnits: 10 },
    applied: { adjustUnits: 8 },
    apiCalls: { total: 20, byHost: {} },
    errors: [{ opKey: 'op:0', kind: 'adjustUnits', message: 'refused' }],
    quarantined: [],
    unmapped: [],
    recon: Array.from({ length: 600 }, (_, i) =>
      i < 2 ? line(i, 'increase', 'failed') : i < 10 ? line(i, 'increase', 'applied') : line(i, 'unchanged'),
    ),
    usage: [
      ...[1, 2].map(
        (i): UsageReconLine => ({
          customerId: `c${i}`,
          customerName: `Customer ${i}`,
          period: '2025-01',
          spinpanelTotal: 10,
          postedTotal: 10,
          action: 'posted',
        }),
      ),
      {
        customerId: 'c3',
        customerName: 'Customer 3',
        period: '2025-01',
        spinpanelTotal: 12,
        postedTotal: null,
        action: 'post',
        opKeys: ['usage:c3'],
        outcome: 'applied',
      },
    ],
  });

  it('keeps every line for the last N runs and only changed or failed lines, with counts, for older ones', async () => {
    const now = Date.now();
    for (let i = 0; i < 5; i++) await saveRun(t.ctx, record(`r${i}`, now - 5000 + i), { fullDetailRuns: 2 });
    const runs = await listRuns(t.ctx, 'a1', LINK);
    expect(runs.map((r) => [r.id, r.detail, r.recon.length, r.usage?.length])).toEqual([
      ['r4', 'full', 600, 3],
      ['r3', 'full', 600, 3],
      ['r2', 'changes', 10, 1],
      ['r1', 'changes', 10, 1],
      ['r0', 'changes', 10, 1],
    ]);
    const old = await getRun(t.ctx, 'a1', LINK, 'r0');
    expect(old.lineCounts).toEqual({
      recon: { lines: 600, unchanged: 590, failed: 2, byAction: { increase: 10, unchanged: 590 } },
      usage: { lines: 3, unchanged: 2, failed: 0, byAction: { posted: 2, post: 1 } },
    });
    expect(old.recon.filter((l) => l.outcome === 'failed').map((l) => l.customerId)).toEqual(['c0', 'c1']);
    expect(old.usage).toEqual([expect.objectContaining({ customerId: 'c3', action: 'post' })]);
    // Everything else stays: counts, errors, the budget of the run.
    expect(old).toMatchObject({ applied: { adjustUnits: 8 }, errors: [{ opKey: 'op:0' }], jobId: 'r0' });
    // The TTL is kept when a record is trimmed.
    expect(await t.ctx.redis.ttl(t.ctx.keys.run('a1', 'r0'))).toBeGreaterThan(80 * 24 * 3600);

    // Fewer full runs later: the next save trims down to the new N; a trimmed record is not rewritten.
    const before = await t.ctx.redis.get(t.ctx.keys.run('a1', 'r1'));
    await saveRun(t.ctx, record('r5', now), { fullDetailRuns: 1 });
    const after = await listRuns(t.ctx, 'a1', LINK);
    expect(after.map((r) => r.detail)).toEqual([
      'full',
      'changes',
      'changes',
      'changes',
      'changes',
      'changes',
    ]);
    expect(await t.ctx.redis.get(t.ctx.keys.run('a1', 'r1'))).toBe(before);
  });

  it('trims a record written before records had a detail, and leaves one that changed since it was read', async () => {
    const now = Date.now();
    const legacy = { ...record('legacy', now - 10_000) };
    await t.ctx.redis.set(t.ctx.keys.run('a1', 'legacy'), JSON.stringify(legacy), 'EX', 1000);
    await t.ctx.redis.zadd(t.ctx.keys.runs('a1', LINK), now - 10_000, 'legacy');
    await saveRun(t.ctx, record('new', now), { fullDetailRuns: 1 });
    const trimmed = await getRun(t.ctx, 'a1', LINK, 'legacy');
    expect(trimmed).toMatchObject({
      detail: 'changes',
      lineCounts: { recon: { lines: 600, unchanged: 590 } },
    });
    expect(trimmed.recon).toHaveLength(10);
    expect(await t.ctx.redis.ttl(t.ctx.keys.run('a1', 'legacy'))).toBeLessThanOrEqual(1000);
  });

  it('closes an earlier start of the same job that was left running (its worker went away)', async () => {
    const now = Date.now();
    const job = '5b1c8a4e-0000-4000-8000-00000000000a';
    await saveRun(t.ctx, { ...record(`${job}.1`, now - 1000), status: 'running', finishedAt: null });
    await saveRun(t.ctx, { ...record(`${job}.2`, now), status: 'running', finishedAt: null });
    const first = await getRun(t.ctx, 'a1', LINK, `${job}.1`);
    expect(first.status).toBe('failed');
    expect(first.errors.at(-1)).toMatchObject({
      kind: 'abandoned',
      message: expect.stringContaining(`${job}.2`),
    });
    expect(first.applied).toEqual({ adjustUnits: 8 });
    expect((await getRun(t.ctx, 'a1', LINK, job)).status).toBe('running');
  });

  it('serves trimmed and full records, by run id and by job id, over the admin API', async () => {
    const now = Date.now();
    const job = '5b1c8a4e-0000-4000-8000-00000000000b';
    await saveRun(t.ctx, record(`${job}.1`, now - 1000), { fullDetailRuns: 1 });
    await saveRun(t.ctx, { ...record(`${job}.2`, now), status: 'succeeded' }, { fullDetailRuns: 1 });
    const services = {
      getLink: async () => ({ id: LINK }),
      listRuns: (accountId: string, linkId: string) => listRuns(t.ctx, accountId, linkId),
      getRun: (accountId: string, linkId: string, runId: string) => getRun(t.ctx, accountId, linkId, runId),
    } as unknown as Services;
    const token = 'run-records-test-token-0001';
    const server = buildServer({
      services,
      tokens: [apiToken({ token, accountId: 'a1', role: 'user', userId: 'u1' })],
    });
    const base = await server.listen({ host: '127.0.0.1', port: 0 });
    try {
      const get = async (path: string) => {
        const res = await fetch(`${base}/v1/accounts/a1/links/${LINK}${path}`, {
          headers: { authorization: `Bearer ${token}` },
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      };
      const list = await get('/syncs');
      expect((list.body.items as RunRecord[]).map((r) => [r.id, r.detail])).toEqual([
        [`${job}.2`, 'full'],
        [`${job}.1`, 'changes'],
      ]);
      expect((await get(`/syncs/${job}`)).body).toMatchObject({ id: `${job}.2`, status: 'succeeded' });
      expect((await get(`/syncs/${job}.1`)).body).toMatchObject({ id: `${job}.1`, detail: 'changes' });
      expect((await get(`/syncs/${job}.9`)).status).toBe(404);
    } finally {
      await server.close();
    }
  });

  it('takes RUN_FULL_DETAIL_RUNS from the config into every run a worker saves (default 10)', async () => {
    const w = await startWorld({ env: { RUN_FULL_DETAIL_RUNS: '1' } });
    try {
      await w.sync();
      await w.sync();
      const runs = await w.app.services.listRuns(w.accountId, w.link.id);
      expect(runs.map((r) => r.detail)).toEqual(['full', 'changes']);
    } finally {
      await w.close();
    }
    expect(loadConfig({ CREDENTIALS_KEYS: keyEnv() }).RUN_FULL_DETAIL_RUNS).toBe(10);
    expect(() => loadConfig({ CREDENTIALS_KEYS: keyEnv(), RUN_FULL_DETAIL_RUNS: '-1' })).toThrow(
      /RUN_FULL_DETAIL_RUNS/,
    );
  });
});
