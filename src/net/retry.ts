import { setTimeout as delay } from 'node:timers/promises';
import pRetry from 'p-retry';
import type { Classified, FailureKind } from '../../connectors/types.ts';

export type Sleep = (ms: number, signal?: AbortSignal) => Promise<void>;

export interface RetryOptions {
  /** Decides how each failure is handled: the connector's (or SpinPanel's) one classifier. */
  classify: (error: unknown) => Classified;
  /** Tries on transient failures, the first included; 1 retries none. @defaultValue 4 */
  attempts?: number;
  /** Throttle waits one call may sit out; they do not count as attempts. @defaultValue 20 */
  maxThrottleWaits?: number;
  /** Cancels the call: a wait ends at once and no further try is sent. */
  signal?: AbortSignal;
  /** Injected so tests do not wait in real time. @defaultValue an abortable timer */
  sleep?: Sleep;
  random?: () => number;
  /** Told before each wait, e.g. to log it. */
  onRetry?: (info: { kind: FailureKind; waitMs: number; error: unknown }) => void;
}

/** 200 ms·2^n with jitter (half fixed, half random), capped at 5 s. */
export function backoffMs(n: number, random: () => number = Math.random): number {
  const base = Math.min(5000, 200 * 2 ** n);
  return Math.round(base / 2 + (random() * base) / 2);
}

/** Carries the caller's error through p-retry, which would otherwise judge some itself (TypeErrors, non-errors). */
class Failed extends Error {
  constructor(readonly raw: unknown) {
    super('attempt failed');
  }
}

/**
 * The one retry loop of the project (STYLE 12). Transient failures are retried with backoff up to `attempts`;
 * throttled ones wait `waitMs` (the target's Retry-After) or a backoff, without counting as attempts, up to
 * `maxThrottleWaits`; permanent, cancelled and budget failures — and any failure once `signal` is aborted —
 * end the call at once. What is thrown is always the caller's own last error (or the abort reason), unwrapped.
 */
export async function withRetry<T>(fn: (attempt: number) => Promise<T>, opts: RetryOptions): Promise<T> {
  const attempts = Math.max(1, opts.attempts ?? 4);
  const maxWaits = Math.max(0, opts.maxThrottleWaits ?? 20);
  const sleep: Sleep = opts.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }));
  const random = opts.random ?? Math.random;
  const { signal } = opts;
  let failures = 0;
  let waits = 0;
  let last: FailureKind = 'transient';
  try {
    return await pRetry(
      async (attempt) => {
        try {
          signal?.throwIfAborted();
          return await fn(attempt);
        } catch (raw) {
          throw new Failed(raw);
        }
      },
      {
        // The bounds are ours (throttle waits must not use up attempts), and so are the waits: p-retry's own
        // delay is a bare timer, ours is injectable and abortable.
        retries: Number.POSITIVE_INFINITY,
        minTimeout: 0,
        onFailedAttempt: async ({ error }) => {
          const raw = error instanceof Failed ? error.raw : error;
          if (signal?.aborted) throw raw;
          const verdict = opts.classify(raw);
          let waitMs: number;
          if (verdict.kind === 'transient') {
            failures++;
            if (failures >= attempts) throw raw;
            waitMs = verdict.waitMs ?? backoffMs(failures - 1, random);
          } else if (verdict.kind === 'throttled') {
            if (waits >= maxWaits) throw raw;
            waitMs = verdict.waitMs ?? backoffMs(waits, random);
            waits++;
          } else {
            throw raw;
          }
          last = verdict.kind;
          opts.onRetry?.({ kind: verdict.kind, waitMs, error: raw });
          await sleep(waitMs, signal);
        },
        shouldConsumeRetry: () => last === 'transient',
      },
    );
  } catch (error) {
    throw error instanceof Failed ? error.raw : error;
  }
}
