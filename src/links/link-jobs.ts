import type { JobType, Queue } from 'bullmq';
import type { Redis } from 'ioredis';

const STATES: Record<'pending' | 'finished' | 'active', JobType[]> = {
  pending: ['waiting', 'delayed', 'prioritized', 'waiting-children'],
  // Failed jobs keep the target's error text, which can name a customer.
  finished: ['completed', 'failed'],
  active: ['active'],
};

/** Ids of one link's jobs in the given states (jobs carry the account and link ids, nothing else of them). */
export async function listLinkJobs(
  queue: Queue,
  accountId: string,
  linkId: string,
  which: keyof typeof STATES,
): Promise<string[]> {
  const ids: string[] = [];
  const page = 500;
  for (const state of STATES[which]) {
    for (let start = 0; ; start += page) {
      const jobs = await queue.getJobs(state, start, start + page - 1, true);
      for (const job of jobs) {
        const data = job?.data as { accountId?: unknown; linkId?: unknown } | undefined;
        if (job?.id && data?.accountId === accountId && data.linkId === linkId) ids.push(job.id);
      }
      if (jobs.length < page) break;
    }
  }
  return ids;
}

/**
 * Removes one link's jobs in the given states; returns how many went. Active jobs are locked by their worker and
 * are stopped by cancellation and the gate instead. Jobs are listed first and removed after, so removal does not
 * shift the pages being read.
 */
export async function removeLinkJobs(
  queue: Queue,
  accountId: string,
  linkId: string,
  which: 'pending' | 'finished',
  onFound: (ids: string[]) => Promise<unknown> = async () => {},
): Promise<number> {
  const ids = await listLinkJobs(queue, accountId, linkId, which);
  if (ids.length > 0) await onFound(ids);
  let removed = 0;
  for (const id of ids) removed += await queue.remove(id);
  return removed;
}

/**
 * The queue's event stream repeats a failed job's reason (the target's words) long after the job is gone, so the
 * entries of the given jobs are deleted from it too. Returns how many entries went.
 */
export async function purgeJobEvents(
  client: Redis,
  queue: Queue,
  jobIds: Set<string>,
  alsoIf: (jobId: string) => boolean = () => false,
): Promise<number> {
  const key = queue.keys.events;
  if (!key) return 0;
  let deleted = 0;
  let from = '-';
  for (;;) {
    const entries = await client.xrange(key, from, '+', 'COUNT', 1000);
    const doomed: string[] = [];
    for (const [id, fields] of entries) {
      const i = fields.indexOf('jobId');
      const jobId = i >= 0 ? (fields[i + 1] ?? '') : '';
      if (jobId && (jobIds.has(jobId) || alsoIf(jobId))) doomed.push(id);
    }
    if (doomed.length > 0) deleted += await client.xdel(key, ...doomed);
    if (entries.length < 1000) break;
    from = `(${entries.at(-1)![0]}`;
  }
  return deleted;
}
