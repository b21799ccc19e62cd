import type { LinkLimits } from '../types.ts';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/**
 * The limits of one process: used when no shared (Redis) limits are given, e.g. to verify credentials. Same
 * contract as the shared ones, so the client behaves alike; waiters are served first come, first served.
 */
export function createMemoryLimits(now: () => number = Date.now): LinkLimits {
  const busy = new Map<string, number>();
  const waiting = new Map<string, (() => void)[]>();
  const minutes = new Map<number, number>();

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
    const minute = Math.floor(now() / MINUTE);
    minutes.set(minute, (minutes.get(minute) ?? 0) + 1);
  }

  async function usage() {
    const since = Math.floor((now() - HOUR) / MINUTE);
    for (const m of minutes.keys()) if (m <= since) minutes.delete(m);
    const byMinute = [...minutes].sort(([a], [b]) => a - b).map(([m, count]) => ({ at: m * MINUTE, count }));
    return { count: byMinute.reduce((n, m) => n + m.count, 0), byMinute };
  }

  return { acquire, record, usage };
}
