import { type Connector, type DesiredState, isBudgetExhausted } from '../../connectors/types.ts';
import { isTimeZone, localDay } from '../billing/dates.ts';
import { buildDesired, desiredOptions } from '../billing/desired.ts';
import type { IdOrRef } from '../billing/types.ts';
import { type Gate, GateClosedError, RequestCounter } from '../consent/gate.ts';
import type { Quarantined } from '../domain/types.ts';
import { readLedger, recordOp, writeLedger } from '../links/ledger.ts';
import { getLink, getMapping, type Link, type LinkSecrets, readSecrets } from '../links/links.ts';
import type { Metrics } from '../metrics.ts';
import { isCancellation } from '../net/http.ts';
import { pullForLink, withoutExcluded } from '../privacy/minimise.ts';
import { SpinPanelClient } from '../spinpanel/client.ts';
import { addUsage, closedUsagePeriods } from '../spinpanel/snapshot.ts';
import type { StoreContext } from '../store/context.ts';
import { applyOps } from './apply.ts';
import { approvalChanges, fingerprint, snapshotFingerprint } from './approval.ts';
import { permanentRunFailure } from './failure.ts';
import { settleRecon } from './recon.ts';
import { getRun, type RunRecord, saveRun } from './runs.ts';

export interface EngineDeps {
  store: StoreContext;
  gate: Gate;
  spinpanelUrl: string;
  httpTimeoutMs: number;
  /** Runs of a link kept with every reconciliation line (RUN_FULL_DETAIL_RUNS). @defaultValue 10 */
  fullDetailRuns?: number;
  /** The clock (tests move it across a month boundary). @defaultValue Date.now */
  now?: () => number;
  /** Operations of a run applied at once (the connector's limits still cap each endpoint). @defaultValue 1 */
  applyConcurrency?: number;
  /** Where runs, operations and the target's budget are counted. */
  metrics?: Metrics;
  /** Told of every run once it is recorded (problem notifications); must not throw. */
  onRunFinished?: (run: RunRecord) => Promise<void>;
  makeConnector: (
    link: Link,
    secrets: LinkSecrets,
    http: ReturnType<Gate['client']>,
    signal: AbortSignal | undefined,
  ) => Connector;
}

export interface RunRequest {
  runId: string;
  accountId: string;
  linkId: string;
  epoch: number;
  dryRun: boolean;
  trigger: 'schedule' | 'manual';
  attempt?: number;
  /** A run awaiting approval whose plan an admin approved: applied if SpinPanel and the target are unchanged. */
  approvedRunId?: string;
}

export class RunCancelledError extends Error {
  override name = 'RunCancelledError';
}

/** An op's failure that proves nothing reached the target: its refusal, a throttle, a closed gate, a spent budget. */
function certainlyNotSent(connector: Connector, error: unknown): boolean {
  if (error instanceof GateClosedError || isBudgetExhausted(error)) return true;
  const kind = connector.classify(error).kind;
  return kind === 'permanent' || kind === 'throttled' || kind === 'budget';
}

/** The run's local day and time zone: the link's setting, else the SpinPanel account's, else UTC. */
export function runClock(
  settings: Record<string, unknown>,
  accountZone: string | undefined,
  now: number,
): { today: string; timeZone: string } {
  const set = typeof settings.timeZone === 'string' ? settings.timeZone : undefined;
  const timeZone =
    [set, accountZone].find((z): z is string => Boolean(z) && isTimeZone(z as string)) ?? 'UTC';
  return { today: localDay(timeZone, now), timeZone };
}
const bump = (counts: Record<string, number>, kind: string) => {
  counts[kind] = (counts[kind] ?? 0) + 1;
};

/**
 * One sync of one link: snapshot → desired → target state → plan → apply, recorded as a run. Every request goes
 * through the gate under the epoch the run was started with, so a revocation stops it at the next request.
 * Permanent failures of single operations are recorded and the rest of the plan goes on; anything else ends the
 * run with an error so the queue can retry it (writes are idempotent, so a retry converges).
 */
