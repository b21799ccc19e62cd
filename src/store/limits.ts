import { randomUUID } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { LinkLimits } from '../../connectors/types.ts';
import type { Keys } from './keys.ts';

/**
 * Takes a lease when fewer than ARGV[1] unexpired leases exist. Leases are scored by their expiry on Redis's
 * clock (not the callers'), so a crashed process's slots come back after `leaseMs` whatever the machines say.
 */
const ACQUIRE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
  return 1
end
return 0`;

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

export interface RedisLimitsOptions {
  redis: Redis;
  keys: Keys;
  accountId: string;
  linkId: string;
  /** How long a slot is held at most: longer than any request may take (the HTTP timeout plus a margin). */
  leaseMs: number;
  /** Longest pause between two tries of a waiting request. @defaultValue 50 */
  maxPollMs?: number;
  now?: () => number;
}

interface Waiter {
  wake: () => void;
  /** Woken while not pausing (e.g. during a Redis call): the next pause returns at once. */
  woken: boolean;
}

/**
 * A link's share of its target's limits, kept in Redis so every worker process sees it: a counting semaphore
 * per endpoint (a sorted set of leases) and a per-minute request log for the rolling hour.
 *
 * Within one process, waiters of an endpoint queue up and only the first polls Redis; a local release wakes it
 * at once, so a busy endpoint is handed on without a polling gap. Waiters in other processes poll with a
 * short, jittered backoff.
 */
export function createRedisLimits(o: RedisLimitsOptions): LinkLimits {
  const { redis, keys, accountId, linkId } = o;
  const now = o.now ?? Date.now;
  const maxPoll = o.maxPollMs ?? 50;
  const queues = new Map<string, Waiter[]>();
  const usageKey = keys.linkUsage(accountId, linkId);

  const pause = (w: Waiter, ms: number, signal?: AbortSignal) =>
    new Promise<void>((done, fail) => {
      if (w.woken) {
        w.woken = false;
        return done();
      }
      const finish = () => {
        clearTimeout(timer);
        signal?.removeEventListener('abort', abort);
        w.wake = () => {
          w.woken = true;
        };
        done();
      };
      const abort = () => {
        finish();
        fail(signal?.reason ?? new Error('aborted'));
      };
      const timer = setTimeout(finish, ms);
      w.wake = finish;
      signal?.addEventListener('abort', abort, { once: true });
    });

  async function acquire(endpoint: string, max: number, signal?: AbortSignal) {
    const key = keys.linkSlots(accountId, linkId, endpoint.toLowerCase());
    const token = randomUUID();
    const queue = queues.get(key) ?? [];
    queues.set(key, queue);
    const me: Waiter = {
      woken: false,
      wake: () => {
        me.woken = true;
      },
    };
    queue.push(me);
    try {
      let delay = 2;
      for (;;) {
        signal?.throwIfAborted();
        if (queue[0] === me) {
          const got = await redis.eval(ACQUIRE, 1, key, max, o.leaseMs, token);
          if (got === 1) break;
          delay = Math.min(maxPoll, delay * 2);
          await pause(me, delay / 2 + Math.random() * (delay / 2), signal);
        } else {
          // Not first in this process: the one ahead wakes us when it gets a slot or gives up.
          await pause(me, maxPoll * 4, signal);
        }
      }
    } finally {
      queue.splice(queue.indexOf(me), 1);
      if (queue.length === 0) queues.delete(key);
      else queue[0]?.wake();
    }
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      await redis.zrem(key, token);
      queues.get(key)?.[0]?.wake();
    };
  }

  async function record() {
    const minute = Math.floor(now() / MINUTE);
    await redis
      .multi()
      .hincrby(usageKey, String(minute), 1)
      .pexpire(usageKey, 2 * HOUR)
      .exec();
  }

  async function usage() {
    const since = Math.floor((now() - HOUR) / MINUTE);
    const all = await redis.hgetall(usageKey);
    const byMinute: { at: number; count: number }[] = [];
    const stale: string[] = [];
    for (const [field, value] of Object.entries(all)) {
      const minute = Number(field);
      if (minute <= since) stale.push(field);
      else byMinute.push({ at: minute * MINUTE, count: Number(value) });
    }
    if (stale.length > 0) await redis.hdel(usageKey, ...stale);
    byMinute.sort((a, b) => a.at - b.at);
    return { count: byMinute.reduce((n, m) => n + m.count, 0), byMinute };
  }

  return { acquire, record, usage };
}
