import type { Queue } from 'bullmq';
import { AppError, forbidden } from '../errors.ts';
import { publishCancel } from '../queue/cancel.ts';
import { appendAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';
import { withWatch } from '../store/tx.ts';
import { type Actor, type Consent, getConsent, mayRevoke } from './consents.ts';
import { type DrainReport, drain } from './inflight.ts';

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
  return withWatch(redis, async (tx) => {
    for (let attempt = 0; attempt < 20; attempt++) {
      await tx.watch(consentKey, keys.links(accountId));
      const consent = await getConsent(ctx, accountId, consentId).catch(async (e) => {
        await tx.unwatch();
        throw e;
      });
      if (!mayRevoke(actor, consent)) {
        await tx.unwatch();
        throw forbidden(
          'only the user who gave a user-level consent, or an admin for a company-level one, may revoke it',
        );
      }
      if (consent.status === 'revoked') {
        await tx.unwatch();
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
      const multi = tx.multi().set(consentKey, JSON.stringify(revoked));
      for (const id of closed) {
        multi
          .hset(keys.link(accountId, id), 'status', 'revoked')
          .hincrby(keys.link(accountId, id), 'epoch', 1);
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
  });
}

/** What stopping one link's processing did, for the answer to a revocation or suspension. */
export interface StopReport {
  linkId: string;
  /** Syncs of the link that were running when it stopped; each was asked to cancel. */
  runningSyncs: number;
  /** Worker processes that heard the cancel message. */
  workersNotified: number;
  inFlight: DrainReport;
}

/**
 * Called right after a MULTI closed the gate of `linkIds`: tells every worker to cancel the links' running syncs,
 * then waits (at most `waitMs`) until none of their admitted requests is on the wire. When it returns with
 * `unconfirmed: 0` for a link, no request of that link can reach the target any more.
 */
export async function stopLinks(
  ctx: StoreContext,
  syncQueue: Queue,
  accountId: string,
  linkIds: string[],
  reason: string,
  waitMs: number,
): Promise<StopReport[]> {
  const { redis, keys } = ctx;
  const notified = await Promise.all(
    linkIds.map((linkId) => publishCancel(redis, keys, { accountId, linkId, reason })),
  );
  const active = linkIds.length > 0 ? await syncQueue.getActive() : [];
  const drained = await Promise.all(
    linkIds.map((linkId) => drain(redis, keys.inflight(accountId, linkId), waitMs)),
  );
  return linkIds.map((linkId, i) => ({
    linkId,
    runningSyncs: active.filter((j) => j?.data?.accountId === accountId && j.data.linkId === linkId).length,
    workersNotified: notified[i] ?? 0,
    inFlight: drained[i]!,
  }));
}
