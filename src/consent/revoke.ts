import { AppError, forbidden } from '../errors.ts';
import { appendAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';
import { type Actor, type Consent, getConsent, mayRevoke } from './consents.ts';

export interface RevokeResult {
  consent: Consent;
  /** Links whose gate closed with this revocation. */
  closedLinkIds: string[];
}

/**
 * Withdraws a consent and, in the same MULTI, closes the gate of every link that acts under it (status and
 * epoch change together). When this resolves, no new request for those links can pass the gate.
 */
export async function revokeConsent(
  ctx: StoreContext,
  actor: Actor,
  accountId: string,
  consentId: string,
): Promise<RevokeResult> {
  const { redis, keys } = ctx;
  const consentKey = keys.consent(accountId, consentId);
  for (let attempt = 0; attempt < 20; attempt++) {
    await redis.watch(consentKey, keys.links(accountId));
    const consent = await getConsent(ctx, accountId, consentId).catch(async (e) => {
      await redis.unwatch();
      throw e;
    });
    if (!mayRevoke(actor, consent)) {
      await redis.unwatch();
      throw forbidden(
        'only the user who gave a user-level consent, or an admin for a company-level one, may revoke it',
      );
    }
    if (consent.status === 'revoked') {
      await redis.unwatch();
      throw new AppError(
        'already_revoked',
        409,
        `consent ${consentId} was already revoked at ${consent.revokedAt}`,
      );
    }
    const linkIds = await redis.zrange(keys.links(accountId), 0, -1);
    const closed: string[] = [];
    for (const id of linkIds) {
      const [owner, status] = await redis.hmget(keys.link(accountId, id), 'consentId', 'status');
      if (owner === consentId && (status === 'active' || status === 'suspended')) closed.push(id);
    }
    const revoked: Consent = {
      ...consent,
      status: 'revoked',
      revokedAt: ctx.now().toISOString(),
      revokedBy: actor,
    };
    const multi = redis.multi().set(consentKey, JSON.stringify(revoked));
    for (const id of closed) {
      multi.hset(keys.link(accountId, id), 'status', 'revoked').hincrby(keys.link(accountId, id), 'epoch', 1);
    }
    if (await multi.exec()) {
      await appendAudit(redis, keys, accountId, {
        type: 'consent.revoked',
        actor,
        subject: { consentId },
        data: { closedLinkIds: closed },
      });
      return { consent: revoked, closedLinkIds: closed };
    }
  }
  throw new AppError('busy', 503, `consent ${consentId} kept changing while being revoked; try again`);
}
