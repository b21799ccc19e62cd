import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import type { Keys } from './keys.ts';

export interface AuditEvent {
  type: string;
  /** `{ role }` alone: an entry that must not name the person (the erasure of their account). */
  actor: { userId: string; role: string } | { system: string } | { role: string };
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
 * Appends `body` only if the stream's last entry still has hash `prevHash` (or the stream is empty and
 * `prevHash` is the genesis): a compare-and-append, atomic whoever else writes, on whatever connection.
 */
const APPEND = `
local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)[1]
local head = ARGV[3]
if last then
  local f = last[2]
  for i = 1, #f, 2 do if f[i] == 'hash' then head = f[i + 1] end end
end
if head ~= ARGV[1] then return false end
return redis.call('XADD', KEYS[1], '*', 'body', ARGV[2], 'prevHash', ARGV[1], 'hash', ARGV[4])`;

/**
 * Appends to the account's audit stream, hash-chained to the entry before it. Not WATCH/MULTI: the app shares
 * one connection between concurrent requests, and one caller's EXEC clears another's WATCH, which forked the
 * chain. A lost compare-and-append means someone else appended first: read the new head and try again.
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
  // Each round at least one concurrent writer wins, so this bounds the writers, not the time.
  for (let attempt = 0; attempt < 100; attempt++) {
    const last = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
    const prevHash = last[0] ? fieldOf(last[0][1], 'hash') : GENESIS;
    const body = JSON.stringify({ ...clean, at: new Date().toISOString() });
    const id = await redis.eval(APPEND, 1, key, prevHash, body, GENESIS, hashEntry(prevHash, body));
    if (typeof id === 'string') return id;
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
  // One transaction, so an entry appended meanwhile cannot look like a removed one. XINFO fails only when the
  // key does not exist: a trail never written (or deleted whole, which a chain kept in the same store cannot
  // tell apart). A stream emptied by XDEL/XTRIM still exists, and its counters give it away.
  const [[, rows], [infoError, stream]] = (await redis
    .multi()
    .xrange(key, '-', '+')
    .call('XINFO', 'STREAM', key)
    .exec()) as [[Error | null, [string, string[]][]], [Error | null, unknown[]]];
  const info = infoError ? null : stream;
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
  if (info) {
    const field = (name: string) => info[info.indexOf(name) + 1];
    const added = Number(field('entries-added'));
    const lastGenerated = String(field('last-generated-id'));
    if (added !== rows.length) {
      problems.push({ problem: `${added} entries were appended but ${rows.length} remain (removed)` });
    }
    const lastId = rows.at(-1)?.[0] ?? 'none';
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
