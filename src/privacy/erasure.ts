import { setTimeout as delay } from 'node:timers/promises';
import type { Job, Queue } from 'bullmq';
import { type Actor, listConsents, systemActor } from '../consent/consents.ts';
import { AppError, forbidden } from '../errors.ts';
import { listLinks } from '../links/links.ts';
import { schedulerId } from '../queue/queues.ts';
import { appendAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';
import { scanKeys } from '../store/scan.ts';
import { jobIdOfRun } from '../sync/runs.ts';
import { type PrivacyDeps, RIGHTS_ROLES } from './deps.ts';
import { accountJobs, FINISHED, forEachQueue, PENDING } from './jobs.ts';
import { privacyKeys } from './keys.ts';

/** The connector's own staff and processes: not people of the account, so the erasure entry may name them. */
const OPERATOR_ROLES: string[] = ['operator', 'system'];

export interface ErasureOptions {
  /** How long queued work of the account (an unlink job, say) may run on its own before it is removed. */
  graceMs?: number;
  /** How long to wait for running jobs of the account to end before deleting under them. */
  waitMs?: number;
}

export interface ErasureResult {
  accountId: string;
  revokedConsentIds: string[];
  unlinkedLinkIds: string[];
  jobsRemoved: number;
  keysDeleted: number;
  /** Jobs still running when the wait ran out: they can no longer act (their gate is closed), but may write. */
  unconfirmed: string[];
  note: string;
}

/**
 * Right to erasure: revoke every active consent through the app's revocation (so the gates close and the unlink
 * machinery runs), remove the account's schedulers and jobs, delete every key under the account's hash tag, and
 * leave one audit entry saying that it happened — which holds the asker's role (an operator's id) and counts.
 *
 * Work that is already running can write after it is told to stop (a run saves its record as it ends), so
 * keys are deleted only once the account's jobs have finished, and deleted again to catch a late write.
 */
export async function eraseAccount(
  d: PrivacyDeps,
  actor: Actor,
  accountId: string,
  opts: ErasureOptions = {},
): Promise<ErasureResult> {
  if (!RIGHTS_ROLES.includes(actor.role))
    throw forbidden('erasing an account is an admin or operator action');
  const ctx = d.store;
  const graceMs = opts.graceMs ?? 5_000;
  const waitMs = opts.waitMs ?? 30_000;
  const prefix = ctx.keys.prefix;

  // A sync's job id is its run id: read the run index now, before an unlink turns it into counts, so the
  // queue's lines about jobs that are already gone can still be recognised as this account's.
  const jobIds = new Set<string>();
  for (const link of await listLinks(ctx, accountId)) {
    for (const runId of await ctx.redis.zrange(ctx.keys.runs(accountId, link.id), 0, -1))
      jobIds.add(jobIdOfRun(runId));
  }

  const revoked: string[] = [];
  for (const consent of await listConsents(ctx, accountId)) {
    if (consent.status !== 'active') continue;
    try {
      await d.revokeConsent(systemActor('erasure'), accountId, consent.id);
      revoked.push(consent.id);
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'already_revoked')) throw error;
    }
  }
  const links = await listLinks(ctx, accountId);
  const linkIds = links.map((l) => l.id);

  let jobsRemoved = 0;
  /** Waits until the account has no running job (and, in the grace phase, none about to run). */
  const settle = async (deadline: number, removePending: boolean): Promise<string[]> => {
    let active: Job[] = [];
    for (;;) {
      active = [];
      let soon = 0;
      await forEachQueue(ctx.redis, prefix, async (queue) => {
        await dropSchedulers(queue, accountId, linkIds);
        for (const job of await accountJobs(queue, accountId, PENDING)) {
          if (job.id) jobIds.add(job.id);
          if (removePending) jobsRemoved += await removeJob(job);
        }
        if (!removePending) {
          const queued = (await accountJobs(queue, accountId, ['waiting', 'prioritized'])).length;
          // Worth waiting for only if some worker will take it (a lone CLI process has none).
          if (queued > 0 && (await hasWorkers(queue))) soon += queued;
        }
        active.push(...(await accountJobs(queue, accountId, ['active'])));
      });
      for (const job of active) if (job.id) jobIds.add(job.id);
      if ((active.length === 0 && soon === 0) || Date.now() >= deadline) break;
      await delay(100);
    }
    return active.map((j) => `${j.queueName}:${j.id}`);
  };
  // First let work of the account that is about to run (the unlink jobs the revocations queued) finish…
  await settle(Date.now() + graceMs, false);
  // …then remove whatever has not started (delayed retries included) and wait for what is running.
  const unconfirmed = await settle(Date.now() + waitMs, true);

  let keysDeleted = await deleteAccountKeys(ctx, accountId);
  // Scheduler job ids start `repeat:sync.<account>.<link>`, unlink ids are `unlink.<link>`. The trailing `.`
  // matters: a bare account id would also match the jobs of account `<id>0`.
  const markers = [schedulerId(accountId, ''), ...linkIds];
  jobsRemoved += await dropFinishedJobs(ctx, accountId, jobIds, markers);
  // A run that ended during the deletion may have saved its record after the scan passed it.
  keysDeleted += await deleteAccountKeys(ctx, accountId);
  await ctx.redis.srem(ctx.keys.accounts(), accountId);

  const result: ErasureResult = {
    accountId,
    revokedConsentIds: revoked,
    unlinkedLinkIds: linkIds,
    jobsRemoved,
    keysDeleted,
    unconfirmed,
    note:
      'Everything this connector held for the account is deleted except this erasure audit entry. Data already ' +
      'delivered to the billing system stays there: erasure here is not retroactive.',
  };
  await appendAudit(ctx.redis, ctx.keys, accountId, {
    type: 'account.erased',
    // The entry outlives the account, so its own people are named by role only; an operator is not one of them.
    actor: OPERATOR_ROLES.includes(actor.role) ? actor : { role: actor.role },
    data: {
      consentsRevoked: revoked.length,
      links: links.length,
      jobsRemoved,
      keysDeleted,
      unconfirmedJobs: unconfirmed.length,
    },
  });
  return result;
}

