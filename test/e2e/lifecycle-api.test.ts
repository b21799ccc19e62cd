import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi } from '../helpers/api.ts';
import { AUTOTASK_CREDENTIALS, BILLING_CODE, startWorld, type World } from '../helpers/world.ts';

const ADMIN = 'admin-token-0123456789';
const RESELLER = 'reseller-token-0123456789';
const USER = 'user-token-0123456789';

describe('revoke, suspend and resume over the admin API', () => {
  let w: World;
  let api: ApiHarness;
  let base: string;

  beforeEach(async () => {
    w = await startWorld({ autotaskLatencyMs: 20, spinpanel: { customers: 4, subscriptionsPerCustomer: 4 } });
    api = await startApi(w, [
      { token: ADMIN, accountId: w.accountId, role: 'company_admin', userId: 'admin-9' },
      { token: RESELLER, accountId: w.accountId, role: 'reseller', userId: 'res-1' },
      { token: USER, accountId: w.accountId, role: 'user', userId: 'user-3' },
    ]);
    base = api.base;
  });
  afterEach(async () => {
    await api.close();
    await w.close();
  });

  const call = (method: string, path: string, token: string, body?: unknown) =>
    api.call(
      method,
      `/v1/accounts/${w.accountId}${path}`,
      token,
      method === 'GET' ? undefined : (body ?? {}),
    );

  it('suspend pauses a link without deleting, resume re-opens it; users may do neither', async () => {
    const linkPath = `/links/${w.link.id}`;
    expect((await call('POST', `${linkPath}/suspend`, USER)).status).toBe(403);
    const suspended = await call('POST', `${linkPath}/suspend`, RESELLER);
    expect(suspended.status).toBe(200);
    expect(suspended.body.link).toMatchObject({ status: 'suspended', epoch: w.link.epoch + 1 });
    expect(suspended.body.note).toMatch(/nothing was deleted/);
    const sync = await call('POST', `${linkPath}/syncs`, ADMIN);
    expect(sync.status).toBe(409);
    expect(sync.body.error.message).toMatch(/suspended/);
    expect(await w.app.redis.exists(w.app.store.keys.credentials(w.accountId, w.link.id))).toBe(1);

    expect((await call('POST', `${linkPath}/resume`, USER)).status).toBe(403);
    const resumed = await call('POST', `${linkPath}/resume`, ADMIN);
    expect(resumed.body).toMatchObject({
      link: { status: 'active', epoch: w.link.epoch + 2 },
      scheduled: true,
    });
    const run = await fetch(`${base}/v1/accounts/${w.accountId}${linkPath}/syncs?wait=true`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN}`, 'content-type': 'application/json' },
      body: '{}',
    });
    expect(((await run.json()) as { status: string }).status).toBe('succeeded');
  });

  it('revoke mid-sync answers what stopped, what was deleted, and that delivered data stays', async () => {
    const started = w.app.services.syncNow(
      { userId: 'admin-1', role: 'company_admin' },
      w.accountId,
      w.link.id,
      {
        dryRun: false,
        waitMs: 30_000,
      },
    );
    while (w.at.db.adjustments.length < 2) await new Promise((r) => setTimeout(r, 10));
    const revoke = await call('POST', `/consents/${w.consent.id}/revoke?wait=true`, ADMIN);
    const answeredAt = Date.now();
    expect(revoke.status).toBe(200);
    expect(revoke.body).toMatchObject({
      closedLinks: [w.link.id],
      unscheduled: [w.link.id],
      confirmed: true,
      stopped: expect.stringMatching(/no request for these links reaches the billing system/),
      deleted: expect.arrayContaining([expect.stringMatching(/credentials/)]),
      note: expect.stringMatching(/not retroactive.*new consent/),
    });
    expect(revoke.body.links[0]).toMatchObject({
      linkId: w.link.id,
      runningSyncsCancelled: 1,
      inFlight: { unconfirmed: 0 },
      unlink: { state: 'completed', report: { credentialsDestroyed: true } },
    });
    expect(w.at.requests.filter((r) => r.at > answeredAt)).toEqual([]);
    expect((await started).run?.status).toBe('cancelled');
    const link = await call('GET', `/links/${w.link.id}`, ADMIN);
    expect(link.body).toMatchObject({ status: 'unlinked', lastRun: null });
    expect((await call('POST', `/links/${w.link.id}/resume`, ADMIN)).body.error.message).toMatch(
      /new consent/,
    );
  });

  it('waits for the credentials check of a link being made under the consent, and refuses that link', async () => {
    w.at.configure({ latencyMs: 400 });
    const before = w.at.requests.length;
    const making = call('POST', '/links', ADMIN, {
      target: 'autotask',
      consentId: w.consent.id,
      credentials: AUTOTASK_CREDENTIALS,
      spinpanelApiKey: w.sp.apiKey,
      settings: { serviceBillingCodeId: BILLING_CODE },
    });
    while (w.at.requests.length === before) await new Promise((r) => setTimeout(r, 5));
    const revoke = await call('POST', `/consents/${w.consent.id}/revoke`, ADMIN);
    const answeredAt = Date.now();
    expect(revoke.body).toMatchObject({ confirmed: true, linksBeingMade: { inFlight: 1, unconfirmed: 0 } });
    // The check on the wire was answered before the revocation was; nothing of it came later.
    expect(w.at.requests.slice(before).map((r) => r.status)).not.toContain(0);
    expect(w.at.requests.filter((r) => r.at > answeredAt)).toEqual([]);
    const made = await making;
    expect(made.status).toBe(409);
    expect(made.body.error.message).toMatch(/revoked while the link was being made/);
    expect(await w.app.redis.zcard(w.app.store.keys.links(w.accountId))).toBe(1);
  });

  it('serves a mapping stamped with its target account and refuses it on a link to another account', async () => {
    const customer = w.sp.data.customers[0]!.id;
    const put = await call('PUT', `/links/${w.link.id}/mappings`, ADMIN, {
      customers: { [customer]: { companyId: 1 } },
    });
    expect(put.status).toBe(200);
    const old = await call('GET', `/links/${w.link.id}/mappings`, ADMIN);
    expect(old.body).toMatchObject({ linkId: w.link.id, targetAccount: expect.stringMatching(/^autotask:/) });
    expect(JSON.stringify(old.body)).not.toContain(AUTOTASK_CREDENTIALS.userName);
    await call('POST', `/consents/${w.consent.id}/revoke`, ADMIN);
    await call('POST', '/consents', ADMIN, { level: 'company', scopes: ['billing:read', 'billing:push'] });
    const relinked = await call('POST', '/links', ADMIN, {
      target: 'autotask',
      credentials: { ...AUTOTASK_CREDENTIALS, userName: AUTOTASK_CREDENTIALS.userName.toUpperCase() },
      spinpanelApiKey: w.sp.apiKey,
      settings: { serviceBillingCodeId: BILLING_CODE },
    });
    expect(relinked.status).toBe(201);
    // Same API user and zone: the old mapping fits the new link.
    expect((await call('PUT', `/links/${relinked.body.id}/mappings`, ADMIN, old.body)).status).toBe(200);
    const forged = { ...old.body, targetAccount: 'autotask:0000000000000000' };
    const refused = await call('PUT', `/links/${relinked.body.id}/mappings`, ADMIN, forged);
    expect(refused.status).toBe(409);
    expect(refused.body.error).toMatchObject({
      code: 'mapping_target_mismatch',
      details: { field: 'targetAccount' },
    });
  });
});
