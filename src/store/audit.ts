import { createHash, timingSafeEqual } from 'node:crypto';
import type { Redis } from 'ioredis';
import { auditKeyringOf } from './audit-keys.ts';
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
  /** HMAC-SHA256 under the key `keyId` names; a plain SHA-256 on an entry written before the chain was keyed. */
  hash: string;
  /** The audit key that signed the entry; absent on an entry written before the chain was keyed. */
  keyId?: string;
}

const GENESIS = '0'.repeat(64);

/** The hash of an entry written before the chain was keyed: anyone can recompute it, so alone it proves nothing. */
function legacyHash(prevHash: string, body: string): string {
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
return redis.call('XADD', KEYS[1], '*', 'body', ARGV[2], 'prevHash', ARGV[1], 'hash', ARGV[4], 'keyId', ARGV[5])`;

/**
 * Appends to the account's audit stream, chained to the entry before it by an HMAC under the current audit key
 * (the keyring bound to `keys` at start-up), so nobody without that key can write an entry that verifies.
 * Not WATCH/MULTI: the app shares
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
  const ring = auditKeyringOf(keys);
  const clean: AuditEvent = {
    ...event,
    ...(event.data ? { data: scrubAuditData(event.data) as never } : {}),
  };
  // Each round at least one concurrent writer wins, so this bounds the writers, not the time.
  for (let attempt = 0; attempt < 100; attempt++) {
    const last = await redis.xrevrange(key, '+', '-', 'COUNT', 1);
    const prevHash = last[0] ? fieldOf(last[0][1], 'hash') : GENESIS;
    const body = JSON.stringify({ ...clean, at: new Date().toISOString() });
    const { keyId, hash } = ring.sign(accountId, prevHash, body);
    const id = await redis.eval(APPEND, 1, key, prevHash, body, GENESIS, hash, keyId);
    if (typeof id === 'string') return id;
  }
  throw new Error(`audit append for account ${accountId} kept conflicting; giving up`);
}

export async function readAudit(redis: Redis, keys: Keys, accountId: string): Promise<AuditEntry[]> {
  const rows = await redis.xrange(keys.audit(accountId), '-', '+');
  return rows.map(([id, fields]) => {
    const body = JSON.parse(fieldOf(fields, 'body')) as AuditEvent & { at: string };
    const keyId = fieldOf(fields, 'keyId');
    return {
      id,
      ...body,
      prevHash: fieldOf(fields, 'prevHash'),
      hash: fieldOf(fields, 'hash'),
      ...(keyId ? { keyId } : {}),
    };
  });
}

export interface AuditVerdict {
  ok: boolean;
  entries: number;
  /**
   * Entries at the head of the trail written before the chain was keyed (plain SHA-256). They count as verified
   * only behind a keyed entry: its HMAC covers the last one's hash, and through the chain all of them.
   */
  legacyUnkeyed: number;
  /** The audit keys the trail's entries name: each must stay configured for the trail to verify. */
  keyIds: string[];
  problems: { id?: string; problem: string }[];
}

/**
 * Recomputes the chain: each entry's HMAC under the key its id names, so an edited entry, or a trail rewritten
 * whole by someone without the key, fails, and a removed entry breaks the next entry's link. A removed *last*
 * entry leaves no gap in the chain, so the stream's own counters (entries ever added, last id ever generated —
 * XDEL changes neither) are compared with what is left. Not caught: a trail deleted whole, or cut back to an
 * earlier state by rewriting its first entries with their own ids (a chain kept in the same store has no
 * anchor outside it).
 */
export async function verifyAudit(redis: Redis, keys: Keys, accountId: string): Promise<AuditVerdict> {
  const key = keys.audit(accountId);
  const ring = auditKeyringOf(keys);
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
  const keyIds = new Set<string>();
  let legacyUnkeyed = 0;
  let keyed = false;
  let prev = GENESIS;
  for (const [id, fields] of rows) {
    const body = fieldOf(fields, 'body');
    const prevHash = fieldOf(fields, 'prevHash');
    const hash = fieldOf(fields, 'hash');
    const keyId = fieldOf(fields, 'keyId');
    if (prevHash !== prev)
      problems.push({ id, problem: 'does not follow the entry before it (removed or reordered)' });
    prev = hash;
    if (!keyId) {
      // Only the head of a trail can predate the key; an unkeyed entry after a keyed one was written without it.
      if (keyed)
        problems.push({ id, problem: 'unkeyed entry after keyed ones (written without the audit key)' });
      else if (legacyHash(prevHash, body) !== hash)
        problems.push({ id, problem: 'content does not match its hash (edited)' });
      else legacyUnkeyed++;
      continue;
    }
    keyed = true;
    keyIds.add(keyId);
    const expected = ring.hashWith(keyId, accountId, prevHash, body);
    if (expected === undefined) problems.push({ id, problem: ring.missing(keyId) });
    else if (!sameHex(expected, hash))
      problems.push({
        id,
        problem: `content does not match its HMAC under audit key "${keyId}" (edited, or rewritten without the key)`,
      });
  }
  if (rows.length > 0 && !keyed) {
    // Anyone can write plain SHA-256 entries: a trail of nothing else may be one rewritten without the key.
    problems.push({
      id: rows[0]![0],
      problem: `no entry is keyed: ${rows.length} unkeyed entries cannot be told from a trail rewritten without the audit key (the next audited change seals them)`,
    });
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
  return { ok: problems.length === 0, entries: rows.length, legacyUnkeyed, keyIds: [...keyIds], problems };
}

/** A MAC compared in constant time: the audit API must not tell a forger how much of a guess was right. */
function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'hex');
  const y = Buffer.from(b, 'hex');
  return x.length === y.length && a.length === b.length && timingSafeEqual(x, y);
}

function fieldOf(fields: string[], name: string): string {
  const i = fields.indexOf(name);
  return i >= 0 ? (fields[i + 1] ?? '') : '';
}
