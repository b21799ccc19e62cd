import type { Redis } from 'ioredis';

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end`;
const EXTEND = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end`;

export interface HeldLock {
  release(): Promise<void>;
}

/**
 * One run per link across every worker process: a Redis lock with an owner token, renewed while the run lives
 * and released only by its owner. If a worker dies, the lock lapses after `ttlMs`. The owner must be unique per
 * holder (not the job id: a stalled job picked up again would share it). When a renewal finds the lock gone or
 * someone else's — this process stalled past `ttlMs` and another took the link — `onLost` fires so the run stops
 * instead of racing the new holder.
 */
export async function tryLock(
  redis: Redis,
  key: string,
  owner: string,
  ttlMs = 30_000,
  onLost?: () => void,
): Promise<HeldLock | null> {
  const ok = await redis.set(key, owner, 'PX', ttlMs, 'NX');
  if (ok !== 'OK') return null;
  const timer = setInterval(() => {
    redis.eval(EXTEND, 1, key, owner, String(ttlMs)).then(
      (extended) => {
        if (extended === 0) {
          clearInterval(timer);
          onLost?.();
        }
      },
      () => {},
    );
  }, ttlMs / 3);
  timer.unref();
  return {
    async release() {
      clearInterval(timer);
      await redis.eval(RELEASE, 1, key, owner);
    },
  };
}
