import { type ConnectionOptions, Queue, Worker } from 'bullmq';
import type { Logger } from 'pino';
import { jobCatalog, type NotifyJobData, parseJob } from '../queue/catalog.ts';
import { queuePrefix } from '../queue/queues.ts';
import type { StoreContext } from '../store/context.ts';
import type { RunRecord } from '../sync/runs.ts';
import { deliver, type WebhookTarget } from './deliver.ts';
import { problemsOf } from './problems.ts';
import { claimProblems, releaseProblem } from './state.ts';

export const NOTIFY_QUEUE = 'notify';

export interface NotifierOptions {
  store: StoreContext;
  connection: ConnectionOptions;
  prefix: string;
  target: WebhookTarget;
  /** Base delay of the queue's exponential backoff between delivery attempts. */
  backoffMs: number;
  logger: Logger;
}

export interface Notifier {
  queue: Queue;
  /** Called once per finished run; queues a notification per problem not notified before. Never throws. */
  onRunFinished(run: RunRecord): Promise<void>;
  startWorker(connection: ConnectionOptions): Worker;
  close(): Promise<void>;
}

export function createNotifier(opts: NotifierOptions): Notifier {
  const { store, logger } = opts;
  const queue = new Queue(NOTIFY_QUEUE, { connection: opts.connection, prefix: queuePrefix(opts.prefix) });
  queue.on('error', (err) => logger.error({ err: err.message, connection: 'notify queue' }, 'redis error'));
  let worker: Worker | undefined;

  async function onRunFinished(run: RunRecord): Promise<void> {
    try {
      const seen = problemsOf(run);
      if (!seen) return;
      const fresh = await claimProblems(store, run.accountId, run.linkId, seen.problems, seen.cleared);
      for (const problem of fresh) {
        const data: NotifyJobData = jobCatalog.notify.schema.parse({
          id: `${run.id}.${problem.kind}`,
          accountId: run.accountId,
          linkId: run.linkId,
          runId: run.id,
          runStatus: run.status,
          kind: problem.kind,
          summary: problem.summary,
          occurredAt: run.finishedAt ?? new Date().toISOString(),
        });
        await queue
          .add('notify', data, jobCatalog.notify.options({ backoffMs: opts.backoffMs }))
          .catch(async (error) => {
            await releaseProblem(store, run.accountId, run.linkId, problem).catch(() => {});
            throw error;
          });
      }
    } catch (error) {
      // A notification never fails the run it reports on.
      logger.error({ err: (error as Error).message, runId: run.id }, 'notification not queued');
    }
  }

  return {
    queue,
    onRunFinished,
    startWorker(connection) {
      if (worker) return worker;
      worker = new Worker(NOTIFY_QUEUE, async (job) => deliver(opts.target, parseJob('notify', job.data)), {
        connection,
        prefix: queuePrefix(opts.prefix),
        concurrency: 4,
      });
      worker.on('failed', (job, err) =>
        logger.warn({ jobId: job?.id, attempt: job?.attemptsMade, err: err.message }, 'notification failed'),
      );
      return worker;
    },
    async close() {
      await worker?.close();
      await queue.close();
    },
  };
}
