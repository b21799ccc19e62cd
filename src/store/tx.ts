import type { Redis } from 'ioredis';

/**
 * WATCH belongs to a connection. On the process's shared connection one request's EXEC or UNWATCH would
 * cancel another request's WATCH, so "a revocation in the meantime must win" would hold only when requests
 * never overlap. Each optimistic transaction therefore gets a connection of its own: WATCH, MULTI/EXEC and
 * UNWATCH go through `tx`; plain reads may use any connection (WATCH sees every writer after it was set).
 * Admin changes are rare, so one short-lived connection each costs less than the bug it prevents.
 */
export async function withWatch<T>(redis: Redis, fn: (tx: Redis) => Promise<T>): Promise<T> {
  const tx = redis.duplicate();
  try {
    return await fn(tx);
  } finally {
    tx.disconnect();
  }
}
