import type { LinkLimits } from './types.ts';

const HOUR = 3_600_000;

/**
 * The limits of one process: used when no shared (Redis) limits are given, e.g. to verify credentials. Same
 * contract as the shared ones (`createRedisLimits`, with the same window: Autotask's hour, BC's 5 minutes),
 * counted in sixtieths of the window; waiters are served first come, first served.
 */
export function createMemoryLimits(now: () => number = Date.now, windowMs: number = HOUR): LinkLimits {
  const busy = new Map<string, number>();
  const waiting = new Map<string, (() => void)[]>();
  const bucketMs = Math.round(windowMs / 60);
  const buckets = new Map<number, number>();

  async function acquire(endpoint: string, max: number, signal?: AbortSignal) {
    const key = endpoint.toLowerCase();
    while ((busy.get(key) ?? 0) >= max) {
      signal?.throwIfAborted();
      await new Promise<void>((done, fail) => {
        const list = waiting.get(key) ?? [];
        waiting.set(key, list);
        const go = () => {
          signal?.removeEventListener('abort', abort);
          done();
        };
        const abort = () => {
          list.splice(list.indexOf(go), 1);
          fail(signal?.reason ?? new Error('aborted'));
        };
        list.push(go);
        signal?.addEventListener('abort', abort, { once: true });
      });
    }
    busy.set(key, (busy.get(key) ?? 0) + 1);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      busy.set(key, (busy.get(key) ?? 1) - 1);
      waiting.get(key)?.shift()?.();
    };
  }

  async function record() {
    const b = Math.floor(now() / bucketMs);
    buckets.set(b, (buckets.get(b) ?? 0) + 1);
  }

  async function usage() {
    const since = Math.floor((now() - windowMs) / bucketMs);
    for (const b of buckets.keys()) if (b <= since) buckets.delete(b);
    const byMinute = [...buckets]
      .sort(([a], [b]) => a - b)
      .map(([b, count]) => ({ at: b * bucketMs, count }));
    return { count: byMinute.reduce((n, m) => n + m.count, 0), byMinute };
  }

  return { acquire, record, usage };
}
