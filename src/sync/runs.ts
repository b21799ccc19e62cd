import type {
  Notice,
  PlanOp,
  ReconLine,
  TargetBudget,
  Unmapped,
  UsageReconLine,
} from '../../connectors/types.ts';
import type { Quarantined } from '../domain/types.ts';
import { notFound } from '../errors.ts';
import type { StoreContext } from '../store/context.ts';
import { changedLines, countLines, type LineCounts } from './recon.ts';

/**
 * `deferred`: the target's request budget ran out; the same job resumes later (not a failure).
 * `awaiting-approval`: a link in `review` mode planned and wrote nothing; approving the run applies its plan.
 */
export type RunStatus =
  | 'running'
  | 'succeeded'
  | 'partial'
  | 'failed'
  | 'cancelled'
  | 'deferred'
  | 'awaiting-approval';

export interface RunError {
  opKey?: string;
  kind: string;
  message: string;
}

/**
 * One execution of a sync for a link: what was planned, what was done, what it cost. A queue job that runs more
 * than once (a retried attempt, a deferred run resuming) leaves one record per start, `<jobId>.<n>`, so what an
 * earlier start wrote stays on its own record; `jobId` links them.
 */
export interface RunRecord {
  id: string;
  /** The queue job this run is a start of; `getRun` with a job id answers the job's latest start. */
  jobId?: string;
  accountId: string;
  linkId: string;
  trigger: 'schedule' | 'manual';
  dryRun: boolean;
  status: RunStatus;
  /** The run's local day and the time zone it was taken in (the link's, else the SpinPanel account's). */
  day?: string;
  timeZone?: string;
  /** Queue attempts spent, this one included (a deferred run resuming does not spend one). */
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
  unmapped: Unmapped[];
  /**
   * `full`: `recon` and `usage` hold every line. `changes`: the run is older than the link's last
   * RUN_FULL_DETAIL_RUNS runs and they hold only the lines that changed or failed; `lineCounts` says how many
   * there were.
   */
  detail?: 'full' | 'changes';
  /** Counts of the reconciliation lines, kept whatever the detail (`unchanged` is what a trimmed record left out). */
  lineCounts?: { recon: LineCounts; usage?: LineCounts };
  recon: ReconLine[];
  /** Usage months per customer: SpinPanel's total against what the target holds, and what was done. */
  usage?: UsageReconLine[];
  /** What the run noticed without failing, e.g. usage that changed after it was posted. */
  notices?: Notice[];
  /** The plan itself, kept for dry runs and runs awaiting approval so they can be read back. */
  plan?: Pick<PlanOp, 'key' | 'kind' | 'customerId' | 'summary'>[];
  /** Review mode: sha256 of what the run read from the target and from SpinPanel, checked again on approval. */
  targetFingerprint?: string;
  snapshotFingerprint?: string;
  /** The run whose reviewed plan this run was started to apply. */
  approvedRunId?: string;
  /** Why an approved plan was not applied but planned again (SpinPanel, the target or the plan changed). */
  changedSinceApproval?: string[];
}

/** Run records expire on their own; the default keeps 90 days of history. */
export const RUN_RETENTION_SECONDS = 90 * 24 * 3600;

/** How far past the last N runs a save looks for records still to trim (e.g. after N was lowered). */
const TRIM_WINDOW = 50;
/** Every stored record starts with its detail, so a trimmed one is recognised from its first bytes. */
const TRIMMED_HEAD = '{"detail":"changes"';

/** A run id as stored: the characters of a job id a key and a URL take as they are, the rest `_`. */
const safeId = (id: string) => id.replace(/[^A-Za-z0-9._-]/g, '_');
/** `<jobId>.<n>` → `<jobId>`; an id without a start number (older records, tests) is its own job. */
const ATTEMPT_SUFFIX = /\.(\d+)$/;
export const jobIdOfRun = (runId: string) => runId.replace(ATTEMPT_SUFFIX, '');
const startOfRun = (runId: string) => Number(ATTEMPT_SUFFIX.exec(runId)?.[1] ?? 0);

/** Runs of a link kept with every reconciliation line when the config does not say (RUN_FULL_DETAIL_RUNS). */
export const DEFAULT_FULL_DETAIL_RUNS = 10;

