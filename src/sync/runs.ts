import type { Notice, PlanOp, ReconLine, TargetBudget, UsageReconLine } from '../../connectors/types.ts';
import type { Quarantined } from '../domain/types.ts';
import { notFound } from '../errors.ts';
import type { StoreContext } from '../store/context.ts';

/** `deferred`: the target's request budget ran out; the same run resumes later (not a failure). */
export type RunStatus = 'running' | 'succeeded' | 'partial' | 'failed' | 'cancelled' | 'deferred';

export interface RunError {
  opKey?: string;
  kind: string;
  message: string;
}

/** One execution of a sync for a link: what was planned, what was done, what it cost. */
export interface RunRecord {
  id: string;
  accountId: string;
  linkId: string;
  trigger: 'schedule' | 'manual';
  dryRun: boolean;
  status: RunStatus;
  attempt: number;
  startedAt: string;
  finishedAt: string | null;
  durationMs: number | null;
  planned: Record<string, number>;
  applied: Record<string, number>;
  apiCalls: { total: number; byHost: Record<string, number> };
  /** The target's shared request budget (Autotask's hourly threshold) at the start and end of the run. */
  targetBudget?: TargetBudget;
  errors: RunError[];
  quarantined: Quarantined[];
  unmapped: { customerId: string; name: string; reason: string }[];
  recon: ReconLine[];
  /** Usage months per customer: SpinPanel's total against what the target holds, and what was done. */
  usage?: UsageReconLine[];
  /** What the run noticed without failing, e.g. usage that changed after it was posted. */
  notices?: Notice[];
  /** The plan itself, kept for dry runs so they can be read back. */
  plan?: Pick<PlanOp, 'key' | 'kind' | 'customerId' | 'summary'>[];
}

/** Run records expire on their own; the default keeps 90 days of history. */
export const RUN_RETENTION_SECONDS = 90 * 24 * 3600;

export async function saveRun(ctx: StoreContext, run: RunRecord): Promise<void> {
  await ctx.redis
    .multi()
    .set(ctx.keys.run(run.accountId, run.id), JSON.stringify(run), 'EX', RUN_RETENTION_SECONDS)
    .zadd(ctx.keys.runs(run.accountId, run.linkId), Date.parse(run.startedAt), run.id)
    .zremrangebyscore(ctx.keys.runs(run.accountId, run.linkId), 0, Date.now() - RUN_RETENTION_SECONDS * 1000)
    .exec();
}

export async function getRun(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
  runId: string,
): Promise<RunRecord> {
  const raw = await ctx.redis.get(ctx.keys.run(accountId, runId));
  const run = raw ? (JSON.parse(raw) as RunRecord) : null;
  if (!run || run.linkId !== linkId) throw notFound(`run ${runId}`);
  return run;
}

export async function listRuns(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
  limit = 50,
): Promise<RunRecord[]> {
  const ids = await ctx.redis.zrevrange(ctx.keys.runs(accountId, linkId), 0, limit - 1);
  if (ids.length === 0) return [];
  const raws = await ctx.redis.mget(ids.map((id) => ctx.keys.run(accountId, id)));
  return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as RunRecord);
}
