import { describe, expect, it } from 'vitest';
import { signWebhook, verifyWebhook } from '../../src/privacy/webhook.ts';

const secret = 'whsec-0123456789abcdef';
const body = JSON.stringify({ id: 'evt-1', type: 'user.removed', data: { accountId: 'a', userId: 'u' } });
const now = 1_750_000_000_000;
const ts = String(now / 1000);
const opts = { toleranceSeconds: 300, nowMs: now };

describe('SpinPanel webhook signature', () => {
  it('accepts the HMAC-SHA256 of "<timestamp>.<body>"', () => {
    const signature = signWebhook(secret, ts, body);
    expect(signature).toMatch(/^sha256=[0-9a-f]{64}$/);
    expect(() => verifyWebhook(secret, { rawBody: body, signature, timestamp: ts }, opts)).not.toThrow();
  });

  it('refuses a changed body, a changed timestamp, another secret, or no signature', () => {
    const signature = signWebhook(secret, ts, body);
    const cases = [
      { rawBody: `${body} `, signature, timestamp: ts },
      { rawBody: body, signature, timestamp: String(Number(ts) + 1) },
      { rawBody: body, signature: signWebhook('another-secret-0123', ts, body), timestamp: ts },
      { rawBody: body, signature: signature.slice(0, -1), timestamp: ts },
      { rawBody: body, timestamp: ts },
      { rawBody: body, signature },
      // Signed, but not Unix seconds: Number('1.75e9') would otherwise pass the window check.
      { rawBody: body, signature: signWebhook(secret, '1.75e9', body), timestamp: '1.75e9' },
    ];
    for (const input of cases) {
      expect(() => verifyWebhook(secret, input, opts)).toThrow(
        expect.objectContaining({ status: 401 }) as unknown as Error,
      );
    }
  });

  it('refuses a correctly signed event outside the tolerance window, either side', () => {
    for (const skew of [-301, 301]) {
      const timestamp = String(Number(ts) + skew);
      const signature = signWebhook(secret, timestamp, body);
      expect(() => verifyWebhook(secret, { rawBody: body, signature, timestamp }, opts)).toThrow(
        /at most 300 s/,
      );
    }
    const timestamp = String(Number(ts) - 299);
    const signature = signWebhook(secret, timestamp, body);
    expect(() => verifyWebhook(secret, { rawBody: body, signature, timestamp }, opts)).not.toThrow();
  });
});
