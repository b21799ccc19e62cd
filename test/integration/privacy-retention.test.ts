import { setTimeout as delay } from 'node:timers/promises';
import { Queue, Worker } from 'bullmq';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { privacyKeys } from '../../src/privacy/keys.ts';
import { startMaintenance } from '../../src/privacy/maintenance.ts';
import { type RetentionPolicy, type SweptRun, sweepRetention } from '../../src/privacy/retention.ts';
import { queuePrefix } from '../../src/queue/queues.ts';
import { readAudit } from '../../src/store/audit.ts';
import { type RunRecord, saveRun } from '../../src/sync/runs.ts';
import { type TestStore, testStore } from '../helpers/store.ts';

const acct = 'acct-ret';
const linkId = 'link-1';
const long = 3_600_000;

function run(id: string, startedAt: number, quarantined = 0): RunRecord {
  return {
    id,
    accountId: acct,
    linkId,
    trigger: 'manual',
    dryRun: false,
    status: 'succeeded',
    attempt: 1,
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: null,
    durationMs: null,
    planned: {},
    applied: {},
    apiCalls: { total: 0, byHost: {} },
    errors: [],
    quarantined: Array.from({ length: quarantined }, (_, i) => ({
      kind: 'subscription' as const,
      id: `sub-${i}`,
      customerId: 'c1',
      reason: 'quantity: expected number',
    })),
    unmapped: [],
    recon: [],
  };
}

describe('retention', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await testStore();
  });
  afterEach(async () => t.close());

  const policy = (p: Partial<RetentionPolicy>): RetentionPolicy => ({
    runsMs: long,
    quarantineMs: long,
    snapshotMs: long,
    logsMs: long,
    ...p,
  });
  const runIds = () => t.ctx.redis.zrange(t.ctx.keys.runs(acct, linkId), 0, -1);

  it('deletes run history older than its period, record and index entry, and audits it', async () => {
    const now = Date.now();
    await saveRun(t.ctx, run('old', now - 2_000));
    await saveRun(t.ctx, run('new', now));
    const report = await sweepRetention(t.ctx, policy({ runsMs: 1_000 }));
    expect(report.runsRemoved).toBe(1);
    expect(await runIds()).toEqual(['new']);
    expect(await t.ctx.redis.exists(t.ctx.keys.run(acct, 'old'))).toBe(0);
    // The survivor's TTL now ends one period after it started, not at the 90 days it was written with.
    expect(await t.ctx.redis.pttl(t.ctx.keys.run(acct, 'new'))).toBeLessThanOrEqual(1_000);
    await delay(1_100);
    expect(await t.ctx.redis.exists(t.ctx.keys.run(acct, 'new'))).toBe(0);
    // The TTL took the record; the sweeper takes the index entry the TTL cannot.
    expect((await sweepRetention(t.ctx, policy({ runsMs: 60_000 }))).indexPruned).toBe(1);
    expect(await runIds()).toEqual([]);
    const audit = await readAudit(t.ctx.redis, t.ctx.keys, acct);
    expect(audit.map((e) => e.type)).toContain('retention.applied');
  });

  it('expires quarantine details before the run they belong to, keeping the count', async () => {
    const now = Date.now();
    await saveRun(t.ctx, run('older', now - 2_000, 3));
    await saveRun(t.ctx, run('recent', now, 2));
    const report = await sweepRetention(t.ctx, policy({ quarantineMs: 1_000 }));
    expect(report.quarantineExpired).toBe(1);
    const older = JSON.parse((await t.ctx.redis.get(t.ctx.keys.run(acct, 'older')))!) as SweptRun;
    expect(older.quarantined).toEqual([]);
    expect(older.quarantineExpired).toBe(3);
    expect(await t.ctx.redis.pttl(t.ctx.keys.run(acct, 'older'))).toBeGreaterThan(0);
    const recent = JSON.parse((await t.ctx.redis.get(t.ctx.keys.run(acct, 'recent')))!) as SweptRun;
    expect(recent.quarantined).toHaveLength(2);
  });

  it('bounds the life of a cached snapshot written without a TTL', async () => {
    const key = privacyKeys(t.ctx.keys).snapshot(acct, linkId);
    await t.ctx.redis.set(key, '{"customers":[]}');
    expect(await t.ctx.redis.pttl(key)).toBe(-1);
    expect((await sweepRetention(t.ctx, policy({ snapshotMs: 300 }))).snapshotsBounded).toBe(1);
    await delay(400);
    expect(await t.ctx.redis.exists(key)).toBe(0);
  });

  it('removes finished jobs and their event lines after the log period', async () => {
    const prefix = queuePrefix(t.prefix);
    const queue = new Queue('retention-probe', { connection: t.ctx.redis, prefix });
    const connection = t.ctx.redis.duplicate();
    const worker = new Worker(
      'retention-probe',
      async (job) => {
        if (job.name === 'bad') throw new Error('target said no');
        return 'ok';
      },
      { connection, prefix },
    );
    try {
      await queue.add('good', { accountId: acct });
      await queue.add('bad', { accountId: acct }, { attempts: 1 });
      for (let i = 0; i < 100; i++) {
        const c = await queue.getJobCounts('completed', 'failed');
        if (c.completed === 1 && c.failed === 1) break;
        await delay(50);
      }
      expect(await queue.getJobCounts('completed', 'failed')).toEqual({ completed: 1, failed: 1 });
      // A long period keeps them…
      expect((await sweepRetention(t.ctx, policy({ logsMs: long }))).jobsRemoved).toBe(0);
      await delay(20);
      // …a short one removes them, with the failure reasons in the event stream.
      const report = await sweepRetention(t.ctx, policy({ logsMs: 10 }));
      expect(report.jobsRemoved).toBe(2);
      expect(report.eventsTrimmed).toBeGreaterThan(0);
      expect(await queue.getJobCounts('completed', 'failed')).toEqual({ completed: 0, failed: 0 });
      expect(JSON.stringify(await t.ctx.redis.xrange(queue.keys.events!, '-', '+'))).not.toContain(
        'target said no',
      );
    } finally {
      await worker.close();
      await queue.close();
      connection.disconnect();
    }
  });

  it('is enforced by the workers themselves: the maintenance schedule sweeps on its own', async () => {
    await saveRun(t.ctx, run('old', Date.now() - 2_000));
    const maintenance = startMaintenance({
      redis: t.ctx.redis,
      store: t.ctx,
      policy: policy({ runsMs: 1_000 }),
      everyMinutes: 0.005, // 300 ms
      logger: pino({ level: 'silent' }),
    });
    try {
      await maintenance.scheduled;
      for (let i = 0; i < 100 && (await runIds()).length > 0; i++) await delay(50);
      expect(await runIds()).toEqual([]);
      expect(await t.ctx.redis.exists(t.ctx.keys.run(acct, 'old'))).toBe(0);
    } finally {
      await maintenance.close();
    }
  });
});
