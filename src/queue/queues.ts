import { randomUUID } from 'node:crypto';
import { type ConnectionOptions, Queue } from 'bullmq';
import type { Link } from '../links/links.ts';
import { jobCatalog, type RetryPolicy, type SyncJobData } from './catalog.ts';

export const SYNC_QUEUE = 'sync';

/** Queue keys share one hash tag so BullMQ's multi-key scripts work on Redis Cluster too. */
export const queuePrefix = (prefix: string) => `{${prefix}-q}`;

export function createSyncQueue(connection: ConnectionOptions, prefix: string): Queue {
  return new Queue(SYNC_QUEUE, { connection, prefix: queuePrefix(prefix) });
}

export const schedulerId = (accountId: string, linkId: string) => `sync.${accountId}.${linkId}`;

/**
 * One job scheduler per link, at the link's interval; upserting is idempotent. The first scheduled run comes one
 * interval after linking, not at once: an admin gets the chance to look at a dry run before anything is pushed.
 */
export async function scheduleLink(queue: Queue, link: Link, retry: RetryPolicy): Promise<void> {
  const data: SyncJobData = {
    accountId: link.accountId,
    linkId: link.id,
    epoch: link.epoch,
    dryRun: false,
    trigger: 'schedule',
  };
  await queue.upsertJobScheduler(
    schedulerId(link.accountId, link.id),
    { every: link.everyMinutes * 60_000, startDate: Date.now() + link.everyMinutes * 60_000 },
    { name: 'sync', data, opts: jobCatalog.sync.options(retry) },
  );
}

export async function unscheduleLink(queue: Queue, accountId: string, linkId: string): Promise<boolean> {
  return queue.removeJobScheduler(schedulerId(accountId, linkId));
}

/** "Sync now": the job id is the run id, so the caller can wait for it and read the run back. */
export async function enqueueSync(
  queue: Queue,
  link: Link,
  dryRun: boolean,
  retry: RetryPolicy,
  approvedRunId?: string,
) {
  const data = jobCatalog.sync.schema.parse({
    accountId: link.accountId,
    linkId: link.id,
    epoch: link.epoch,
    dryRun,
    trigger: 'manual',
    ...(approvedRunId ? { approvedRunId } : {}),
  });
  return queue.add('sync', data, { ...jobCatalog.sync.options(retry), jobId: randomUUID() });
}
