import { type Job, type JobType, Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { queuePrefix } from '../queue/queues.ts';
import { scanKeys } from '../store/scan.ts';

/** States in which a job has not started yet and can simply be removed. */
export const PENDING: JobType[] = ['waiting', 'delayed', 'prioritized', 'waiting-children'];
export const FINISHED: JobType[] = ['completed', 'failed'];

/**
 * Every BullMQ queue under the deployment's prefix, found from Redis rather than from a list in code, so that a
 * queue added later (an unlink queue, say) is covered by erasure and retention without anyone remembering to.
 * BullMQ forbids `:` in queue names, so the name is the segment after the prefix.
 */
export async function listQueueNames(redis: Redis, prefix: string): Promise<string[]> {
  const qp = queuePrefix(prefix);
  const names = new Set<string>();
  for (const suffix of ['meta', 'id', 'events']) {
    await scanKeys(redis, `${qp}:*:${suffix}`, async (keys) => {
      for (const key of keys) {
        const name = key.slice(qp.length + 1, -(suffix.length + 1));
        if (name && !name.includes(':')) names.add(name);
      }
    });
  }
  return [...names].sort();
}

/** Runs `fn` over every queue under the prefix; the queues share `redis` and are closed afterwards. */
export async function forEachQueue<T>(
  redis: Redis,
  prefix: string,
  fn: (queue: Queue) => Promise<T>,
): Promise<T[]> {
  const out: T[] = [];
  for (const name of await listQueueNames(redis, prefix)) {
    const queue = new Queue(name, { connection: redis, prefix: queuePrefix(prefix) });
    try {
      out.push(await fn(queue));
    } finally {
      await queue.close();
    }
  }
  return out;
}

/** Jobs carry only ids (never a secret), and every job that acts for an account names it in `accountId`. */
export const belongsTo = (job: Job | undefined, accountId: string): job is Job =>
  Boolean(job && (job.data as { accountId?: unknown } | undefined)?.accountId === accountId);

export async function accountJobs(queue: Queue, accountId: string, types: JobType[]): Promise<Job[]> {
  const jobs = (await queue.getJobs(types, 0, -1)) as (Job | undefined)[];
  return jobs.filter((j) => belongsTo(j, accountId));
}
