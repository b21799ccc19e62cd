import { type Actor, endsWithUser, listConsents, systemActor } from '../consent/consents.ts';
import { AppError, forbidden } from '../errors.ts';
import { appendAudit } from '../store/audit.ts';
import { type PrivacyDeps, RIGHTS_ROLES } from './deps.ts';

export interface UserRemovedResult {
  userId: string;
  /** User-level consents of that user, now revoked (their links unlinked). */
  revoked: { consentId: string; result: unknown }[];
  /** Company-level consents that user gave: they belong to the organisation and stay. */
  kept: string[];
}

/**
 * A user-level consent is the user's own and ends with the user; a company-level one was given for the
 * organisation and outlives whoever gave it. The revocation runs as the system, because the removed user can no
 * longer act and an admin may not otherwise withdraw someone else's user-level consent.
 */
export async function reportUserRemoved(
  d: PrivacyDeps,
  actor: Actor,
  accountId: string,
  userId: string,
): Promise<UserRemovedResult> {
  if (!RIGHTS_ROLES.includes(actor.role)) {
    throw forbidden('reporting a removed user is an admin or operator action');
  }
  const { ending, kept } = endsWithUser(await listConsents(d.store, accountId), userId);
  const revoked: UserRemovedResult['revoked'] = [];
  for (const consent of ending) {
    try {
      revoked.push({
        consentId: consent.id,
        result: await d.revokeConsent(systemActor('user-removed'), accountId, consent.id),
      });
    } catch (error) {
      // Revoked in the meantime by someone else: the outcome the caller wants already holds.
      if (error instanceof AppError && error.code === 'already_revoked') continue;
      throw error;
    }
  }
  if (ending.length > 0 || kept.length > 0) {
    await appendAudit(d.store.redis, d.store.keys, accountId, {
      type: 'user.removed',
      actor,
      subject: { userId },
      data: { revokedConsentIds: revoked.map((r) => r.consentId), keptConsentIds: kept.map((c) => c.id) },
    });
  }
  return { userId, revoked, kept: kept.map((c) => c.id) };
}
