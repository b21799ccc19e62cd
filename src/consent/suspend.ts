import { AppError, forbidden, notFound } from '../errors.ts';
import { getLink, type Link } from '../links/links.ts';
import { appendAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';
import { withWatch } from '../store/tx.ts';
import type { Actor } from './consents.ts';

/** The policy's "administrators, service providers or resellers may suspend or terminate access". */
const SUSPEND_ROLES = ['company_admin', 'reseller'];

/**
 * Moves a link from one status to another and to a new epoch in one watched MULTI, so a request admitted under
 * the old epoch is the last one. Nothing else of the link changes: suspension keeps credentials, mappings, runs.
 */
async function transition(
  ctx: StoreContext,
  actor: Actor,
  accountId: string,
  linkId: string,
  from: Link['status'],
  to: Link['status'],
  verb: 'suspend' | 'resume',
): Promise<Link> {
  if (!SUSPEND_ROLES.includes(actor.role)) {
    throw forbidden(`only a company admin or a reseller may ${verb} a link`);
  }
  const { redis, keys } = ctx;
  const key = keys.link(accountId, linkId);
  return withWatch(redis, async (tx) => {
    for (let attempt = 0; attempt < 20; attempt++) {
      await tx.watch(key);
      const [status, consentId] = await redis.hmget(key, 'status', 'consentId');
      if (status === null) {
        await tx.unwatch();
        throw notFound(`link ${linkId}`);
      }
      if (status !== from) {
        await tx.unwatch();
        const why =
          status === 'revoked' || status === 'unlinked'
            ? `its consent was revoked (link ${status}); linking again needs a new consent`
            : `it is ${status}`;
        throw new AppError(`link_${status}`, 409, `link ${linkId} cannot be ${verb}d: ${why}`);
      }
      const done = await tx.multi().hset(key, 'status', to).hincrby(key, 'epoch', 1).exec();
      if (!done) continue;
      await appendAudit(redis, keys, accountId, {
        type: verb === 'suspend' ? 'link.suspended' : 'link.resumed',
        actor,
        subject: { linkId, ...(consentId ? { consentId } : {}) },
        data: { from, to },
      });
      return getLink(ctx, accountId, linkId);
    }
    throw new AppError('busy', 503, `link ${linkId} kept changing; try again`);
  });
}

/** Pauses a link: the gate closes (new epoch), nothing is deleted. */
export const suspendLink = (ctx: StoreContext, actor: Actor, accountId: string, linkId: string) =>
  transition(ctx, actor, accountId, linkId, 'active', 'suspended', 'suspend');

/**
 * Re-opens a suspended link under a new epoch, so work queued before the suspension stays refused. A revoked
 * consent closes its suspended links too (status `revoked`), so a resume never outlives a revocation.
 */
export const resumeLink = (ctx: StoreContext, actor: Actor, accountId: string, linkId: string) =>
  transition(ctx, actor, accountId, linkId, 'suspended', 'active', 'resume');
