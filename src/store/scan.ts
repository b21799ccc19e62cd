import type { Redis } from 'ioredis';

/**
 * Escapes Redis glob characters, so an id put into a SCAN pattern matches only itself: an account id `a*`
 * must never match (and so erase or export) account `ab`.
 */
export const globEscape = (s: string): string => s.replace(/[*?[\]\\]/g, '\\$&');

/** Calls `fn` with each batch of keys matching `pattern` (SCAN, so Redis is never blocked by a KEYS). */
export async function scanKeys(
  redis: Redis,
  pattern: string,
  fn: (keys: string[]) => Promise<void>,
): Promise<void> {
  let cursor = '0';
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length > 0) await fn(keys);
  } while (cursor !== '0');
}

/** Escapes a string for use inside a RegExp. */
export const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
