import type { Command } from 'commander';
import { ApiError, UsageError } from './api-client.ts';
import { type RemoteContext, remoteAction } from './remote-context.ts';
import { progressBar, record, table } from './table.ts';

type Counts = Record<string, number>;
interface RunView {
  id: string;
  status: string;
  dryRun: boolean;
  trigger: string;
  startedAt: string;
  finishedAt: string | null;
  planned: Counts;
  applied: Counts;
  errors: unknown[];
  unmapped: unknown[];
  recon: unknown[];
  /** Not in the API today: drawn when a future version of the run answer carries the job's progress. */
  progress?: { done: number; total: number };
}

/** Still on its way; any other status ends a wait (a run held for review included). */
const PENDING = new Set(['queued', 'running', 'deferred']);
const finished = (status: string | undefined) => status !== undefined && !PENDING.has(status);
const sum = (c: Counts | undefined) => Object.values(c ?? {}).reduce((n, v) => n + v, 0);
const counts = (c: Counts | undefined) =>
  Object.entries(c ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(' ') || '-';

/** 0 when the run succeeded; 1 otherwise (failed, partial, cancelled, or held for review: nothing applied yet). */
export const exitCodeOf = (run: { status: string }) => (run.status === 'succeeded' ? 0 : 1);

export function runSummary(run: RunView): string {
  return [
    `run ${run.id}: ${run.status}${run.dryRun ? ' (dry run: nothing written)' : ''}`,
    `planned: ${counts(run.planned)}`,
    `applied: ${counts(run.applied)}`,
    `errors: ${run.errors.length}  unmapped: ${run.unmapped.length}  reconciled: ${run.recon.length}`,
    '',
  ].join('\n');
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Polls the run until it finishes. GET …/syncs/:id answers the run record, not the queue job, so the
 * worker's `{done,total}` progress is not visible: the bar shows the run's status changes, and draws
 * operations done/planned only if the answer carries `progress`. A 404 means not started yet (queued).
 */
async function waitForRun(
  c: RemoteContext,
  path: string,
  timeoutMs: number,
  pollMs: number,
): Promise<RunView> {
  const deadline = Date.now() + timeoutMs;
  const tty = process.stderr.isTTY === true;
  let last = '';
  for (;;) {
    const run = await c.client.request<RunView>('GET', path).catch((error) => {
      if (error instanceof ApiError && error.status === 404) return undefined;
      throw error;
    });
    const status = run?.status ?? 'queued';
    const p = run?.progress;
    const planned = sum(run?.planned);
    const line = p
      ? `${progressBar(p.done, p.total)} ${status}`
      : planned > 0
        ? `${progressBar(sum(run?.applied), planned)} ${status}`
        : `run ${status}`;
    if (!c.json && line !== last) {
      process.stderr.write(tty ? `\r${line}` : `${line}\n`);
      last = line;
    }
    if (run && finished(run.status)) {
      if (!c.json && tty) process.stderr.write('\n');
      return run;
    }
    if (Date.now() > deadline)
      throw new ApiError(0, 'wait_timeout', `run still ${status} after ${timeoutMs / 1000}s`);
    await sleep(pollMs);
  }
}

/** Checked before anything is queued: a bad flag must not start a run. */
function timeoutMs(seconds: string): number {
  const n = Number(seconds);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError('--timeout must be a positive number');
  return n * 1000;
}

type Queued = { runId?: string; id?: string; state?: string; status?: string };

/** After a POST that queues a run: 200 is a finished run already, 202 a queued job to follow with --wait. */
async function follow(
  c: RemoteContext,
  syncsPath: string,
  queued: Queued,
  o: { wait?: boolean; timeoutMs: number },
): Promise<number> {
  if (finished(queued.status)) {
    c.show(queued, (v: RunView) => runSummary(v));
    return exitCodeOf(queued as RunView);
  }
  const runId = queued.runId ?? queued.id!;
  if (!o.wait) {
    c.show(queued, () => `queued run ${runId}\n`);
    return 0;
  }
  const run = await waitForRun(c, `${syncsPath}/${encodeURIComponent(runId)}`, o.timeoutMs, 300);
  c.show(run, (v: RunView) => runSummary(v));
  return exitCodeOf(run);
}

/** `remote sync`, `remote runs list|show|approve`. */
export function registerRemoteSync(remote: Command): void {
  const syncs = (c: RemoteContext, linkId: string) =>
    c.client.account(`/links/${encodeURIComponent(linkId)}/syncs`);
  remote
    .command('sync <linkId>')
    .description('sync a link now; --wait follows the run and exits 0 succeeded, 1 failed or partial')
    .option('--dry-run', 'plan only: write nothing to the target')
    .option('--wait', 'follow the run to its end and print its summary')
    .option('--timeout <seconds>', 'give up waiting after this long', '600')
    .action(
      remoteAction(async (c, linkId: string, o: { dryRun?: boolean; wait?: boolean; timeout: string }) => {
        const wait = { wait: o.wait, timeoutMs: timeoutMs(o.timeout) };
        const queued = await c.client.request<Queued>('POST', syncs(c, linkId), {
          dryRun: o.dryRun === true,
        });
        return follow(c, syncs(c, linkId), queued, wait);
      }),
    );

  const runs = remote.command('runs').description('a link’s sync runs');
  runs
    .command('list <linkId>')
    .description('the link’s runs, newest first')
    .action(
      remoteAction(async (c, linkId: string) => {
        c.show(await c.client.request('GET', syncs(c, linkId)), (v: { items: RunView[] }) =>
          table(
            v.items.map((r) => ({
              ...r,
              planned: sum(r.planned),
              applied: sum(r.applied),
              errors: r.errors.length,
            })),
            ['id', 'status', 'dryRun', 'trigger', 'startedAt', 'planned', 'applied', 'errors'],
          ),
        );
        return 0;
      }),
    );
  runs
    .command('show <linkId> <runId>')
    .description('one run, with its reconciliation')
    .action(
      remoteAction(async (c, linkId: string, runId: string) => {
        c.show(
          await c.client.request('GET', `${syncs(c, linkId)}/${encodeURIComponent(runId)}`),
          (v: RunView) => {
            const recon = v.recon as Record<string, unknown>[];
            const columns = [...new Set(recon.flatMap((r) => Object.keys(r)))].slice(0, 8);
            return `${runSummary(v)}${record({ startedAt: v.startedAt, finishedAt: v.finishedAt, errors: v.errors })}\nreconciliation:\n${table(recon, columns)}`;
          },
        );
        return 0;
      }),
    );
  runs
    .command('approve <linkId> <runId>')
    .description(
      'approve a run awaiting approval (review mode): apply its plan, or re-plan if things changed',
    )
    .option('--wait', 'follow the run to its end and print its summary')
    .option('--timeout <seconds>', 'give up waiting after this long', '600')
    .action(
      remoteAction(async (c, linkId: string, runId: string, o: { wait?: boolean; timeout: string }) => {
        const wait = { wait: o.wait, timeoutMs: timeoutMs(o.timeout) };
        const path = c.client.account(
          `/links/${encodeURIComponent(linkId)}/runs/${encodeURIComponent(runId)}/approve`,
        );
        return follow(c, syncs(c, linkId), await c.client.request<Queued>('POST', path), wait);
      }),
    );
}
