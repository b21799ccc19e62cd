import { type ConnectionOptions, DelayedError, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { GateClosedError } from '../consent/gate.ts';
import { type EngineDeps, RunCancelledError, runSync } from '../sync/engine.ts';
import { parseJob } from './catalog.ts';
import { tryLock } from './lock.ts';
import { queuePrefix, SYNC_QUEUE } from './queues.ts';

export interface SyncWorkerOptions {
  connection: ConnectionOptions;
  prefix: string;
  concurrency: number;
  engine: EngineDeps;
  logger: Logger;
  /** How long a job waits before trying again when another run of its link holds the lock. */
  lockRetryMs?: number;
  /** A dead worker's claim on a link lapses after this long. */
  lockTtlMs?: number;
}

/** The run id of a job: its own id (a uuid for "sync now", BullMQ's id for scheduled runs). */
const runIdOf = (jobId: string | undefined) => (jobId ?? 'unknown').replace(/[^A-Za-z0-9._-]/g, '_');

export function createSyncWorker(opts: SyncWorkerOptions): Worker {
  const { engine, logger } = opts;
  const worker = new Worker(
    SYNC_QUEUE,
    async (job, token, signal) => {
      const data = parseJob('sync', job.data);
      const lockKey = engine.store.keys.runLock(data.accountId, data.linkId);
      const lock = await tryLock(engine.store.redis, lockKey, `${job.id}`, opts.lockTtlMs);
      if (!lock) {
        // Another process runs this link: come back shortly without spending an attempt.
        const wait = (opts.lockRetryMs ?? 2000) * (1 + Math.random());
        await job.moveToDelayed(Date.now() + wait, token);
        throw new DelayedError();
      }
      const log = logger.child({ accountId: data.accountId, linkId: data.linkId, jobId: job.id });
      try {
        const run = await runSync(
          engine,
          { ...data, runId: runIdOf(job.id), attempt: job.attemptsMade + 1 },
          { signal, onProgress: (done, total) => job.updateProgress({ done, total }) },
        );
        log.info(
          { runId: run.id, status: run.status, applied: run.applied, apiCalls: run.apiCalls.total },
          'run done',
        );
        return { runId: run.id, status: run.status };
      } catch (error) {
        if (error instanceof GateClosedError || error instanceof RunCancelledError) {
          log.warn({ reason: error.message }, 'run stopped: link may not act');
          throw new UnrecoverableError(error.message);
        }
        log.warn({ err: (error as Error).message, attempt: job.attemptsMade + 1 }, 'run failed');
        throw error;
      } finally {
        await lock.release();
      }
    },
    { connection: opts.connection, prefix: queuePrefix(opts.prefix), concurrency: opts.concurrency },
  );
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));
  return worker;
}
