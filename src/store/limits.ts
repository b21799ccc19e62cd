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

/** Extends a lease that changes hands within a process (XX: only while it is still held). */
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
return redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[1]), ARGV[2])`;

/**
 * A slot goes straight to the next waiter of the same process at most this often in a row; then it goes back
 * to Redis, so waiters in other processes get their turn.
 */
const MAX_HANDOFFS = 16;

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
  /**
   * The rolling window the request log covers (`record`/`usage`): Autotask budgets an hour, Business Central
   * five minutes. The log counts in buckets of a sixtieth of it (minutes for an hour). @defaultValue 3600000
   */
  windowMs?: number;
  now?: () => number;
}

/** A held slot: its token in the sorted set, and how often it went from waiter to waiter in this process. */
interface Lease {
  token: string;
  handoffs: number;
}

interface Waiter {
  /** A slot handed over by a releasing request of this process. */
  handed?: Lease;
  wake: () => void;
  /** Woken while not pausing (e.g. during a Redis call): the next pause returns at once. */
  woken: boolean;
}

/**
 * A link's share of its target's limits, kept in Redis so every worker process sees it: a counting semaphore
 * per endpoint (a sorted set of leases) and a request log for the rolling window (per minute for the default
 * hour; `usage().byMinute` then holds buckets of a sixtieth of the window).
 *
 * Within one process, waiters of an endpoint queue up and only the first polls Redis; a release hands the slot
 * straight to that waiter (no round trip, no polling gap), up to MAX_HANDOFFS times in a row before it goes
 * back to Redis. Waiters in other processes poll with a short, jittered backoff.
 */
export function createRedisLimits(o: RedisLimitsOptions): LinkLimits {
  const { redis, keys, accountId, linkId } = o;
  const now = o.now ?? Date.now;
  const maxPoll = o.maxPollMs ?? 50;
  const queues = new Map<string, Waiter[]>();
  const usageKey = keys.linkUsage(accountId, linkId);
  const windowMs = o.windowMs ?? HOUR;
  if (!(Number.isFinite(windowMs) && windowMs >= MINUTE)) {
    throw new RangeError(`a request log's window must be at least a minute, got ${windowMs}`);
  }
  const bucketMs = Math.round(windowMs / 60);

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

  /** Gives a held slot to the next waiter of this process, or back to Redis (then anyone may take it). */
  async function pass(key: string, lease: Lease): Promise<void> {
    const next = queues.get(key)?.[0];
    if (next && !next.handed && lease.handoffs < MAX_HANDOFFS) {
      // No round trip: the waiter takes over the lease (renewed, so a long chain of hand-offs keeps it).
      next.handed = { token: lease.token, handoffs: lease.handoffs + 1 };
      next.wake();
      redis.eval(RENEW, 1, key, o.leaseMs, lease.token).catch(() => {});
      return;
    }
    await redis.zrem(key, lease.token);
    queues.get(key)?.[0]?.wake();
  }

  async function acquire(endpoint: string, max: number, signal?: AbortSignal) {
    const key = keys.linkSlots(accountId, linkId, endpoint.toLowerCase());
    const queue = queues.get(key) ?? [];
    queues.set(key, queue);
    const me: Waiter = {
      woken: false,
      wake: () => {
        me.woken = true;
      },
    };
    queue.push(me);
    let lease: Lease | undefined;
    try {
      let delay = 2;
      while (!lease) {
        if (me.handed) {
          lease = me.handed;
          me.handed = undefined;
          break;
        }
        signal?.throwIfAborted();
        if (queue[0] === me) {
          const token = randomUUID();
          if ((await redis.eval(ACQUIRE, 1, key, max, o.leaseMs, token)) === 1) {
            lease = { token, handoffs: 0 };
            // A slot handed over meanwhile is one too many: give it on.
            if (me.handed) await pass(key, me.handed);
            me.handed = undefined;
            break;
          }
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
      // Aborted while a slot was being handed to us: hand it on.
      if (me.handed) await pass(key, me.handed);
    }
    const held = lease;
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      await pass(key, held);
    };
  }

  async function record() {
    const bucket = Math.floor(now() / bucketMs);
    await redis
      .multi()
      .hincrby(usageKey, String(bucket), 1)
      .pexpire(usageKey, 2 * windowMs)
      .exec();
  }

  async function usage() {
    const since = Math.floor((now() - windowMs) / bucketMs);
    const all = await redis.hgetall(usageKey);
    const byMinute: { at: number; count: number }[] = [];
    const stale: string[] = [];
    for (const [field, value] of Object.entries(all)) {
      const bucket = Number(field);
      if (bucket <= since) stale.push(field);
      else byMinute.push({ at: bucket * bucketMs, count: Number(value) });
    }
    if (stale.length > 0) await redis.hdel(usageKey, ...stale);
    byMinute.sort((a, b) => a.at - b.at);
    return { count: byMinute.reduce((n, m) => n + m.count, 0), byMinute };
  }

  return { acquire, record, usage };
}
