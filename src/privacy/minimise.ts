import type { Plan } from '../../connectors/types.ts';
import { getConsent } from '../consent/consents.ts';
import type { Snapshot } from '../domain/types.ts';
import type { Link } from '../links/links.ts';
import { pullSnapshot, type SnapshotSource } from '../spinpanel/snapshot.ts';
import type { StoreContext } from '../store/context.ts';
import { getExclusions } from './exclusions.ts';

/** What a link's consent and opt-outs allow a run to hold. */
export interface ProcessingScope {
  /** Customers opted out of processing: never read beyond their id, never pushed. */
  excluded: Set<string>;
  /** Billing contacts (names, e-mail addresses) may be held and pushed only under `contacts:push`. */
  contacts: boolean;
}

export async function processingScope(ctx: StoreContext, link: Link): Promise<ProcessingScope> {
  const [excluded, consent] = await Promise.all([
    getExclusions(ctx, link.accountId, link.id),
    getConsent(ctx, link.accountId, link.consentId).catch(() => null),
  ]);
  return { excluded, contacts: consent?.scopes.includes('contacts:push') ?? false };
}

/** Pure: drops personal data the scope does not allow from a snapshot, so no later step can push it. */
export function minimise(snapshot: Snapshot, scope: ProcessingScope): Snapshot {
  if (scope.contacts) return snapshot;
  return { ...snapshot, customers: snapshot.customers.map((c) => ({ ...c, billingContact: null })) };
}

/**
 * The pull a run makes for a link: the key must still be the link's account's (its `/account`, read first, is
 * checked before anything else is read), opted-out customers are left out at the source (their subscriptions
 * are never requested) and billing contacts are dropped unless the consent carries `contacts:push`.
 */
export async function pullForLink(
  ctx: StoreContext,
  link: Link,
  source: SnapshotSource,
): Promise<{ snapshot: Snapshot; scope: ProcessingScope }> {
  const scope = await processingScope(ctx, link);
  const snapshot = await pullSnapshot(source, {
    accountId: link.accountId,
    excludedCustomerIds: scope.excluded,
  });
  return { snapshot: minimise(snapshot, scope), scope };
}

/** Pure: a second line behind the pull: no operation or reconciliation line for an opted-out customer. */
export function withoutExcluded(plan: Plan, excluded: Set<string>): Plan {
  if (excluded.size === 0) return plan;
  return {
    ops: plan.ops.filter((op) => !op.customerId || !excluded.has(op.customerId)),
    unmapped: plan.unmapped.filter((u) => !excluded.has(u.customerId)),
    recon: plan.recon.filter((line) => !excluded.has(line.customerId)),
  };
}
