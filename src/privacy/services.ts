import type { Actor } from '../consent/consents.ts';
import { forbidden } from '../errors.ts';
import { rotateCredentials } from '../links/rotate.ts';
import { readAudit, verifyAudit } from '../store/audit.ts';
import { assertAccountExists } from './account.ts';
import type { PrivacyDeps } from './deps.ts';
import { RIGHTS_ROLES } from './deps.ts';
import { type ErasureOptions, eraseAccount } from './erasure.ts';
import { type ExclusionsBody, getExclusions, putExclusions } from './exclusions.ts';
import { exportAccount } from './export.ts';
import { type RetentionPolicy, sweepRetention } from './retention.ts';
import { reportUserRemoved } from './users.ts';
import { handleWebhook } from './webhook.ts';

/** The data-rights side of the app: what the privacy routes and CLI commands call. */
export function createPrivacyServices(d: PrivacyDeps & { retention: RetentionPolicy }) {
  const { store } = d;
  return {
    reportUserRemoved: (actor: Actor, accountId: string, userId: string) =>
      reportUserRemoved(d, actor, accountId, userId),
    handleSpinPanelWebhook: (input: { rawBody: string; signature?: string; timestamp?: string }) =>
      handleWebhook(d, input),
    getExclusions: async (accountId: string, linkId: string) => ({
      linkId,
      customerIds: [...(await getExclusions(store, accountId, linkId))].sort(),
    }),
    putExclusions: (actor: Actor, accountId: string, linkId: string, body: ExclusionsBody) =>
      putExclusions(store, actor, accountId, linkId, body),
    exportAccount: (actor: Actor, accountId: string) => exportAccount(d, actor, accountId),
    eraseAccount: (actor: Actor, accountId: string, opts?: ErasureOptions) =>
      eraseAccount(d, actor, accountId, opts),
    async readAudit(actor: Actor, accountId: string) {
      if (!RIGHTS_ROLES.includes(actor.role)) throw forbidden('the audit trail is for admins and operators');
      await assertAccountExists(store, accountId);
      const [items, verdict] = await Promise.all([
        readAudit(store.redis, store.keys, accountId),
        verifyAudit(store.redis, store.keys, accountId),
      ]);
      return { items, verified: verdict };
    },
    async verifyAudit(accountId: string) {
      await assertAccountExists(store, accountId);
      return verifyAudit(store.redis, store.keys, accountId);
    },
    rotateCredentials: () => rotateCredentials(store),
    sweepRetention: () => sweepRetention(store, d.retention),
  };
}

export type PrivacyServices = ReturnType<typeof createPrivacyServices>;
