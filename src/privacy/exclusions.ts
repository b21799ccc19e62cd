import { z } from 'zod';
import type { Actor } from '../consent/consents.ts';
import { AppError, forbidden } from '../errors.ts';
import { getLink, LINK_ROLES } from '../links/links.ts';
import { appendAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';
import { privacyKeys } from './keys.ts';

/** Replaces the link's opt-out list: these customers are never read beyond their id and never pushed. */
export const ExclusionsBody = z.object({
  customerIds: z.array(z.string().min(1).max(200)).max(10_000),
});
export type ExclusionsBody = z.infer<typeof ExclusionsBody>;

export async function getExclusions(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
): Promise<Set<string>> {
  return new Set(await ctx.redis.smembers(privacyKeys(ctx.keys).exclusions(accountId, linkId)));
}

export async function putExclusions(
  ctx: StoreContext,
  actor: Actor,
  accountId: string,
  linkId: string,
  body: ExclusionsBody,
): Promise<{ linkId: string; customerIds: string[] }> {
  if (!LINK_ROLES.includes(actor.role)) throw forbidden('restricting processing is an admin action');
  const link = await getLink(ctx, accountId, linkId);
  if (link.status === 'unlinked' || link.status === 'revoked') {
    throw new AppError('link_closed', 409, `link ${linkId} is ${link.status}`);
  }
  const key = privacyKeys(ctx.keys).exclusions(accountId, linkId);
  const before = await getExclusions(ctx, accountId, linkId);
  const after = [...new Set(body.customerIds)].sort();
  const multi = ctx.redis.multi().del(key);
  if (after.length > 0) multi.sadd(key, ...after);
  await multi.exec();
  await appendAudit(ctx.redis, ctx.keys, accountId, {
    type: 'exclusions.changed',
    actor,
    subject: { linkId },
    // Customer ids are organisations' ids, not personal data; they say whose processing was restricted.
    data: {
      excluded: after.filter((id) => !before.has(id)),
      included: [...before].filter((id) => !after.includes(id)),
      total: after.length,
    },
  });
  return { linkId, customerIds: after };
}
