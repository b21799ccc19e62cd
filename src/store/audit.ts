import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';

export interface AuditEvent {
  type: string;
  actor: { userId: string; role: string } | { system: string };
  subject?: { consentId?: string; linkId?: string; userId?: string };
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
 * The trail may name users only by id: fields that carry names, contact details or secrets are dropped and
 * anything shaped like an e-mail address is masked, so a careless caller cannot put personal data in an
 * append-only record that erasure is the only way to remove.
 */
const PERSONAL_FIELDS = new Set([
  'name',
  'email',
  'billingcontact',
  'contact',
  'phone',
  'credentials',
  'secret',
  'password',
  'spinpanelapikey',
  'apikey',
  'token',
]);
const EMAIL = /[^\s@"'<>]+@[^\s@"'<>]+\.[^\s@"'<>]+/g;

export function scrubAuditData(value: unknown): unknown {
  if (typeof value === 'string') return value.replace(EMAIL, '[redacted]');
  if (Array.isArray(value)) return value.map(scrubAuditData);
  if (value && typeof value === 'object') {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      if (!PERSONAL_FIELDS.has(k.toLowerCase())) out[k] = scrubAuditData(v);
    }
    return out;
  }
  return value;
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
  const clean: AuditEvent = {
    ...event,
    ...(event.data ? { data: scrubAuditData(event.data) as never } : {}),
  };
  for (let attempt = 0; attempt < 20; attempt++) {
    await redis.watch(key);
    const last = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
    const prevHash = last[0] ? fieldOf(last[0][1], 'hash') : GENESIS;
    const body = JSON.stringify({ ...clean, at: new Date().toISOString() });
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

export interface AuditVerdict {
  ok: boolean;
  entries: number;
  problems: { id?: string; problem: string }[];
}

/**
 * Recomputes the chain: an edited entry no longer matches its hash, a removed one breaks the next entry's link.
 * A removed *last* entry leaves no gap in the chain, so the stream's own counters (entries ever added, last id
 * ever generated — XDEL changes neither) are compared with what is left.
 */
export async function verifyAudit(redis: Redis, keys: Keys, accountId: string): Promise<AuditVerdict> {
  const key = keys.audit(accountId);
  const rows = await redis.xrange(key, '-', '+');
  const problems: AuditVerdict['problems'] = [];
  let prev = GENESIS;
  for (const [id, fields] of rows) {
    const body = fieldOf(fields, 'body');
    const prevHash = fieldOf(fields, 'prevHash');
    const hash = fieldOf(fields, 'hash');
    if (prevHash !== prev)
      problems.push({ id, problem: 'does not follow the entry before it (removed or reordered)' });
    if (hashEntry(prevHash, body) !== hash)
      problems.push({ id, problem: 'content does not match its hash (edited)' });
    prev = hash;
  }
  if (rows.length > 0) {
    const info = (await redis.call('XINFO', 'STREAM', key)) as unknown[];
    const field = (name: string) => info[info.indexOf(name) + 1];
    const added = Number(field('entries-added'));
    const lastGenerated = String(field('last-generated-id'));
    if (added !== rows.length) {
      problems.push({ problem: `${added} entries were appended but ${rows.length} remain (removed)` });
    }
    const lastId = rows.at(-1)![0];
    if (lastGenerated !== lastId) {
      problems.push({
        problem: `the last entry appended was ${lastGenerated}, the last one left is ${lastId}`,
      });
    }
  }
  return { ok: problems.length === 0, entries: rows.length, problems };
}

function fieldOf(fields: string[], name: string): string {
  const i = fields.indexOf(name);
  return i >= 0 ? (fields[i + 1] ?? '') : '';
}
