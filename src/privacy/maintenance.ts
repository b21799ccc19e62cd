import { Queue, Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { jobCatalog, parseJob } from '../queue/catalog.ts';
import { queuePrefix } from '../queue/queues.ts';
import type { StoreContext } from '../store/context.ts';
import { type RetentionPolicy, sweepRetention } from './retention.ts';

export const MAINTENANCE_QUEUE = 'maintenance';
export const RETENTION_SCHEDULER = 'retention-sweep';

export interface Maintenance {
  queue: Queue;
  worker: Worker;
  /** Resolves once the sweeper's schedule is in place. */
  scheduled: Promise<void>;
  close(): Promise<void>;
}

/**
 * The connector enforces its own retention: every worker process runs a maintenance worker, and one job
 * scheduler (upserted by each, so there is exactly one) queues a sweep every `everyMinutes`.
 */
export function startMaintenance(opts: {
  redis: Redis;
  store: StoreContext;
  policy: RetentionPolicy;
  everyMinutes: number;
  logger: Logger;
}): Maintenance {
  const prefix = queuePrefix(opts.store.keys.prefix);
  const connection = opts.redis.duplicate();
  const queue = new Queue(MAINTENANCE_QUEUE, { connection: opts.redis, prefix });
  const worker = new Worker(
    MAINTENANCE_QUEUE,
    async (job) => {
      parseJob('retention', job.data);
      const report = await sweepRetention(opts.store, opts.policy);
      opts.logger.info({ report }, 'retention sweep done');
      return report;
    },
    { connection, prefix, concurrency: 1 },
  );
  worker.on('error', (err) => opts.logger.error({ err: err.message }, 'maintenance worker error'));
  const scheduled = queue
    .upsertJobScheduler(
      RETENTION_SCHEDULER,
      { every: opts.everyMinutes * 60_000 },
      { name: 'retention', data: { trigger: 'schedule' }, opts: jobCatalog.retention.options() },
    )
    .then(() => undefined)
    .catch((err: Error) => opts.logger.error({ err: err.message }, 'could not schedule the retention sweep'));
  return {
    queue,
    worker,
    scheduled,
    async close() {
      await scheduled;
      await worker.close();
      await queue.close();
      connection.disconnect();
    },
  };
}
