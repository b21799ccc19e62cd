import axios, { type AxiosInstance } from 'axios';
import { UnrecoverableError } from 'bullmq';
import { signWebhook } from '../privacy/webhook.ts';
import type { NotifyJobData } from '../queue/catalog.ts';

export const NOTIFY_SIGNATURE_HEADER = 'x-billing-sync-signature';
export const NOTIFY_TIMESTAMP_HEADER = 'x-billing-sync-timestamp';

export interface WebhookTarget {
  url: string;
  secret: string;
  timeoutMs: number;
}

/**
 * Posts one notification, signed as SpinPanel signs its webhooks (HMAC-SHA256 of `<timestamp>.<body>`), so a
 * receiver checks it with the same code. No retries here: the queue owns them. No redirects: a signed body is
 * sent only where the operator configured it.
 */
export async function deliver(
  target: WebhookTarget,
  event: NotifyJobData,
  opts: { http?: AxiosInstance; nowMs?: number } = {},
): Promise<number> {
  const body = JSON.stringify({ type: 'sync.problem', ...event });
  const timestamp = String(Math.floor((opts.nowMs ?? Date.now()) / 1000));
  const res = await (opts.http ?? axios).post(target.url, body, {
    headers: {
      'content-type': 'application/json',
      [NOTIFY_SIGNATURE_HEADER]: signWebhook(target.secret, timestamp, body),
      [NOTIFY_TIMESTAMP_HEADER]: timestamp,
    },
    maxRedirects: 0,
    timeout: target.timeoutMs,
    transformRequest: [(d: string) => d],
    validateStatus: () => true,
  });
  if (res.status >= 200 && res.status < 300) return res.status;
  const message = `notification webhook answered ${res.status}`;
  // A refusal (other than a throttle or timeout) will not change by trying again; anything else may.
  if (res.status >= 400 && res.status < 500 && res.status !== 408 && res.status !== 429) {
    throw new UnrecoverableError(message);
  }
  throw new Error(message);
}
