import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';

export interface AuditEvent {
  type: string;
  actor: { userId: string; role: string } | { system: string };
  subject?: { consentId?: string; linkId?: string };
  data?: Record<string, unknown>;
}

export interface AuditEntry extends AuditEvent {
  id: string;
  at: string;
  prevHash: string;
  hash: string;
}

const GENESIS = '0'.repeat(64);

export function hashEntry(prevHash: string, body: string): string {
  return createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');
}

/**
 * Appends to the account's audit stream. Each entry is hash-chained to the one before it; WATCH makes the
 * read-last-then-append atomic against concurrent writers without Lua.
 */
export async function appendAudit(
  redis: Redis,
  keys: Keys,
  accountId: string,
  event: AuditEvent,
): Promise<string> {
  const key = keys.audit(accountId);
  for (let attempt = 0; attempt < 20; attempt++) {
    await redis.watch(key);
    const last = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
    const prevHash = last[0] ? fieldOf(last[0][1], 'hash') : GENESIS;
    const body = JSON.stringify({ ...event, at: new Date().toISOString() });
    const hash = hashEntry(prevHash, body);
    const res = await redis.multi().xadd(key, '*', 'body', body, 'prevHash', prevHash, 'hash', hash).exec();
    if (res) return res[0]![1] as string;
  }
  throw new Error(`audit append for account ${accountId} kept conflicting; giving up`);
}

export async function readAudit(redis: Redis, keys: Keys, accountId: string): Promise<AuditEntry[]> {
  const rows = await redis.xrange(keys.audit(accountId), '-', '+');
  return rows.map(([id, fields]) => {
    const body = JSON.parse(fieldOf(fields, 'body')) as AuditEvent & { at: string };
    return { id, ...body, prevHash: fieldOf(fields, 'prevHash'), hash: fieldOf(fields, 'hash') };
  });
}

function fieldOf(fields: string[], name: string): string {
  const i = fields.indexOf(name);
  return i >= 0 ? (fields[i + 1] ?? '') : '';
}
