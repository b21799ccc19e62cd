import { createHmac, timingSafeEqual } from 'node:crypto';
import { z } from 'zod';
import { systemActor } from '../consent/consents.ts';
import { AppError } from '../errors.ts';
import type { PrivacyDeps } from './deps.ts';
import { privacyKeys } from './keys.ts';
import { reportUserRemoved } from './users.ts';

export const SIGNATURE_HEADER = 'x-spinpanel-signature';
export const TIMESTAMP_HEADER = 'x-spinpanel-timestamp';

/**
 * The event id sits in the signed body, not in a header: an id outside the signature could be changed to slip
 * a replay past the replay check.
 */
export const WebhookEvent = z.discriminatedUnion('type', [
  z.object({
    id: z.string().min(1).max(200),
    type: z.literal('consent.revoked'),
    data: z.object({ accountId: z.string().min(1).max(100), consentId: z.string().uuid() }),
  }),
  z.object({
    id: z.string().min(1).max(200),
    type: z.literal('user.removed'),
    data: z.object({ accountId: z.string().min(1).max(100), userId: z.string().min(1).max(200) }),
  }),
]);
export type WebhookEvent = z.infer<typeof WebhookEvent>;

/** `sha256=<hex of HMAC-SHA256(secret, "<timestamp>.<raw body>")>` — the timestamp is signed with the body. */
export function signWebhook(secret: string, timestamp: string, rawBody: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${rawBody}`).digest('hex')}`;
}

const unauthorized = (code: string, message: string) => new AppError(code, 401, message);

/** Throws a 401 for a missing, malformed or wrong signature, or a timestamp outside the tolerance window. */
export function verifyWebhook(
  secret: string,
  input: { rawBody: string; signature?: string; timestamp?: string },
  opts: { toleranceSeconds: number; nowMs: number },
): void {
  const { signature, timestamp } = input;
  if (!signature || !timestamp) {
    throw unauthorized('webhook_unsigned', `${SIGNATURE_HEADER} and ${TIMESTAMP_HEADER} are required`);
  }
  if (!/^\d{1,12}$/.test(timestamp)) {
    throw unauthorized('webhook_bad_timestamp', `${TIMESTAMP_HEADER} must be Unix time in seconds`);
  }
  const expected = Buffer.from(signWebhook(secret, timestamp, input.rawBody));
  const given = Buffer.from(signature.trim());
  // Compare in constant time; the length check leaks only the (public) length of the format.
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
    throw unauthorized('webhook_bad_signature', 'the signature does not match the body and timestamp');
  }
  const skew = Math.abs(opts.nowMs / 1000 - Number(timestamp));
  if (skew > opts.toleranceSeconds) {
    throw unauthorized(
      'webhook_stale',
      `the event is ${Math.round(skew)} s away from now; at most ${opts.toleranceSeconds} s is accepted`,
    );
  }
}

export interface WebhookOutcome {
  eventId: string;
  type: WebhookEvent['type'];
  outcome: 'revoked' | 'already_revoked' | 'unknown_consent' | 'user_removed';
  result?: unknown;
}

/** How long an event being acted on is held against a duplicate, should its process die before it answers. */
const ACTING_SECONDS = 120;

/**
 * Verifies, then claims the event id, acts as the system, and only then remembers the id for longer than the
 * window in which its signature is accepted, so a replay is refused for as long as it could otherwise pass.
 * Nothing is read or changed before the signature is checked. If acting fails the id is forgotten again, and
 * if the process dies while acting the claim lapses after ACTING_SECONDS: either way SpinPanel's retry of the
 * same event is not mistaken for a replay and the revocation is not lost (acting twice is harmless: a second
 * revocation finds the consent already revoked).
 */
export async function handleWebhook(
  d: PrivacyDeps,
  input: { rawBody: string; signature?: string; timestamp?: string },
  nowMs = Date.now(),
): Promise<WebhookOutcome> {
  const secret = d.config.SPINPANEL_WEBHOOK_SECRET;
  if (!secret) {
    throw new AppError(
      'webhook_not_configured',
      503,
      'SPINPANEL_WEBHOOK_SECRET is not set on this deployment',
    );
  }
  const toleranceSeconds = d.config.SPINPANEL_WEBHOOK_TOLERANCE_SECONDS;
  verifyWebhook(secret, input, { toleranceSeconds, nowMs });
  let json: unknown;
  try {
    json = JSON.parse(input.rawBody);
  } catch {
    throw new AppError('invalid_body', 400, 'invalid body: not JSON');
  }
  const parsed = WebhookEvent.safeParse(json);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
    throw new AppError('invalid_body', 400, `invalid event: ${fields.join('; ')}`, { fields });
  }
  const event = parsed.data;
  const { redis, keys } = d.store;
  const seenKey = privacyKeys(keys).webhookEvent(event.id);
  const fresh = await redis.set(seenKey, String(nowMs), 'EX', ACTING_SECONDS, 'NX');
  if (fresh !== 'OK') throw new AppError('webhook_replay', 409, `event ${event.id} was already received`);
  try {
    const outcome = await act(d, event);
    await redis.expire(seenKey, Math.max(toleranceSeconds * 2 + 60, ACTING_SECONDS));
    return outcome;
  } catch (error) {
    if (!(error instanceof AppError) || error.status >= 500) await redis.del(seenKey).catch(() => 0);
    throw error;
  }
}

async function act(d: PrivacyDeps, event: WebhookEvent): Promise<WebhookOutcome> {
  const actor = systemActor('spinpanel-webhook');
  const base = { eventId: event.id, type: event.type };
  if (event.type === 'user.removed') {
    const result = await reportUserRemoved(d, actor, event.data.accountId, event.data.userId);
    return { ...base, outcome: 'user_removed', result };
  }
  try {
    const result = await d.revokeConsent(actor, event.data.accountId, event.data.consentId);
    return { ...base, outcome: 'revoked', result };
  } catch (error) {
    // SpinPanel retries until it gets a 2xx: answering these with an error would only make it retry forever.
    if (error instanceof AppError && error.code === 'already_revoked')
      return { ...base, outcome: 'already_revoked' };
    if (error instanceof AppError && error.code === 'not_found')
      return { ...base, outcome: 'unknown_consent' };
    throw error;
  }
}
