import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

/** Job data never holds a secret: only ids and the epoch the work was planned under. */
export const SyncJobData = z.object({
  accountId: z.string().min(1),
  linkId: z.string().min(1),
  epoch: z.number().int().positive(),
  dryRun: z.boolean().default(false),
  trigger: z.enum(['schedule', 'manual']),
  /** Set when an admin approved a run awaiting approval: this job applies that run's plan if nothing changed. */
  approvedRunId: z.string().min(1).max(200).optional(),
});
export type SyncJobData = z.infer<typeof SyncJobData>;

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
  /** How long finished jobs (and their failure reasons) are kept: RETENTION_LOGS_DAYS. @defaultValue 30 days */
  keepJobsSeconds?: number;
}

/** Forgetting one link after its consent was revoked: ids and the cause, never anything the link held. */
export const UnlinkJobData = z.object({
  accountId: z.string().min(1),
  linkId: z.string().min(1),
  cause: z.string().min(1).max(100),
});
export type UnlinkJobData = z.infer<typeof UnlinkJobData>;

/** The retention sweeper's job: no payload beyond why it runs. */
export const RetentionJobData = z.object({ trigger: z.enum(['schedule', 'manual']) });

/**
 * One notification to the operator's webhook: ids, the problem's kind and a short summary (customer names at
 * most, as run records hold them), never a secret. The body is signed when it is sent.
 */
export const NotifyJobData = z.object({
  id: z.string().min(1).max(300),
  accountId: z.string().min(1),
  linkId: z.string().min(1),
  runId: z.string().min(1),
  runStatus: z.string().min(1).max(50),
  kind: z.enum(['failed', 'needs-review', 'unmapped', 'quarantined', 'changed-after-posting']),
  summary: z.string().max(500),
  occurredAt: z.string().min(1),
});
export type NotifyJobData = z.infer<typeof NotifyJobData>;

/** The typed job catalog: name → payload schema → queue options (retries with exponential backoff and jitter). */
export const jobCatalog = {
  sync: {
    schema: SyncJobData,
    options: (retry: RetryPolicy): JobsOptions => ({
      attempts: retry.attempts,
      backoff: { type: 'exponential', delay: retry.backoffMs, jitter: 0.5 },
      removeOnComplete: {
        age: Math.min(7 * 24 * 3600, retry.keepJobsSeconds ?? 30 * 24 * 3600),
        count: 1000,
      },
      // Failed runs stay for inspection (bounded so a broken link cannot fill Redis).
      removeOnFail: { age: retry.keepJobsSeconds ?? 30 * 24 * 3600, count: 5000 },
    }),
  },
  unlink: {
    schema: UnlinkJobData,
    // Every step is idempotent, so retrying is always safe; the finished job is kept so that adding the same
    // jobId again (a second revocation path, a worker's recovery pass) does not unlink twice.
    options: (): JobsOptions => ({
      attempts: 12,
      backoff: { type: 'exponential', delay: 1000, jitter: 0.5 },
      removeOnComplete: { age: 30 * 24 * 3600 },
      removeOnFail: false,
    }),
  },
  notify: {
    schema: NotifyJobData,
    // The receiver may be down for a while: retried with the sync backoff, kept when it finally fails.
    options: (retry: Pick<RetryPolicy, 'backoffMs'>): JobsOptions => ({
      attempts: 10,
      backoff: { type: 'exponential', delay: retry.backoffMs, jitter: 0.5 },
      removeOnComplete: { count: 1000 },
      removeOnFail: { count: 1000 },
    }),
  },
  retention: {
    schema: RetentionJobData,
    options: (): JobsOptions => ({
      attempts: 1,
      removeOnComplete: { count: 24 },
      removeOnFail: { count: 100 },
    }),
  },
} as const;

export type JobName = keyof typeof jobCatalog;

export function parseJob<N extends JobName>(
  name: N,
  data: unknown,
): z.infer<(typeof jobCatalog)[N]['schema']> {
  const schema: z.ZodType = jobCatalog[name].schema;
  const parsed = schema.safeParse(data);
  if (!parsed.success) {
    throw new Error(
      `invalid ${name} job data: ${parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`,
    );
  }
  return parsed.data as z.infer<(typeof jobCatalog)[N]['schema']>;
}
