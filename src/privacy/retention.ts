import type { Config } from '../config.ts';
import { appendAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';
import { reEscape, scanKeys } from '../store/scan.ts';
import type { RunRecord } from '../sync/runs.ts';
import { forEachQueue } from './jobs.ts';

/** How long each kind of data may live, in milliseconds. */
export interface RetentionPolicy {
  runsMs: number;
  quarantineMs: number;
  snapshotMs: number;
  logsMs: number;
}

const DAY = 86_400_000;
export const retentionFromConfig = (c: Config): RetentionPolicy => ({
  runsMs: c.RETENTION_RUNS_DAYS * DAY,
  quarantineMs: c.RETENTION_QUARANTINE_DAYS * DAY,
  snapshotMs: c.RETENTION_SNAPSHOT_HOURS * 3_600_000,
  logsMs: c.RETENTION_LOGS_DAYS * DAY,
});

export interface SweepReport {
  runsRemoved: number;
  /** Index entries whose run record had already expired by its TTL. */
  indexPruned: number;
  quarantineExpired: number;
  snapshotsBounded: number;
  jobsRemoved: number;
  eventsTrimmed: number;
}

/** A run record once its quarantine details have expired: the count stays, the records do not. */
export type SweptRun = RunRecord & { quarantineExpired?: number };

/**
 * Enforces retention where a TTL alone cannot: run-history indexes (sorted sets outlive their members' TTLs),
 * quarantine details inside run records that are kept longer, TTLs that were written under a longer policy,
 * cached snapshots written without a TTL, and finished jobs and queue event lines. Idempotent; safe to run from
 * several workers at once.
 */
export async function sweepRetention(
  ctx: StoreContext,
  policy: RetentionPolicy,
  now = Date.now(),
): Promise<SweepReport> {
  const { redis, keys } = ctx;
  const report: SweepReport = {
    runsRemoved: 0,
    indexPruned: 0,
    quarantineExpired: 0,
    snapshotsBounded: 0,
    jobsRemoved: 0,
    eventsTrimmed: 0,
  };
  const perAccount = new Map<string, { runsRemoved: number; quarantineExpired: number }>();
  const runsKey = new RegExp(`^${reEscape(keys.prefix)}:\\{acct:([^}]+)\\}:link:[^:]+:runs$`);

  await eachKey(ctx, `${keys.prefix}:{acct:*}:link:*:runs`, async (indexKey) => {
    const accountId = runsKey.exec(indexKey)?.[1];
    if (!accountId) return;
    const tally = perAccount.get(accountId) ?? { runsRemoved: 0, quarantineExpired: 0 };
    perAccount.set(accountId, tally);
    const cutoff = now - policy.runsMs;
    const expired = await redis.zrangebyscore(indexKey, '-inf', cutoff);
    if (expired.length > 0) {
      await redis.unlink(...expired.map((id) => keys.run(accountId, id)));
      await redis.zrem(indexKey, ...expired);
      report.runsRemoved += expired.length;
      tally.runsRemoved += expired.length;
    }
    const rest = await redis.zrangebyscore(indexKey, `(${cutoff}`, '+inf', 'WITHSCORES');
    for (let i = 0; i < rest.length; i += 2) {
      const id = rest[i]!;
      const startedAt = Number(rest[i + 1]);
      const runKey = keys.run(accountId, id);
      // LT: only ever shortens a TTL, so a record never outlives its start + the retention period.
      const set = await redis.pexpireat(runKey, Math.ceil(startedAt + policy.runsMs), 'LT');
      if (set === 0 && (await redis.exists(runKey)) === 0) {
        await redis.zrem(indexKey, id);
        report.indexPruned++;
        continue;
      }
      if (startedAt <= now - policy.quarantineMs && (await expireQuarantine(ctx, runKey))) {
        report.quarantineExpired++;
        tally.quarantineExpired++;
      }
    }
  });

  await eachKey(ctx, `${keys.prefix}:{acct:*}:link:*:snapshot*`, async (key) => {
    if ((await redis.pexpire(key, Math.ceil(policy.snapshotMs), 'LT')) === 1) report.snapshotsBounded++;
  });

  await forEachQueue(redis, keys.prefix, async (queue) => {
    for (const type of ['completed', 'failed'] as const) {
      for (;;) {
        const removed = await queue.clean(policy.logsMs, 1000, type);
        report.jobsRemoved += removed.length;
        if (removed.length < 1000) break;
      }
    }
    if (queue.keys.events) {
      report.eventsTrimmed += await redis.xtrim(queue.keys.events, 'MINID', Math.floor(now - policy.logsMs));
    }
  });

  for (const [accountId, tally] of perAccount) {
    if (tally.runsRemoved + tally.quarantineExpired === 0) continue;
    await appendAudit(redis, keys, accountId, {
      type: 'retention.applied',
      actor: { system: 'retention' },
      data: tally,
    });
  }
  return report;
}

/** Replaces the quarantine details of a run record with their count, keeping the record's TTL. */
async function expireQuarantine(ctx: StoreContext, runKey: string): Promise<boolean> {
  const raw = await ctx.redis.get(runKey);
  if (!raw) return false;
  const run = JSON.parse(raw) as SweptRun;
  if (!run.quarantined || run.quarantined.length === 0) return false;
  const swept: SweptRun = {
    ...run,
    quarantineExpired: (run.quarantineExpired ?? 0) + run.quarantined.length,
    quarantined: [],
  };
  // XX: a record that expired since the read must stay gone, not come back without a TTL.
  await ctx.redis.set(runKey, JSON.stringify(swept), 'KEEPTTL', 'XX');
  return true;
}

const eachKey = (ctx: StoreContext, pattern: string, fn: (key: string) => Promise<void>) =>
  scanKeys(ctx.redis, pattern, async (found) => {
    for (const key of found) await fn(key);
  });
