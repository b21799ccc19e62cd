import type { JobsOptions } from 'bullmq';
import { z } from 'zod';

/** Job data never holds a secret: only ids and the epoch the work was planned under. */
export const SyncJobData = z.object({
  accountId: z.string().min(1),
  linkId: z.string().min(1),
  epoch: z.number().int().positive(),
  dryRun: z.boolean().default(false),
  trigger: z.enum(['schedule', 'manual']),
});
export type SyncJobData = z.infer<typeof SyncJobData>;

export interface RetryPolicy {
  attempts: number;
  backoffMs: number;
}

/** The typed job catalog: name → payload schema → queue options (retries with exponential backoff and jitter). */
export const jobCatalog = {
  sync: {
    schema: SyncJobData,
    options: (retry: RetryPolicy): JobsOptions => ({
      attempts: retry.attempts,
      backoff: { type: 'exponential', delay: retry.backoffMs, jitter: 0.5 },
      removeOnComplete: { age: 7 * 24 * 3600, count: 1000 },
      // Failed runs stay for inspection (bounded so a broken link cannot fill Redis).
      removeOnFail: { age: 30 * 24 * 3600, count: 5000 },
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
