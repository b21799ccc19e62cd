import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PrivacyDeps } from '../../src/privacy/deps.ts';
import { privacyKeys } from '../../src/privacy/keys.ts';
import { handleWebhook, signWebhook } from '../../src/privacy/webhook.ts';
import { privacyDeps } from '../helpers/privacy.ts';
import { type TestStore, testStore } from '../helpers/store.ts';

const SECRET = 'whsec-integration-0123456789';
const consentId = '00000000-0000-4000-8000-000000000001';

describe('SpinPanel webhook replay memory', () => {
  let t: TestStore;
  let ttlWhileActing: number | undefined;
  let fail: Error | undefined;
  let d: PrivacyDeps;

  beforeEach(async () => {
    t = await testStore();
    ttlWhileActing = undefined;
    fail = undefined;
    d = {
      ...privacyDeps(t, { SPINPANEL_WEBHOOK_SECRET: SECRET }),
      revokeConsent: async () => {
        ttlWhileActing = await t.ctx.redis.ttl(seenKey());
        if (fail) throw fail;
        return { revoked: true };
      },
    };
  });
  afterEach(async () => t.close());

  const seenKey = () => privacyKeys(t.ctx.keys).webhookEvent('evt-9');
  const event = () => {
    const rawBody = JSON.stringify({
      id: 'evt-9',
      type: 'consent.revoked',
      data: { accountId: 'acct-w', consentId },
    });
    const timestamp = String(Math.floor(Date.now() / 1000));
    return { rawBody, timestamp, signature: signWebhook(SECRET, timestamp, rawBody) };
  };

  it('holds the id briefly while acting, then for longer than the signature is accepted', async () => {
    expect(await handleWebhook(d, event())).toMatchObject({ outcome: 'revoked' });
    // A process that dies while acting must not block SpinPanel's retry for the whole window.
    expect(ttlWhileActing).toBeGreaterThan(0);
    expect(ttlWhileActing).toBeLessThanOrEqual(120);
    expect(await t.ctx.redis.ttl(seenKey())).toBeGreaterThan(2 * 300);
    await expect(handleWebhook(d, event())).rejects.toMatchObject({ status: 409, code: 'webhook_replay' });
  });

  it('forgets the id when acting fails, so the retry is not taken for a replay', async () => {
    fail = new Error('redis went away');
    await expect(handleWebhook(d, event())).rejects.toThrow('redis went away');
    expect(await t.ctx.redis.exists(seenKey())).toBe(0);
    fail = undefined;
    expect(await handleWebhook(d, event())).toMatchObject({ outcome: 'revoked' });
  });
});
