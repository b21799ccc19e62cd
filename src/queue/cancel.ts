import type { Redis } from 'ioredis';
import { z } from 'zod';
import type { Keys } from '../store/keys.ts';

/** Asks whichever worker runs a sync of this link to abort it. Carries ids only. */
export const CancelMessage = z.object({
  accountId: z.string().min(1),
  linkId: z.string().min(1),
  /** Why, in words a run record can show: "the link is revoked". */
  reason: z.string().min(1).max(200),
});
export type CancelMessage = z.infer<typeof CancelMessage>;

/**
 * Returns how many worker processes heard it. Pub/sub is fire-and-forget: a worker that misses the message is
 * still stopped by the gate at its next request; the message only makes the stop immediate.
 */
export async function publishCancel(redis: Redis, keys: Keys, msg: CancelMessage): Promise<number> {
  return redis.publish(keys.cancelChannel(), JSON.stringify(CancelMessage.parse(msg)));
}

export interface CancelSubscription {
  close(): Promise<void>;
}

/** Listens on its own connection (a subscribed connection can do nothing else). */
export async function subscribeCancels(
  subscriber: Redis,
  keys: Keys,
  onCancel: (msg: CancelMessage) => void,
): Promise<CancelSubscription> {
  const channel = keys.cancelChannel();
  subscriber.on('message', (ch: string, raw: string) => {
    if (ch !== channel) return;
    let parsed: CancelMessage;
    try {
      parsed = CancelMessage.parse(JSON.parse(raw));
    } catch {
      return;
    }
    onCancel(parsed);
  });
  await subscriber.subscribe(channel);
  return {
    async close() {
      subscriber.disconnect();
    },
  };
}