/** Replaces a record only if it is still what was read: a write since then (the run's own, the sweeper's) wins. */
const REPLACE_IF_SAME = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0`;

function serialize(run: RunRecord): string {
  const { detail, ...rest } = run;
  return JSON.stringify({ detail: detail ?? 'full', ...rest });
}

/** The record as an older run keeps it: counts, and only the reconciliation lines that changed or failed. */
export function trimRun(run: RunRecord): RunRecord {
  if (run.detail === 'changes') return run;
  return {
    ...run,
    detail: 'changes',
    lineCounts: run.lineCounts ?? withCounts(run).lineCounts,
    recon: changedLines(run.recon ?? []),
    ...(run.usage ? { usage: changedLines(run.usage) } : {}),
  };
}

function withCounts(run: RunRecord): RunRecord {
  if (run.detail === 'changes') return { ...run, jobId: run.jobId ?? jobIdOfRun(run.id) };
  return {
    ...run,
    jobId: run.jobId ?? jobIdOfRun(run.id),
    detail: 'full',
    lineCounts: {
      recon: countLines(run.recon ?? []),
      ...(run.usage ? { usage: countLines(run.usage) } : {}),
    },
  };
}

/**
 * Saves a run's record (full detail) and trims the link's records older than its last `fullDetailRuns` runs to
 * their changed and failed lines. A start of a job that finds an earlier start of the same job still `running`
 * (its worker went away mid-run) closes that record as failed; its lines stay.
 */
export async function saveRun(
  ctx: StoreContext,
  run: RunRecord,
  opts: { fullDetailRuns?: number } = {},
): Promise<void> {
  const stored = withCounts(run);
  const runsKey = ctx.keys.runs(run.accountId, run.linkId);
  await ctx.redis
    .multi()
    .set(ctx.keys.run(run.accountId, run.id), serialize(stored), 'EX', RUN_RETENTION_SECONDS)
    .zadd(runsKey, Date.parse(run.startedAt), run.id)
    .zremrangebyscore(runsKey, 0, Date.now() - RUN_RETENTION_SECONDS * 1000)
    .exec();
  if (run.status === 'running') await closeAbandoned(ctx, stored);
  await trimOlder(ctx, run.accountId, run.linkId, opts.fullDetailRuns ?? DEFAULT_FULL_DETAIL_RUNS);
}

async function trimOlder(ctx: StoreContext, accountId: string, linkId: string, keep: number): Promise<void> {
  const { redis, keys } = ctx;
  const ids = await redis.zrevrange(keys.runs(accountId, linkId), keep, keep + TRIM_WINDOW - 1);
  if (ids.length === 0) return;
  const peek = redis.pipeline();
  for (const id of ids) peek.getrange(keys.run(accountId, id), 0, TRIMMED_HEAD.length - 1);
  const heads = (await peek.exec()) ?? [];
  for (const [i, id] of ids.entries()) {
    const head = heads[i]?.[1];
    if (!head || head === TRIMMED_HEAD) continue; // gone, or trimmed already
    const key = keys.run(accountId, id);
    const raw = await redis.get(key);
    if (!raw) continue;
    const trimmed = trimRun(JSON.parse(raw) as RunRecord);
    await redis.eval(REPLACE_IF_SAME, 1, key, raw, serialize(trimmed));
  }
}

async function closeAbandoned(ctx: StoreContext, run: RunRecord): Promise<void> {
  const n = startOfRun(run.id);
  if (n <= 1) return;
  const jobId = jobIdOfRun(run.id);
  const earlier = Array.from({ length: Math.min(n - 1, 100) }, (_, i) => `${jobId}.${n - 1 - i}`);
  const keys = earlier.map((id) => ctx.keys.run(run.accountId, id));
  const raws = await ctx.redis.mget(keys);
  for (const [i, raw] of raws.entries()) {
    if (!raw) continue;
    const old = JSON.parse(raw) as RunRecord;
    if (old.status !== 'running' || old.linkId !== run.linkId) continue;
    const closed: RunRecord = {
      ...old,
      status: 'failed',
      errors: [
        ...old.errors,
        {
          kind: 'abandoned',
          message: `stopped without finishing (its worker went away); ${run.id} started over`,
        },
      ],
    };
    await ctx.redis.eval(REPLACE_IF_SAME, 1, keys[i]!, raw, serialize(closed));
  }
}

/**
 * One run record. `runId` is a record's id (`<jobId>.<n>`) or a queue job's id, which answers the job's latest
 * start — what "sync now" hands out, so polling it follows the job through its retries.
 */
export async function getRun(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
  runId: string,
): Promise<RunRecord> {
  const raw = await ctx.redis.get(ctx.keys.run(accountId, runId));
  const run = raw ? (JSON.parse(raw) as RunRecord) : await latestOfJob(ctx, accountId, linkId, runId);
  if (!run || run.linkId !== linkId) throw notFound(`run ${runId}`);
  return run;
}

/** Ids of one job's starts in the link's index, newest start first. */
async function startsOfJob(ctx: StoreContext, accountId: string, linkId: string, jobId: string) {
  const base = safeId(jobId);
  const glob = `${base.replace(/[*?[\]\\]/g, '\\$&')}.[0-9]*`;
  const ids: string[] = [];
  let cursor = '0';
  do {
    const [next, found] = await ctx.redis.zscan(
      ctx.keys.runs(accountId, linkId),
      cursor,
      'MATCH',
      glob,
      'COUNT',
      1000,
    );
    cursor = next;
    for (let i = 0; i < found.length; i += 2) {
      const id = found[i]!;
      if (ATTEMPT_SUFFIX.test(id) && jobIdOfRun(id) === base) ids.push(id);
    }
  } while (cursor !== '0');
  return ids.sort((a, b) => startOfRun(b) - startOfRun(a));
}

/** The records of one queue job's starts (retried attempts, a deferred run resuming), newest start first. */
export async function runsOfJob(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
  jobId: string,
): Promise<RunRecord[]> {
  const ids = await startsOfJob(ctx, accountId, linkId, jobId);
  if (ids.length === 0) return [];
  const raws = await ctx.redis.mget(ids.map((id) => ctx.keys.run(accountId, id)));
  return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as RunRecord);
}

async function latestOfJob(ctx: StoreContext, accountId: string, linkId: string, jobId: string) {
  for (const id of await startsOfJob(ctx, accountId, linkId, jobId)) {
    const raw = await ctx.redis.get(ctx.keys.run(accountId, id));
    if (raw) return JSON.parse(raw) as RunRecord;
  }
  return null;
}

/** The link's runs, newest first: the last RUN_FULL_DETAIL_RUNS in full, older ones trimmed (see `detail`). */
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
