import { notFound } from '../errors.ts';
import type { StoreContext } from '../store/context.ts';

/**
 * An account exists for the data-rights routes when the connector holds something for it: it is in the account
 * index (a consent was ever granted and it was not erased since), or it still has consents, links or an audit
 * trail. An erased account keeps its trail, so its erasure stays visible; an id nobody ever used has nothing.
 * Read-only, so asking about a made-up id leaves no trace.
 */
export async function accountExists(ctx: Pick<StoreContext, 'redis' | 'keys'>, accountId: string) {
  const { redis, keys } = ctx;
  // Two commands, not one MULTI: the index and the account's keys sit in different cluster slots.
  const [indexed, held] = await Promise.all([
    redis.sismember(keys.accounts(), accountId),
    redis.exists(keys.consents(accountId), keys.links(accountId), keys.audit(accountId)),
  ]);
  return indexed === 1 || held > 0;
}

/** 404 for an account the connector holds nothing for: checked before anything about it is written. */
export async function assertAccountExists(ctx: Pick<StoreContext, 'redis' | 'keys'>, accountId: string) {
  if (!(await accountExists(ctx, accountId))) throw notFound(`account ${accountId}`);
}
