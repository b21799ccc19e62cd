import { randomUUID } from 'node:crypto';
import { type ConnectionOptions, DelayedError, UnrecoverableError, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { isBudgetExhausted } from '../../connectors/types.ts';
import { GateClosedError } from '../consent/gate.ts';
import type { Metrics } from '../metrics.ts';
import { type EngineDeps, RunCancelledError, runSync } from '../sync/engine.ts';
import { isRunFailedPermanently } from '../sync/failure.ts';
import { subscribeCancels } from './cancel.ts';
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
  /** Where finished jobs and their time in the queue are counted. */
  metrics?: Metrics;
}

export type SyncWorker = Worker & {
  /** Resolves once this worker hears cancel messages (revocation, suspension). */
  cancelReady: Promise<void>;
};

/**
 * The run id of one start of a job: `<jobId>.<n>` (the job's id — a uuid for "sync now", BullMQ's id for scheduled
 * runs — and how many times it was started, this one included), so a retried attempt or a deferred run resuming
 * gets a record of its own instead of overwriting the one that made the earlier writes. `getRun` with the bare
 * job id answers its latest start (src/sync/runs.ts, which sanitises ids the same way).
 */
const runIdOf = (job: { id?: string; attemptsStarted?: number; attemptsMade: number }) =>
  `${(job.id ?? 'unknown').replace(/[^A-Za-z0-9._-]/g, '_')}.${job.attemptsStarted || job.attemptsMade + 1}`;

/** A revoked or unlinked link never runs again: such a job ends without even a run record. */
const FINAL = new Set(['revoked', 'unlinked']);

export function createSyncWorker(opts: SyncWorkerOptions): SyncWorker {
  const { engine, logger } = opts;
  const { redis, keys } = engine.store;
  // The jobs this process is running, per link, so a cancel message can reach them.
  const running = new Map<string, Set<string>>();
  const linkKey = (accountId: string, linkId: string) => `${accountId}\u0000${linkId}`;

  const worker = new Worker(
    SYNC_QUEUE,
    async (job, token, signal) => {
      const data = parseJob('sync', job.data);
      const lockKey = keys.runLock(data.accountId, data.linkId);
      // A fresh owner per attempt: losing the lock to another holder aborts this run rather than racing it.
      const lockLost = new AbortController();
      const lock = await tryLock(redis, lockKey, `${job.id}:${randomUUID()}`, opts.lockTtlMs, () =>
        lockLost.abort(new Error('the run lost its lock on the link to another worker')),
      );
      if (!lock) {
        // Another process runs this link: come back shortly without spending an attempt.
        const wait = (opts.lockRetryMs ?? 2000) * (1 + Math.random());
        await job.moveToDelayed(Date.now() + wait, token);
        throw new DelayedError();
      }
      const runId = runIdOf(job);
      // Every line of this run says which run, job and link it is about.
      const log = logger.child({ accountId: data.accountId, linkId: data.linkId, jobId: job.id, runId });
      opts.metrics?.jobWaitSeconds.observe(
        { queue: SYNC_QUEUE },
        // From when it was due (added, or its delay over) to now.
        Math.max(0, (Date.now() - job.timestamp - (job.delay ?? 0)) / 1000),
      );
      const key = linkKey(data.accountId, data.linkId);
      const mine = running.get(key) ?? new Set<string>();
      running.set(key, mine.add(`${job.id}`));
      try {
        // Checked under the run lock, which an unlink also takes: no run record appears after an unlink purged them.
        const status = await redis.hget(keys.link(data.accountId, data.linkId), 'status');
        if (status === null || FINAL.has(status)) {
          throw new UnrecoverableError(`link ${data.linkId} may not act: the link is ${status ?? 'gone'}`);
        }
        const run = await runSync(
          engine,
          { ...data, runId, attempt: job.attemptsMade + 1 },
          {
            signal: signal ? AbortSignal.any([signal, lockLost.signal]) : lockLost.signal,
            onProgress: (done, total) => job.updateProgress({ done, total }),
          },
        );
        log.info({ status: run.status, applied: run.applied, apiCalls: run.apiCalls.total }, 'run done');
        return { runId: run.id, status: run.status };
      } catch (error) {
        if (error instanceof GateClosedError || error instanceof RunCancelledError) {
          log.warn({ reason: error.message }, 'run stopped: link may not act');
          throw new UnrecoverableError(error.message);
        }
        if (isBudgetExhausted(error)) {
          // The target's request budget is spent: resume when it has room, without spending an attempt.
          log.info({ retryAt: new Date(error.retryAt).toISOString() }, 'run deferred: target budget spent');
          await job.moveToDelayed(error.retryAt, token);
          throw new DelayedError();
        }
        if (isRunFailedPermanently(error)) {
          // Every attempt would fail the same way (a rejected key, an unreadable answer): end the job now.
          log.warn({ err: error.message, attempt: job.attemptsMade + 1 }, 'run failed permanently');
          throw new UnrecoverableError(error.message);
        }
        if (!(error instanceof UnrecoverableError)) {
          log.warn({ err: (error as Error).message, attempt: job.attemptsMade + 1 }, 'run failed');
        }
        throw error;
      } finally {
        mine.delete(`${job.id}`);
        if (mine.size === 0) running.delete(key);
        await lock.release();
      }
    },
    { connection: opts.connection, prefix: queuePrefix(opts.prefix), concurrency: opts.concurrency },
  );
  worker.on('error', (err) => logger.error({ err: err.message }, 'worker error'));
  worker.on('completed', () => opts.metrics?.jobs.inc({ queue: SYNC_QUEUE, outcome: 'completed' }));
  worker.on('failed', (_job, err) =>
    opts.metrics?.jobs.inc({
      queue: SYNC_QUEUE,
      outcome: err instanceof DelayedError ? 'delayed' : 'failed',
    }),
  );

  // Its errors (Redis away) are one JSON line every 10 s, not ioredis's plain-text warning per reconnect.
  const cancels = redis.duplicate();
  let lastError = 0;
  cancels.on('error', (err: Error) => {
    if (Date.now() - lastError < 10_000) return;
    lastError = Date.now();
    logger.error({ err: err.message, connection: 'cancels' }, 'redis connection error');
  });
  const subscription = subscribeCancels(cancels, keys, (msg) => {
    for (const jobId of running.get(linkKey(msg.accountId, msg.linkId)) ?? []) {
      if (worker.cancelJob(jobId, msg.reason)) {
        logger.info(
          { accountId: msg.accountId, linkId: msg.linkId, jobId, reason: msg.reason },
          'run cancelled',
        );
      }
    }
  });
  subscription.catch((err: Error) => logger.error({ err: err.message }, 'cancel subscription failed'));
  worker.on('closed', () => {
    subscription.then((s) => s.close()).catch(() => {});
  });
  return Object.assign(worker, {
    cancelReady: subscription.then(
      () => undefined,
      () => undefined,
    ),
  });
}
