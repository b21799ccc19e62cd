import {
  type ApplyResults,
  BudgetExhaustedError,
  type Connector,
  isBudgetExhausted,
  type PlanOp,
} from '../../connectors/types.ts';
import { GateClosedError } from '../consent/gate.ts';
import { isCancellation } from '../net/http.ts';
import type { RunError } from './runs.ts';

export interface ApplyOptions {
  signal?: AbortSignal;
  onProgress?: (done: number, total: number) => Promise<void> | void;
  /**
   * Operations in flight at once. The connector's own limits (e.g. Autotask's 3 threads per endpoint) still
   * cap each endpoint; this only lets independent operations overlap. @defaultValue 1
   */
  concurrency?: number;
}

/** Where the outcome goes: the run record's counters and error list. */
export interface ApplySink {
  applied: Record<string, number>;
  errors: RunError[];
}

/**
 * Ends the run at once, decided before the connector classifies anything: a closed gate, a spent budget, or a
 * cancelled run. Cancellation is the signal's word, not the error's shape: BullMQ aborts with a plain string
 * reason, which `throwIfAborted` and abortable waits throw as is, and a connector would call that permanent.
 */
const stopsTheRun = (e: unknown, signal: AbortSignal | undefined) =>
  e instanceof GateClosedError || isCancellation(e) || isBudgetExhausted(e) || signal?.aborted === true;

const laneOf = (op: PlanOp) => op.lane ?? (op.customerId ? `customer:${op.customerId}` : `op:${op.key}`);

/**
 * Applies a plan. An operation starts once every op it `needs` is done and every earlier op of its lane has
 * finished; up to `concurrency` run at once. An op whose need failed is skipped. Each op is applied once: its
 * requests were already retried by the connector's client, so a failure here is what it means for the plan
 * (`failureOf`). A permanent one is recorded and the rest goes on; anything else ends the run — after the ops
 * in flight have settled, so their effects are recorded — for the queue to retry or resume it (apply is
 * idempotent: it re-reads or looks up before writing).
 */
export async function applyOps(
  connector: Connector,
  ops: PlanOp[],
  sink: ApplySink,
  opts: ApplyOptions = {},
): Promise<ApplyResults> {
  const results: ApplyResults = new Map();
  const failed = new Set<string>();
  const finished = new Set<string>();
  const inPlan = new Set(ops.map((o) => o.key));
  const busyLanes = new Set<string>();
  const pending = [...ops];
  const running = new Set<Promise<void>>();
  const limit = Math.max(1, opts.concurrency ?? 1);
  let stop: { error: unknown } | undefined;
  let done = 0;

  const progress = async () => {
    done++;
    try {
      await opts.onProgress?.(done, ops.length);
    } catch (error) {
      stop ??= { error };
    }
  };

  /** The next op that may start, skipping (and recording) ops whose needs failed. */
  const next = async (): Promise<PlanOp | undefined> => {
    const lanesAhead = new Set(busyLanes);
    for (let i = 0; i < pending.length; i++) {
      const op = pending[i]!;
      const lane = laneOf(op);
      if (lanesAhead.has(lane)) continue;
      const blockedBy = op.needs?.find((k) => failed.has(k));
      if (blockedBy) {
        pending.splice(i--, 1);
        failed.add(op.key);
        finished.add(op.key);
        sink.errors.push({ opKey: op.key, kind: 'skipped', message: `skipped: ${blockedBy} failed` });
        await progress();
        continue;
      }
      // Later ops of this lane wait for this one, whether or not it can start now.
      lanesAhead.add(lane);
      if ((op.needs ?? []).every((k) => !inPlan.has(k) || finished.has(k))) return op;
    }
    return undefined;
  };

  const start = (op: PlanOp) => {
    pending.splice(pending.indexOf(op), 1);
    const lane = laneOf(op);
    busyLanes.add(lane);
    const task = (async () => {
      try {
        results.set(op.key, await connector.apply(op, results));
        sink.applied[op.kind] = (sink.applied[op.kind] ?? 0) + 1;
      } catch (error) {
        failed.add(op.key);
        const outcome = stopsTheRun(error, opts.signal) ? { stop: error } : failureOf(connector, error);
        if ('record' in outcome) sink.errors.push({ opKey: op.key, kind: op.kind, message: outcome.record });
        else stop ??= { error: outcome.stop };
      } finally {
        busyLanes.delete(lane);
        finished.add(op.key);
      }
      await progress();
    })();
    running.add(task);
    void task.finally(() => running.delete(task));
  };

  while (!stop) {
    if (opts.signal?.aborted) {
      stop = { error: opts.signal.reason ?? new Error('the run was cancelled') };
      break;
    }
    while (running.size < limit && !stop) {
      const op = await next();
      if (!op) break;
      start(op);
    }
    if (running.size === 0) {
      if (pending.length === 0 || stop) break;
      // Nothing can start and nothing runs: a need points at a later op. Run the first in order; it fails
      // on its own terms rather than hanging the run.
      start(pending[0]!);
    }
    await Promise.race(running);
  }
  await Promise.allSettled([...running]);
  if (stop) throw stop.error;
  return results;
}

/** How long a run that stays throttled waits before it resumes, at least. */
export const THROTTLE_DEFER_MS = 60_000;

/**
 * What an op's failure means for the plan, asked once the client has retried and waited all it will:
 * permanent → recorded against the op, the plan goes on; still throttled → the run is deferred (the queue
 * delays it without spending an attempt); transient, cancelled or budget → the run ends with it, and a
 * transient failure fails the run so the queue retries the whole run.
 */
function failureOf(connector: Connector, error: unknown): { record: string } | { stop: unknown } {
  const verdict = connector.classify(error);
  switch (verdict.kind) {
    case 'permanent':
      return { record: verdict.message };
    case 'throttled':
      return {
        stop: new BudgetExhaustedError(
          `still throttled after the client's waits: ${verdict.message}`,
          Date.now() + Math.max(verdict.waitMs ?? 0, THROTTLE_DEFER_MS),
          { cause: error },
        ),
      };
    case 'transient':
    case 'cancelled':
    case 'budget':
      return { stop: error };
  }
}
