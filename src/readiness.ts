import type { Queue } from 'bullmq';
import type { Redis } from 'ioredis';

export interface ReadinessDeps {
  redis: Redis;
  queues: Queue[];
  /** Sync workers that must be connected to the sync queue (any process). 0: not asked. */
  workersMin: number;
  /** Longest any one check may take: a Redis that is down holds commands until it is back. */
  timeoutMs: number;
}

export interface Readiness {
  ready: boolean;
  checks: Record<string, { ok: boolean; detail?: string; [k: string]: unknown }>;
}

const within = <T>(p: Promise<T>, ms: number, what: string): Promise<T> => {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not answer within ${ms} ms`)), ms);
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
};

const messageOf = (e: unknown) => (e instanceof Error ? e.message : String(e));

/**
 * Whether this process can do its work: Redis answers, every queue can be read, and enough workers are connected
 * (BullMQ names each worker's connection, so `getWorkers` lists those of every process, not only this one's).
 */
export async function checkReadiness(d: ReadinessDeps): Promise<Readiness> {
  const checks: Readiness['checks'] = {};
  try {
    await within(d.redis.ping(), d.timeoutMs, 'redis');
    checks.redis = { ok: true };
  } catch (e) {
    checks.redis = { ok: false, detail: messageOf(e) };
    // Nothing else can answer without Redis; say so rather than wait for each check in turn.
    checks.queues = { ok: false, detail: 'not checked: redis is not answering' };
    if (d.workersMin > 0) checks.workers = { ok: false, detail: 'not checked: redis is not answering' };
    return { ready: false, checks };
  }
  try {
    const counts = await within(
      Promise.all(d.queues.map(async (q) => [q.name, await q.getJobCounts('waiting', 'active')] as const)),
      d.timeoutMs,
      'queues',
    );
    checks.queues = { ok: true, counts: Object.fromEntries(counts) };
  } catch (e) {
    checks.queues = { ok: false, detail: messageOf(e) };
  }
  if (d.workersMin > 0) {
    const sync = d.queues.find((q) => q.name === 'sync') ?? d.queues[0];
    try {
      const seen = sync ? await within(sync.getWorkersCount(), d.timeoutMs, 'workers') : 0;
      checks.workers =
        seen >= d.workersMin
          ? { ok: true, connected: seen }
          : {
              ok: false,
              connected: seen,
              detail: `${seen} sync worker(s) connected, ${d.workersMin} needed`,
            };
    } catch (e) {
      checks.workers = { ok: false, detail: messageOf(e) };
    }
  }
  return { ready: Object.values(checks).every((c) => c.ok), checks };
}
