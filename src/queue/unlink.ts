import { type ConnectionOptions, type Job, Queue, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { type UnlinkDeps, unlinkLink } from '../links/unlink.ts';
import type { StoreContext } from '../store/context.ts';
import { jobCatalog, parseJob, type UnlinkJobData } from './catalog.ts';
import { queuePrefix } from './queues.ts';

export const UNLINK_QUEUE = 'unlink';

/** Its own queue, so unlinking never waits behind long syncs for a worker slot. */
export function createUnlinkQueue(connection: ConnectionOptions, prefix: string): Queue {
  return new Queue(UNLINK_QUEUE, { connection, prefix: queuePrefix(prefix) });
}

/** Derived from the link, so however many paths ask for it, a link is unlinked by one job. */
export const unlinkJobId = (linkId: string) => `unlink.${linkId}`;

/** Queues the unlink of a link once; a job that ran out of attempts is retried rather than left failed. */
export async function enqueueUnlink(queue: Queue, data: UnlinkJobData): Promise<Job> {
  const parsed = jobCatalog.unlink.schema.parse(data);
  const jobId = unlinkJobId(parsed.linkId);
  const existing = await queue.getJob(jobId);
  if (existing && (await existing.isFailed())) {
    await existing.retry('failed');
    return existing;
  }
  return queue.add('unlink', parsed, { ...jobCatalog.unlink.options(), jobId });
}

export interface UnlinkWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  deps: UnlinkDeps;
  logger: Logger;
  concurrency?: number;
}

export function createUnlinkWorker(opts: UnlinkWorkerOptions): Worker {
  const { logger } = opts;
  const ttl = opts.deps.lockTtlMs;
  const worker = new Worker(
    UNLINK_QUEUE,
    async (job) => {
      const data = parseJob('unlink', job.data);
      const report = await unlinkLink(opts.deps, { ...data, owner: `unlink:${job.id}` }, (step) =>
        job.updateProgress({ step }),
      );
      logger.info({ accountId: data.accountId, ...report }, 'link unlinked');
      return report;
    },
    {
      connection: opts.connection,
      prefix: queuePrefix(opts.prefix),
      concurrency: opts.concurrency ?? 2,
      // A killed worker's unlink is picked up again after about this long; being idempotent, it may run twice.
      lockDuration: ttl,
      stalledInterval: ttl,
      maxStalledCount: 10,
    },
  );
  worker.on('error', (err) => logger.error({ err: err.message }, 'unlink worker error'));
  worker.on('failed', (job, err) =>
    logger.warn({ jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'unlink failed'),
  );
  return worker;
}

/**
 * A revocation commits (status `revoked`) before it queues the unlink; a process that died in between leaves a
 * revoked link without a job. Revoked-but-not-unlinked is itself the durable marker, so a worker looks for it at
 * start and queues what is missing (the job id makes this a no-op for links already queued).
 */
export async function recoverUnlinks(ctx: StoreContext, queue: Queue): Promise<string[]> {
  const { redis, keys } = ctx;
  const queued: string[] = [];
  for (const accountId of await redis.smembers(keys.accounts())) {
    const linkIds = await redis.zrange(keys.links(accountId), 0, -1);
    if (linkIds.length === 0) continue;
    const pipeline = redis.pipeline();
    for (const id of linkIds) pipeline.hget(keys.link(accountId, id), 'status');
    const statuses = (await pipeline.exec()) ?? [];
    for (const [i, linkId] of linkIds.entries()) {
      if (statuses[i]?.[1] !== 'revoked') continue;
      await enqueueUnlink(queue, { accountId, linkId, cause: 'consent.revoked' });
      queued.push(linkId);
    }
  }
  return queued;
}
