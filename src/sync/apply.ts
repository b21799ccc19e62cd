import { setTimeout as delay } from 'node:timers/promises';
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
  /** Tries of one operation on transient or throttled failures. @defaultValue 3 */
  opAttempts?: number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
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
 * finished; up to `concurrency` run at once. An op whose need failed is skipped. A permanent failure is
 * recorded and the rest goes on; a transient or throttled one is retried (apply is idempotent: it re-reads or
 * looks up before writing), and when it persists the run ends with it — after the ops in flight have settled,
 * so their effects are recorded — for the queue to retry the run.
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
        results.set(op.key, await applyWithRetry(connector, op, results, opts));
        sink.applied[op.kind] = (sink.applied[op.kind] ?? 0) + 1;
      } catch (error) {
        failed.add(op.key);
        const verdict = stopsTheRun(error, opts.signal) ? undefined : connector.classify(error);
        if (verdict?.kind === 'permanent')
          sink.errors.push({ opKey: op.key, kind: op.kind, message: verdict.message });
        else stop ??= { error };
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

async function applyWithRetry(
  connector: Connector,
  op: PlanOp,
  results: ApplyResults,
  opts: ApplyOptions,
): Promise<unknown> {
  const attempts = Math.max(1, opts.opAttempts ?? 3);
  const sleep = opts.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
  for (let attempt = 1; ; attempt++) {
    try {
      return await connector.apply(op, results);
    } catch (error) {
      if (stopsTheRun(error, opts.signal)) throw error;
      const verdict = connector.classify(error);
      if (verdict.kind === 'permanent') throw error;
      if (attempt >= attempts) {
        // Still throttled after the client's waits and ours: the target wants a longer pause. The run is deferred
        // (the queue delays it without spending an attempt) rather than failed into a retry.
        if (verdict.kind === 'throttled') {
          const retryAt = Date.now() + Math.max(verdict.waitMs ?? 0, THROTTLE_DEFER_MS);
          throw new BudgetExhaustedError(
            `still throttled after ${attempts} tries: ${verdict.message}`,
            retryAt,
            {
              cause: error,
            },
          );
        }
        throw error;
      }
      const backoff = 250 * 2 ** (attempt - 1) * (0.5 + Math.random() / 2);
      await sleep(Math.min(verdict.waitMs ?? backoff, 30_000), opts.signal);
    }
  }
}