export async function runSync(
  deps: EngineDeps,
  req: RunRequest,
  opts: { signal?: AbortSignal; onProgress?: (done: number, total: number) => Promise<void> | void } = {},
): Promise<RunRecord> {
  const started = Date.now();
  const counter = new RequestCounter();
  const run: RunRecord = {
    id: req.runId,
    accountId: req.accountId,
    linkId: req.linkId,
    trigger: req.trigger,
    dryRun: req.dryRun,
    status: 'running',
    attempt: req.attempt ?? 1,
    startedAt: new Date(started).toISOString(),
    finishedAt: null,
    durationMs: null,
    planned: {},
    applied: {},
    apiCalls: counter,
    errors: [],
    quarantined: [],
    unmapped: [],
    recon: [],
    ...(req.approvedRunId ? { approvedRunId: req.approvedRunId } : {}),
  };
  let connector: Connector | undefined;
  let target = 'unknown';
  const finish = async (status: RunRecord['status']) => {
    // A run that ended normally looks at the budget once more; a stopped one (the gate may be closed, the
    // budget spent) sends nothing further.
    const fresh = status === 'succeeded' || status === 'partial';
    const budget = await connector?.budget?.({ fresh }).catch(() => undefined);
    if (budget) run.targetBudget = budget;
    run.status = status;
    run.finishedAt = new Date().toISOString();
    run.durationMs = Date.now() - started;
    run.apiCalls = { total: counter.total, byHost: { ...counter.byHost } };
    await saveRun(deps.store, run, { fullDetailRuns: deps.fullDetailRuns });
    countRun(deps.metrics, run, target);
    await deps.onRunFinished?.(run);
    return run;
  };

  try {
    await saveRun(deps.store, run, { fullDetailRuns: deps.fullDetailRuns });
    const ref = { accountId: req.accountId, linkId: req.linkId, epoch: req.epoch };
    await deps.gate.assertOpen(ref);
    const link = await getLink(deps.store, req.accountId, req.linkId);
    target = link.target;
    const secrets = await readSecrets(deps.store, req.accountId, req.linkId);
    const base = { timeoutMs: deps.httpTimeoutMs, signal: opts.signal, counter };
    const spinpanel = new SpinPanelClient(
      deps.gate.client(ref, {
        ...base,
        baseURL: deps.spinpanelUrl,
        headers: { Authorization: `Bearer ${secrets.spinpanelApiKey}` },
      }),
      // A cancelled run must not sit out a SpinPanel throttle wait before it stops.
      { signal: opts.signal },
    );
    connector = deps.makeConnector(link, secrets, deps.gate.client(ref, base), opts.signal);

    // Reads /account first: a key that now belongs to another account ends the run (permanent) before any other read.
    const pulled = await pullForLink(deps.store, link, spinpanel);
    const scope = pulled.scope;
    // "Today", month ends and usage finality are the partner's local ones.
    const clock = runClock(link.settings, pulled.snapshot.account.timeZone, deps.now?.() ?? Date.now());
    run.day = clock.today;
    run.timeZone = clock.timeZone;
    // Closed months of Azure usage, only for links that post usage (and only for the customers pulled).
    const usagePeriods = closedUsagePeriods(clock.today, connector.usageMonths ?? 0);
    const snapshot = await addUsage(spinpanel, pulled.snapshot, usagePeriods);
    run.quarantined = snapshot.quarantined;
    const desired = holdQuarantined(
      buildDesired(snapshot, desiredOptions(link.settings, clock)),
      snapshot.quarantined,
    );
    const [mapping, ledger] = await Promise.all([
      getMapping(deps.store, req.accountId, req.linkId),
      readLedger(deps.store, req.accountId, req.linkId),
    ]);
    const state = await connector.readState(desired, mapping, ledger);
    const planned = connector.plan(desired, state, mapping, ledger);
    const plan = withoutExcluded(planned, scope.excluded);
    run.unmapped = plan.unmapped;
    run.recon = plan.recon;
    // Opted-out customers were never pulled, so the plan's usage and notices are already theirs-free.
    if (planned.usage) run.usage = planned.usage;
    if (planned.notices) run.notices = planned.notices;
    for (const op of plan.ops) bump(run.planned, op.kind);

    const keepPlan = () => {
      run.plan = plan.ops.map(({ key, kind, customerId, summary }) => ({ key, kind, customerId, summary }));
    };
    // Review mode: only an approved plan is applied; "sync now" without an approval is a dry run.
    const review = link.settings.approval === 'review' && !req.dryRun;
    if (review && !req.approvedRunId && req.trigger === 'manual') run.dryRun = true;
    if (req.dryRun || run.dryRun) {
      keepPlan();
      return await finish('succeeded');
    }
    if (review) {
      const print = {
        targetFingerprint: fingerprint(state),
        snapshotFingerprint: snapshotFingerprint(snapshot),
        opKeys: plan.ops.map((op) => op.key),
      };
      const approved = req.approvedRunId
        ? await getRun(deps.store, req.accountId, req.linkId, req.approvedRunId)
        : undefined;
      const changed = approved ? approvalChanges(approved, print) : undefined;
      // A plan with nothing to write has nothing to review.
      const waits = approved ? (changed?.length ?? 0) > 0 : plan.ops.length > 0;
      if (waits) {
        keepPlan();
        run.targetFingerprint = print.targetFingerprint;
        run.snapshotFingerprint = print.snapshotFingerprint;
        if (changed) run.changedSinceApproval = changed;
        return await finish('awaiting-approval');
      }
    }
    // Independent ops overlap up to `concurrency`; needs, lanes and the error/skip rules are in applyOps.
    // Every op that went through is in the ledger at once, so a run stopped half-way still proves what it did.
    const ledgered: Connector = {
      ...connector,
      apply: async (op, results) => {
        // A quantity change is in the ledger before it is sent: if its answer is lost and the target's rows do
        // not show it yet, the next run still sees that the line was changed that day and does not send it again.
        const intent = (op.ledger ?? []).filter((e) => e.kind === 'adjustment');
        await writeLedger(deps.store, req.accountId, req.linkId, [...(op.intent ?? []), ...intent], results);
        let result: unknown;
        try {
          result = await connector!.apply(op, results);
          deps.metrics?.operations.inc({ kind: op.kind, outcome: 'applied' });
        } catch (error) {
          deps.metrics?.operations.inc({ kind: op.kind, outcome: 'failed' });
          // Refused, throttled or deferred before it was sent: certainly not made, so not noted either (a
          // deferred run resuming the same day must not find its own unsent change "already made today").
          if (intent.length > 0 && certainlyNotSent(connector!, error)) {
            const forget = intent.map((e) => ({
              kind: 'forget-adjustment' as const,
              lineId: (e as { lineId: IdOrRef }).lineId,
            }));
            await writeLedger(deps.store, req.accountId, req.linkId, forget, results);
          }
          throw error;
        }
        await recordOp(deps.store, req.accountId, req.linkId, op, result, results);
        if ((result as { pending?: unknown } | null)?.pending === true) {
          // The target already held a change of the line that day (one per line and day): not an error.
          run.notices = [
            ...(run.notices ?? []),
            {
              ...(op.customerId ? { customerId: op.customerId } : {}),
              kind: 'pending',
              message: `${op.summary}: the target already holds a change of this line that day; the difference is posted by the next day's first run`,
            },
          ];
        }
        return result;
      },
    };
    try {
      await applyOps(ledgered, plan.ops, run, { ...opts, concurrency: deps.applyConcurrency });
    } finally {
      // Matches and observations hold whatever the ops' outcomes.
      await writeLedger(deps.store, req.accountId, req.linkId, plan.ledger ?? [], new Map());
    }
    Object.assign(run, settleRecon(run.recon, run.usage, run.errors));
    return await finish(run.errors.length > 0 ? 'partial' : 'succeeded');
  } catch (error) {
    if (isBudgetExhausted(error)) {
      // Not a failure: the worker re-queues the job for `retryAt` and the next run picks up from the target.
      run.errors.push({ kind: 'deferred', message: messageOf(error) });
      await finish('deferred').catch(() => {});
      throw error;
    }
    // Decided before any classifier looks at the error: BullMQ aborts with a plain string reason.
    const cancelled = error instanceof GateClosedError || isCancellation(error) || opts.signal?.aborted;
    run.errors.push({ kind: cancelled ? 'cancelled' : 'run', message: messageOf(error) });
    await finish(cancelled ? 'cancelled' : 'failed').catch(() => {});
    if (cancelled && !(error instanceof GateClosedError)) {
      throw new RunCancelledError(`run ${req.runId} was cancelled: ${messageOf(error)}`, { cause: error });
    }
    // A rejected key or an unreadable answer fails every attempt alike: the job ends now, in their words.
    throw (cancelled ? undefined : permanentRunFailure(error, connector)) ?? error;
  }
}