async function dropSchedulers(queue: Queue, accountId: string, linkIds: string[]): Promise<void> {
  for (const linkId of linkIds) await queue.removeJobScheduler(schedulerId(accountId, linkId));
  for (const s of await queue.getJobSchedulers(0, -1)) {
    const data = s.template?.data as { accountId?: unknown } | undefined;
    if (data?.accountId === accountId && s.key) await queue.removeJobScheduler(s.key);
  }
}

async function hasWorkers(queue: Queue): Promise<boolean> {
  // CLIENT LIST may be forbidden on managed Redis: then assume there are workers and wait the grace period.
  return (await queue.getWorkersCount().catch(() => 1)) > 0;
}

async function removeJob(job: Job): Promise<number> {
  try {
    await job.remove();
    return 1;
  } catch {
    // It started (and locked) between listing and removing: the next pass waits for it.
    return 0;
  }
}

/**
 * Finished jobs of the account, and their lines in each queue's event stream (job ids, failure reasons). A line
 * belongs to the account when its job id is one of the account's jobs, or names the account or one of its links
 * (scheduler and unlink job ids are derived from them).
 */
async function dropFinishedJobs(
  ctx: StoreContext,
  accountId: string,
  seen: Set<string>,
  markers: string[],
): Promise<number> {
  let removed = 0;
  await forEachQueue(ctx.redis, ctx.keys.prefix, async (queue) => {
    for (const job of await accountJobs(queue, accountId, FINISHED)) {
      if (job.id) seen.add(job.id);
      removed += await removeJob(job);
    }
    const eventsKey = queue.keys.events;
    if (!eventsKey) return;
    const entries = await ctx.redis.xrange(eventsKey, '-', '+');
    const doomed = entries
      .filter(([, fields]) => {
        const i = fields.indexOf('jobId');
        const jobId = i >= 0 ? (fields[i + 1] ?? '') : '';
        return jobId !== '' && (seen.has(jobId) || markers.some((m) => jobId.includes(m)));
      })
      .map(([id]) => id);
    for (let i = 0; i < doomed.length; i += 500) await ctx.redis.xdel(eventsKey, ...doomed.slice(i, i + 500));
  });
  return removed;
}

async function deleteAccountKeys(ctx: StoreContext, accountId: string): Promise<number> {
  let deleted = 0;
  // UNLINK: frees memory off the main thread; the keys are gone for every reader at once either way.
  await scanKeys(ctx.redis, privacyKeys(ctx.keys).accountPattern(accountId), async (keys) => {
    deleted += await ctx.redis.unlink(...keys);
  });
  return deleted;
}
