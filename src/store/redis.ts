import { Redis, type RedisOptions } from 'ioredis';

export interface RedisCheck {
  version: string;
  maxmemoryPolicy: string;
}

export class RedisSetupError extends Error {
  override name = 'RedisSetupError';
}

/**
 * The one place Redis connections are made. `maxRetriesPerRequest: null` is what BullMQ workers need;
 * plain store calls use the same settings so a Redis restart is ridden out rather than surfaced.
 */
export function createRedis(url: string, options: RedisOptions = {}): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: null,
    enableReadyCheck: true,
    lazyConnect: false,
    ...options,
  });
}

/**
 * BullMQ loses jobs silently under any eviction policy, so anything but `noeviction` is refused unless the
 * operator says otherwise on purpose.
 */
export async function checkRedis(redis: Redis, opts: { allowEviction: boolean }): Promise<RedisCheck> {
  const info = await redis.info('server');
  const version = /redis_version:([^\r\n]+)/.exec(info)?.[1] ?? 'unknown';
  const [major] = version.split('.').map(Number);
  if (major !== undefined && major < 6) {
    throw new RedisSetupError(`Redis ${version} is too old: BullMQ needs Redis 6.2 or newer`);
  }
  let policy = 'unknown';
  try {
    const reply = (await redis.config('GET', 'maxmemory-policy')) as string[];
    policy = reply[1] ?? 'unknown';
  } catch {
    // Managed Redis services often forbid CONFIG; we cannot check, so we say so below only if required.
  }
  if (policy !== 'noeviction' && !opts.allowEviction) {
    throw new RedisSetupError(
      `Redis maxmemory-policy is "${policy}", but queued sync jobs must never be evicted: set ` +
        '`maxmemory-policy noeviction` on the server, or set REDIS_ALLOW_EVICTION=true to run anyway',
    );
  }
  return { version, maxmemoryPolicy: policy };
}