/**
 * A customer with a quarantined subscription is not planned this run: its valid lines alone would under-count a
 * product whose other subscription is malformed, and retiring what "vanished" would cancel seats still billed.
 * Left out of the desired state, it also keeps the connector off a contract it shares with other customers (a
 * contract mapped to a customer the plan does not cover is left alone). A bad usage line holds back only that
 * customer's usage (buildDesired leaves it out), not its seats.
 */
export function holdQuarantined(desired: DesiredState, quarantined: Quarantined[]): DesiredState {
  const held = new Set(
    quarantined
      .filter((q) => q.kind !== 'usage')
      .map((q) => q.customerId)
      .filter((id): id is string => Boolean(id)),
  );
  if (held.size === 0) return desired;
  return { ...desired, customers: desired.customers.filter((c) => !held.has(c.customerId)) };
}

function countRun(metrics: Metrics | undefined, run: RunRecord, target: string): void {
  if (!metrics) return;
  metrics.runs.inc({ outcome: run.status, target, dry_run: String(run.dryRun) });
  const budget = run.targetBudget;
  const used = budget?.usedAtEnd ?? budget?.usedAtStart;
  if (budget && typeof used === 'number') {
    metrics.budgetUsed.set({ target, link_id: run.linkId }, used);
    metrics.budgetThreshold.set({ target, link_id: run.linkId }, budget.threshold);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
