import { type Queue, QueueEvents, type Worker } from 'bullmq';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Connector, Plan } from '../../connectors/types.ts';
import { type Actor, grantConsent } from '../../src/consent/consents.ts';
import { Gate } from '../../src/consent/gate.ts';
import { createLink, type Link } from '../../src/links/links.ts';
import {
  createSyncQueue,
  enqueueSync,
  queuePrefix,
  scheduleLink,
  schedulerId,
} from '../../src/queue/queues.ts';
import { createSyncWorker } from '../../src/queue/worker.ts';
import { type SpinPanelSandbox, startSpinPanelSandbox } from '../../src/spinpanel/sandbox.ts';
import type { EngineDeps } from '../../src/sync/engine.ts';
import { getRun, listRuns } from '../../src/sync/runs.ts';
import { type TestStore, testStore } from '../helpers/store.ts';

const admin: Actor = { userId: 'admin-1', role: 'company_admin' };
const retry = { attempts: 3, backoffMs: 50 };

/** A connector that only sleeps: lets the test watch how runs of one link overlap. */
function slowConnector(
  track: { active: number; max: number; applied: number; delayMs?: number },
  failFirst = { left: 0 },
): Connector {
  return {
    kind: 'autotask',
    verify: async () => ({ displayName: 'fake' }),
    readState: async () => ({}),
    plan: (desired): Plan => ({
      ops: desired.customers.map((c) => ({
        key: `x:${c.customerId}`,
        kind: 'touch',
        summary: c.name,
        data: null,
      })),
      unmapped: [],
      recon: [],
    }),
    async apply() {
      if (failFirst.left > 0) {
        failFirst.left--;
        throw Object.assign(new Error('flaky target'), { transient: true });
      }
      track.active++;
      track.max = Math.max(track.max, track.active);
      await new Promise((r) => setTimeout(r, track.delayMs ?? 40));
      track.active--;
      track.applied++;
      return null;
    },
    classify: (e) => ({
      kind: (e as { transient?: boolean }).transient ? 'transient' : 'permanent',
      message: String(e),
    }),
  };
}

const waitUntil = async (cond: () => Promise<boolean>) => {
  const end = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 10));
  }
};

describe('sync queue', () => {
  let t: TestStore;
  let sp: SpinPanelSandbox;
  let queue: Queue;
  let events: QueueEvents;
  let link: Link;
  const workers: Worker[] = [];
  const track: { active: number; max: number; applied: number; delayMs?: number } = {
    active: 0,
    max: 0,
    applied: 0,
  };
  const flaky = { left: 0 };

  beforeEach(async () => {
    t = await testStore();
    sp = await startSpinPanelSandbox({ customers: 3, subscriptionsPerCustomer: 1, accountId: 'a1' });
    queue = createSyncQueue(t.ctx.redis, t.prefix);
    events = new QueueEvents('sync', { connection: t.ctx.redis.duplicate(), prefix: queuePrefix(t.prefix) });
    await events.waitUntilReady();
    Object.assign(track, { active: 0, max: 0, applied: 0, delayMs: 40 });
    flaky.left = 0;
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

  const engine = (): EngineDeps => ({
    store: t.ctx,
    gate: new Gate(t.ctx.redis, t.ctx.keys),
    spinpanelUrl: sp.url,
    httpTimeoutMs: 5000,
    makeConnector: () => slowConnector(track, flaky),
  });
  const startWorker = (concurrency = 2, lockTtlMs?: number) => {
    const w = createSyncWorker({
      lockTtlMs,
      connection: t.ctx.redis.duplicate(),
      prefix: t.prefix,
      concurrency,
      engine: engine(),
      logger: pino({ level: 'silent' }),
      lockRetryMs: 30,
    });
    workers.push(w);
    return w;
  };

  it('stops a run that lost its link lock to another worker instead of racing it', async () => {
    track.delayMs = 250;
    startWorker(1, 300);
    const job = await enqueueSync(queue, link, false, retry);
    const lockKey = t.ctx.keys.runLock('a1', link.id);
    await waitUntil(async () => (await t.ctx.redis.exists(lockKey)) === 1);
    // As if this worker had stalled past the lock's ttl and another attempt had taken the link.
    await t.ctx.redis.set(lockKey, 'someone-else', 'PX', 10_000);
    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow(/lost its lock/);
    expect(track.applied).toBeLessThan(3);
    expect((await getRun(t.ctx, 'a1', link.id, job.id!)).status).toBe('cancelled');
    expect(await t.ctx.redis.get(lockKey)).toBe('someone-else');
  });

  it('keeps one job scheduler per link at the link interval, idempotently', async () => {
    await scheduleLink(queue, link, retry);
    await scheduleLink(queue, link, retry);
    const schedulers = await queue.getJobSchedulers();
    expect(schedulers).toHaveLength(1);
    expect(schedulers[0]).toMatchObject({ key: schedulerId('a1', link.id), every: 30 * 60_000 });
    // The first scheduled run waits one interval: nothing is pushed before an admin could look at a dry run.
    const [next] = await queue.getDelayed();
    expect(await queue.getWaitingCount()).toBe(0);
    expect(next!.timestamp + next!.delay - Date.now()).toBeGreaterThan(29 * 60_000);
  });

  it('runs one sync per link at a time across two worker processes', async () => {
    startWorker(2);
    startWorker(2);
    const jobs = await Promise.all([1, 2, 3, 4].map(() => enqueueSync(queue, link, false, retry)));
    await Promise.all(jobs.map((j) => j.waitUntilFinished(events, 20_000)));
    expect(track.max).toBe(1);
    expect(track.applied).toBe(4 * 3);
    const runs = await listRuns(t.ctx, 'a1', link.id);
    expect(runs.map((r) => r.status)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
  });

  it('retries a transiently failing run with backoff and records the final attempt', async () => {
    // The engine applies an op once (the connector's client owns request retries): a transient failure it gave up
    // on ends the run, and the queue's second attempt succeeds.
    flaky.left = 1;
    startWorker(1);
    const job = await enqueueSync(queue, link, false, retry);
    const result = await job.waitUntilFinished(events, 20_000);
    const run = await getRun(t.ctx, 'a1', link.id, job.id!);
    expect(result).toEqual({ runId: `${job.id}.2`, status: 'succeeded' });
    expect(run.attempt).toBe(2);
    expect(run.applied).toEqual({ touch: 3 });
  });

  it('keeps a failed run for inspection and does not retry a link that may no longer act', async () => {
    startWorker(1);
    await t.ctx.redis.hset(t.ctx.keys.link('a1', link.id), 'status', 'suspended');
    const job = await enqueueSync(queue, link, false, retry);
    await expect(job.waitUntilFinished(events, 20_000)).rejects.toThrow(/suspended/);
    const failed = await queue.getJob(job.id!);
    expect(failed?.attemptsMade).toBe(1);
    expect(await failed?.getState()).toBe('failed');
    expect((await getRun(t.ctx, 'a1', link.id, job.id!)).status).toBe('cancelled');
  });

  it('never puts a secret in job data', async () => {
    const job = await enqueueSync(queue, link, true, retry);
    expect(Object.keys(job.data).sort()).toEqual(['accountId', 'dryRun', 'epoch', 'linkId', 'trigger']);
    expect(JSON.stringify(job.data)).not.toContain(sp.apiKey);
  });
});
