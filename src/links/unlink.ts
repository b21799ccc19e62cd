import type { Queue } from 'bullmq';
import { UnrecoverableError } from 'bullmq';
import { publishCancel } from '../queue/cancel.ts';
import { tryLock } from '../queue/lock.ts';
import { schedulerId, unscheduleLink } from '../queue/queues.ts';
import { appendAudit, readAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';
import { jobIdOfRun, type RunRecord } from '../sync/runs.ts';
import { listLinkJobs, purgeJobEvents, removeLinkJobs } from './link-jobs.ts';

export interface UnlinkDeps {
  store: StoreContext;
  syncQueue: Queue;
  /** A sync still finishing holds the link's run lock this long at most after its process died. */
  lockTtlMs: number;
}

export const UNLINK_STEPS = [
  'schedule',
  'queued',
  'credentials',
  'lock',
  'runs',
  'finished',
  'data',
  'audit',
  'status',
] as const;
export type UnlinkStep = (typeof UNLINK_STEPS)[number];

/** What an unlink removed (this pass) and what it kept. */
export interface UnlinkReport {
  linkId: string;
  /** `gone`: the link no longer exists (erased), nothing to do. */
  outcome: 'unlinked' | 'gone';
  schedulerRemoved: boolean;
  queuedJobsRemoved: number;
  credentialsDestroyed: boolean;
  runsSummarised: number;
  keysDeleted: number;
  finishedJobsRemoved: number;
  jobEventsDeleted: number;
}

/** Statuses from which unlinking may proceed: the gate is already closed for good. */
const CLOSED = new Set(['revoked', 'unlinked']);

/** Sets `unlinked` only on a link that still exists and is closed; an erased link is not recreated. */
const MARK_UNLINKED = `
local s = redis.call('HGET', KEYS[1], 'status')
if not s then return 0 end
if s ~= 'revoked' and s ~= 'unlinked' then return -1 end
redis.call('HSET', KEYS[1], 'status', 'unlinked')
redis.call('HSETNX', KEYS[1], 'unlinkedAt', ARGV[1])
return 1`;

const SET_IF_EXISTS = `if redis.call('EXISTS', KEYS[1]) == 1 then return redis.call('HSET', KEYS[1], ARGV[1], ARGV[2]) end return 0`;

/**
 * Forgets a revoked link: schedule and queued jobs gone, credentials deleted (the key, not a flag), mappings and
 * every cached per-link key purged, run history reduced to counts, then an audit entry and the `unlinked` status.
 * Every step can run again after a crash at any point and ends in the same state, so a retried or recovered job
 * simply finishes the work. `onStep` reports progress (and lets tests stop it half-way).
 */
export async function unlinkLink(
  deps: UnlinkDeps,
  job: { accountId: string; linkId: string; cause: string; owner: string },
  onStep: (step: UnlinkStep) => Promise<void> | void = () => {},
): Promise<UnlinkReport> {
  const { redis, keys } = deps.store;
  const { accountId, linkId } = job;
  const linkKey = keys.link(accountId, linkId);
  const report: UnlinkReport = {
    linkId,
    outcome: 'unlinked',
    schedulerRemoved: false,
    queuedJobsRemoved: 0,
    credentialsDestroyed: false,
    runsSummarised: 0,
    keysDeleted: 0,
    finishedJobsRemoved: 0,
    jobEventsDeleted: 0,
  };
  // Ids of the link's jobs, remembered before they are removed so their events can be found after a crash too;
  // the set lives under the link's namespace and goes with the purge of it.
  const jobsSeen = `${linkKey}:unlink-jobs`;
  const remember = (ids: string[]) => redis.sadd(jobsSeen, ...ids);
  const status = await redis.hget(linkKey, 'status');
  if (status === null) return { ...report, outcome: 'gone' };
  if (!CLOSED.has(status)) {
    throw new UnrecoverableError(`link ${linkId} is ${status}: only a revoked link is unlinked`);
  }

  report.schedulerRemoved = await unscheduleLink(deps.syncQueue, accountId, linkId);
  await onStep('schedule');
  report.queuedJobsRemoved = await removeLinkJobs(deps.syncQueue, accountId, linkId, 'pending', remember);
  await onStep('queued');
  await redis.del(keys.credentials(accountId, linkId));
  report.credentialsDestroyed = (await redis.exists(keys.credentials(accountId, linkId))) === 0;
  await onStep('credentials');

  // A run still finishing writes its record at the end; purging before it let go would leave that record behind.
  const lock = await waitForRunLock(deps, accountId, linkId, job.owner);
  try {
    await onStep('lock');
    report.runsSummarised = await summariseRuns(deps.store, accountId, linkId, jobsSeen);
    await onStep('runs');
    report.finishedJobsRemoved = await removeLinkJobs(
      deps.syncQueue,
      accountId,
      linkId,
      'finished',
      remember,
    );
    const active = await listLinkJobs(deps.syncQueue, accountId, linkId, 'active');
    if (active.length > 0) await remember(active);
    const seen = new Set(await redis.smembers(jobsSeen));
    // The scheduler's runs are named after it; the ones already gone are found by name.
    const scheduled = `repeat:${schedulerId(accountId, linkId)}:`;
    report.jobEventsDeleted = await purgeJobEvents(redis, deps.syncQueue, seen, (id) =>
      id.startsWith(scheduled),
    );
    await onStep('finished');
    report.keysDeleted = await purgeLinkKeys(deps.store, accountId, linkId);
    await onStep('data');
    await auditOnce(deps.store, accountId, linkId, job.cause, report);
    await onStep('audit');
    const marked = await redis.eval(MARK_UNLINKED, 1, linkKey, deps.store.now().toISOString());
    if (marked === 0) return { ...report, outcome: 'gone' };
    if (marked === -1) throw new UnrecoverableError(`link ${linkId} was reopened while being unlinked`);
    await onStep('status');
  } finally {
    await lock.release();
  }
  return report;
}

/** Takes the link's run lock, asking running syncs to stop while it waits; gives up (to be retried) after a while. */
async function waitForRunLock(deps: UnlinkDeps, accountId: string, linkId: string, owner: string) {
  const { redis, keys } = deps.store;
  const key = keys.runLock(accountId, linkId);
  const until = Date.now() + Math.max(2 * deps.lockTtlMs, 5000);
  let nextCancel = 0;
  for (;;) {
    const lock = await tryLock(redis, key, owner, deps.lockTtlMs);
    if (lock) return lock;
    if (Date.now() > until) {
      throw new Error(`link ${linkId}: a sync still holds the run lock; the unlink will be retried`);
    }
    if (Date.now() >= nextCancel) {
      // The first cancel was fire-and-forget; a worker that missed it hears this one.
      await publishCancel(redis, keys, { accountId, linkId, reason: 'the link is revoked' });
      nextCancel = Date.now() + 1000;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Run records name customers and products (reconciliation lines, errors): each is folded into a per-link hash of
 * counts and deleted in the same MULTI, so a crash between batches neither loses nor double-counts a run.
 */
async function summariseRuns(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
  jobsSeen: string,
): Promise<number> {
  const { redis, keys } = ctx;
  const runsKey = keys.runs(accountId, linkId);
  const historyKey = keys.runHistory(accountId, linkId);
  let total = 0;
  for (;;) {
    const ids = await redis.zrange(runsKey, 0, 199);
    if (ids.length === 0) break;
    const raws = await redis.mget(ids.map((id) => keys.run(accountId, id)));
    const multi = redis.multi();
    raws.forEach((raw) => {
      if (!raw) return;
      const run = JSON.parse(raw) as Partial<RunRecord>;
      multi.hincrby(historyKey, 'runs', 1);
      multi.hincrby(historyKey, `status.${run.status ?? 'unknown'}`, 1);
      if (run.dryRun) multi.hincrby(historyKey, 'dryRuns', 1);
      multi.hincrby(historyKey, 'apiCalls', run.apiCalls?.total ?? 0);
      for (const [kind, n] of Object.entries(run.applied ?? {}))
        multi.hincrby(historyKey, `applied.${kind}`, n);
      total++;
    });
    multi.del(...ids.map((id) => keys.run(accountId, id)));
    // A manual run's id is its job's id: remembered, its queue events can be found after BullMQ dropped the job.
    multi.sadd(jobsSeen, ...ids.map(jobIdOfRun));
    multi.zrem(runsKey, ...ids);
    await multi.exec();
  }
  await redis.del(runsKey);
  return total;
}

const globEscape = (s: string) => s.replace(/[*?[\]\\]/g, '\\$&');

/**
 * Deletes every key under the link's namespace (mapping, opt-outs, cached snapshot, leases, usage, and whatever
 * per-link key is added later) except the run-history counts, the run lock it holds, and the in-flight set.
 * SCAN rather than a list in code, so a cache added next year is not forgotten by an unlink.
 *
 * The in-flight set stays because a revocation may still be waiting on it: a request of a run that already let
 * go of its lock (one branch of a Promise.all failed at the gate, the other is still on the wire) would look
 * finished if its token were deleted. It holds random tokens only and expires with its last one.
 */
async function purgeLinkKeys(ctx: StoreContext, accountId: string, linkId: string): Promise<number> {
  const { redis, keys } = ctx;
  const keep = new Set([
    keys.runHistory(accountId, linkId),
    keys.runLock(accountId, linkId),
    keys.inflight(accountId, linkId),
  ]);
  let deleted = 0;
  const pattern = `${globEscape(keys.link(accountId, linkId))}:*`;
  let cursor = '0';
  do {
    const [next, found] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    const doomed = found.filter((k) => !keep.has(k));
    if (doomed.length > 0) deleted += await redis.del(...doomed);
  } while (cursor !== '0');
  return deleted;
}

/** One `link.unlinked` entry per link, even when the job is retried after appending it. */
async function auditOnce(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
  cause: string,
  report: UnlinkReport,
): Promise<void> {
  const { redis, keys } = ctx;
  const linkKey = keys.link(accountId, linkId);
  if (await redis.hget(linkKey, 'unlinkAudit')) return;
  // The marker is set after the append; a crash in between is caught by looking at the trail itself.
  const trail = await readAudit(redis, keys, accountId);
  // Totals, not this pass's numbers: a retried job finds most of the work already done.
  const runs = Number((await redis.hget(keys.runHistory(accountId, linkId), 'runs')) ?? 0);
  const existing = trail.find((e) => e.type === 'link.unlinked' && e.subject?.linkId === linkId);
  const id =
    existing?.id ??
    (await appendAudit(redis, keys, accountId, {
      type: 'link.unlinked',
      actor: { system: 'unlink' },
      subject: { linkId },
      data: {
        cause,
        credentialsDestroyed: report.credentialsDestroyed,
        runsSummarised: runs,
        retroactive: false,
      },
    }));
  // Only on a link that still exists: an erasure running meanwhile must not see it recreated.
  await redis.eval(SET_IF_EXISTS, 1, linkKey, 'unlinkAudit', id);
}

/** The counts an unlinked link keeps of its history. */
export async function readRunHistory(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
): Promise<Record<string, number>> {
  const raw = await ctx.redis.hgetall(ctx.keys.runHistory(accountId, linkId));
  return Object.fromEntries(Object.entries(raw).map(([k, v]) => [k, Number(v)]));
}
