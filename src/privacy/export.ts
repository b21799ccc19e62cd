import { type Actor, listConsents } from '../consent/consents.ts';
import { forbidden } from '../errors.ts';
import { readLedger } from '../links/ledger.ts';
import { getMapping, listLinks } from '../links/links.ts';
import { appendAudit, readAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';
import { scanKeys } from '../store/scan.ts';
import type { RunRecord } from '../sync/runs.ts';
import { assertAccountExists } from './account.ts';
import { type PrivacyDeps, RIGHTS_ROLES } from './deps.ts';
import { getExclusions } from './exclusions.ts';
import { privacyKeys } from './keys.ts';

export const EXPORT_FORMAT = 'spinpanel-billing-sync/account-export@1';

/**
 * Key suffixes (after `<prefix>:{acct:<id>}:`) that a section of the export already shows, or that must never be
 * shown: credentials are a secret (the export says only whether they are stored) and a run lock is a
 * transient owner token. Anything else found under the account is listed under `other`, so a record added by
 * a later feature is still handed over rather than silently left out.
 */
const SHOWN = [
  /^consents$/,
  /^consent:[^:]+$/,
  /^links$/,
  /^link:[^:]+$/,
  /^link:[^:]+:(mapping|exclusions|runs|ledger)$/,
  /^run:[^:]+$/,
  /^audit$/,
];
const NEVER = [/^link:[^:]+:credentials$/, /^link:[^:]+:lock$/];

/** One JSON document with every record the connector holds for the account; never a secret, sealed or not. */
export async function exportAccount(d: PrivacyDeps, actor: Actor, accountId: string) {
  if (!RIGHTS_ROLES.includes(actor.role))
    throw forbidden('exporting an account is an admin or operator action');
  const ctx = d.store;
  // A made-up id is a 404, checked before the audit entry below would create a trail for it.
  await assertAccountExists(ctx, accountId);
  // Audited first, so the export shows that it was made.
  await appendAudit(ctx.redis, ctx.keys, accountId, { type: 'account.exported', actor });
  const [consents, links] = await Promise.all([listConsents(ctx, accountId), listLinks(ctx, accountId)]);
  const linkRecords = [];
  for (const link of links) {
    linkRecords.push({
      ...link,
      credentialsStored: (await ctx.redis.exists(ctx.keys.credentials(accountId, link.id))) === 1,
      mapping: await getMapping(ctx, accountId, link.id),
      // What the sync made or adjusted in the billing system (target ids and keys: the proof of ownership).
      ledger: await readLedger(ctx, accountId, link.id),
      excludedCustomerIds: [...(await getExclusions(ctx, accountId, link.id))].sort(),
      runs: await allRuns(ctx, accountId, link.id),
    });
  }
  return {
    format: EXPORT_FORMAT,
    accountId,
    exportedAt: ctx.now().toISOString(),
    dataRegion: d.config.DATA_REGION,
    consents,
    links: linkRecords,
    audit: await readAudit(ctx.redis, ctx.keys, accountId),
    other: await otherRecords(ctx, accountId),
    notes: [
      'Credentials are stored encrypted and are never exported; credentialsStored says whether any are held.',
      'Data already delivered to a billing system is held there, not by this connector.',
    ],
  };
}

async function allRuns(ctx: StoreContext, accountId: string, linkId: string): Promise<RunRecord[]> {
  const ids = await ctx.redis.zrange(ctx.keys.runs(accountId, linkId), 0, -1);
  if (ids.length === 0) return [];
  const raws = await ctx.redis.mget(ids.map((id) => ctx.keys.run(accountId, id)));
  return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as RunRecord);
}

async function otherRecords(ctx: StoreContext, accountId: string): Promise<Record<string, unknown>> {
  const base = `${ctx.keys.account(accountId)}:`;
  const out: Record<string, unknown> = {};
  await scanKeys(ctx.redis, privacyKeys(ctx.keys).accountPattern(accountId), async (keys) => {
    for (const key of keys) {
      const suffix = key.slice(base.length);
      if (SHOWN.some((re) => re.test(suffix)) || NEVER.some((re) => re.test(suffix))) continue;
      out[suffix] = await readAny(ctx, key);
    }
  });
  return out;
}

async function readAny(ctx: StoreContext, key: string): Promise<unknown> {
  const { redis } = ctx;
  switch (await redis.type(key)) {
    case 'string':
      return parseMaybe(await redis.get(key));
    case 'hash':
      return redis.hgetall(key);
    case 'set':
      return (await redis.smembers(key)).sort();
    case 'zset':
      return redis.zrange(key, 0, -1);
    case 'list':
      return redis.lrange(key, 0, -1);
    case 'stream':
      return (await redis.xrange(key, '-', '+')).map(([id, fields]) => ({ id, fields }));
    default:
      return null;
  }
}

function parseMaybe(raw: string | null): unknown {
  if (raw === null) return null;
  try {
    return JSON.parse(raw);
  } catch {
    return raw;
  }
}
