import type { Redis } from 'ioredis';

/**
 * Replaces a stored ciphertext only if it is still the one that was read: an unlink or erasure that destroyed
 * the credentials in the meantime must not see them come back. Keeps any TTL the key has.
 */
const SWAP = `
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'KEEPTTL')
  return 1
end
return 0`;

export async function swapSealed(
  redis: Redis,
  key: string,
  expected: string,
  next: string,
): Promise<boolean> {
  return (await redis.eval(SWAP, 1, key, expected, next)) === 1;
}
