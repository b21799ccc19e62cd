import type { Keys } from '../store/keys.ts';
import { globEscape } from '../store/scan.ts';

/**
 * Keys the privacy features add, built on the account's hash tag so they are erased and exported with it. The
 * webhook's replay memory is not an account's data (an event id and nothing else) and lives outside the tag.
 */
export const privacyKeys = (keys: Keys) => ({
  exclusions: (accountId: string, linkId: string) => `${keys.account(accountId)}:link:${linkId}:exclusions`,
  /** Where a cached snapshot of a link lives; the retention sweeper bounds the life of anything here. */
  snapshot: (accountId: string, linkId: string) => `${keys.account(accountId)}:link:${linkId}:snapshot`,
  /** Every key of one account, and of no other (SCAN pattern; the id's glob characters are escaped). */
  accountPattern: (accountId: string) => `${globEscape(keys.account(accountId))}:*`,
  webhookEvent: (eventId: string) => `${keys.prefix}:webhook:spinpanel:${eventId}`,
});
