import type { Redis } from 'ioredis';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * One run per link across every worker process: a Redis lock with an owner token, renewed while the run lives
 * and released only by its owner. If a worker dies, the lock lapses after `ttlMs`.
 */
export async function tryLock(
  redis: Redis,
  key: string,
  owner: string,
  ttlMs = 30_000,
): Promise<HeldLock | null> {
  const ok = await redis.set(key, owner, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return null;
  const timer = setInterval(() => {
    redis.eval(EXTEND, 1, key, owner, String(ttlMs)).catch(() => {});
  }, ttlMs / 3);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await redis.eval(RELEASE, 1, key, owner);
    },
  };
}
