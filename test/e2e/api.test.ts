import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi } from '../helpers/api.ts';
import { AUTOTASK_CREDENTIALS, BILLING_CODE, startWorld, type World } from '../helpers/world.ts';

const ADMIN = 'admin-token-0123456789';
const USER = 'user-token-0123456789';
const OTHER = 'other-token-0123456789';

describe('admin HTTP API over a real socket', () => {
  let w: World;
  let api: ApiHarness;

  beforeEach(async () => {
    w = await startWorld();
    api = await startApi(w, [
      { token: ADMIN, accountId: w.accountId, role: 'company_admin', userId: 'admin-9' },
      { token: USER, accountId: w.accountId, role: 'user', userId: 'user-3' },
      { token: OTHER, accountId: 'someone-else', role: 'company_admin', userId: 'x' },
    ]);
  });
  afterEach(async () => {
    await api.close();
    await w.close();
  });

  const call = (method: string, path: string, token?: string, body?: unknown) =>
    api.call(method, path, token, body);

  it('answers health without a token and refuses everything else without one', async () => {
    expect((await call('GET', '/healthz')).status).toBe(200);
    expect((await call('GET', `/v1/accounts/${w.accountId}/links`)).status).toBe(401);
    expect((await call('GET', `/v1/accounts/${w.accountId}/links`, 'wrong-token-0123456789')).status).toBe(
      401,
    );
  });

  it('scopes every token to its own account', async () => {
    const res = await call('GET', `/v1/accounts/${w.accountId}/consents`, OTHER);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/another account/);
  });

  it('names the bad field of a request body', async () => {
    const res = await call('POST', `/v1/accounts/${w.accountId}/consents`, ADMIN, { level: 'galaxy' });
    expect(res.status).toBe(400);
    expect(res.body.error.message).toMatch(/level/);
    const link = await call('POST', `/v1/accounts/${w.accountId}/links`, ADMIN, {
      target: 'autotask',
      credentials: AUTOTASK_CREDENTIALS,
      spinpanelApiKey: w.sp.apiKey,
      settings: { serviceBillingCodeId: 'twelve' },
    });
    expect(link.status).toBe(400);
    expect(link.body.error.message).toMatch(/settings\.serviceBillingCodeId/);
  });

  it('takes the granter from the token, not the body; a user may not link', async () => {
    const claimed = await call('POST', `/v1/accounts/${w.accountId}/consents`, USER, {
      level: 'user',
      scopes: ['billing:read'],
      grantedBy: 'admin-9',
    });
    expect(claimed.status).toBe(400);
    expect(claimed.body.error.message).toMatch(/grantedBy: unknown key/);
    const consent = await call('POST', `/v1/accounts/${w.accountId}/consents`, USER, {
      level: 'user',
      scopes: ['billing:read'],
    });
    expect(consent.status).toBe(201);
    expect(consent.body.grantedBy).toEqual({ userId: 'user-3', role: 'user' });
    const link = await call('POST', `/v1/accounts/${w.accountId}/links`, USER, {
      target: 'autotask',
      credentials: AUTOTASK_CREDENTIALS,
      spinpanelApiKey: w.sp.apiKey,
      settings: { serviceBillingCodeId: BILLING_CODE },
    });
    expect(link.status).toBe(403);
  });

  it('quotes the target when it rejects the credentials, and saves no link', async () => {
    const res = await call('POST', `/v1/accounts/${w.accountId}/links`, ADMIN, {
      target: 'autotask',
      credentials: { ...AUTOTASK_CREDENTIALS, secret: 'wrong-secret' },
      spinpanelApiKey: w.sp.apiKey,
      settings: { serviceBillingCodeId: BILLING_CODE },
    });
    expect(res.status).toBe(422);
    expect(res.body.error.code).toBe('credentials_rejected');
    expect(JSON.stringify(res.body)).not.toContain('wrong-secret');
    const links = await call('GET', `/v1/accounts/${w.accountId}/links`, ADMIN);
    expect(links.body.items).toHaveLength(1);
  });

  it('runs a sync with ?wait=true and serves the run back; never shows a secret', async () => {
    const links = await call('GET', `/v1/accounts/${w.accountId}/links`, ADMIN);
    expect(JSON.stringify(links.body)).not.toContain(AUTOTASK_CREDENTIALS.secret);
    expect(JSON.stringify(links.body)).not.toContain(w.sp.apiKey);
    const dry = await call('POST', `/v1/accounts/${w.accountId}/links/${w.link.id}/syncs?wait=true`, ADMIN, {
      dryRun: true,
    });
    expect(dry.status).toBe(200);
    expect(dry.body.plan.length).toBeGreaterThan(0);
    const real = await call(
      'POST',
      `/v1/accounts/${w.accountId}/links/${w.link.id}/syncs?wait=true`,
      ADMIN,
      {},
    );
    expect(real.body).toMatchObject({ status: 'succeeded', dryRun: false });
    const queued = await call('POST', `/v1/accounts/${w.accountId}/links/${w.link.id}/syncs`, ADMIN, {});
    expect(queued.status).toBe(202);
    const one = await call(
      'GET',
      `/v1/accounts/${w.accountId}/links/${w.link.id}/syncs/${real.body.id}`,
      ADMIN,
    );
    expect(one.body.id).toBe(real.body.id);
    const list = await call('GET', `/v1/accounts/${w.accountId}/links/${w.link.id}/syncs`, ADMIN);
    expect(list.body.items.length).toBeGreaterThanOrEqual(2);
    const link = await call('GET', `/v1/accounts/${w.accountId}/links/${w.link.id}`, ADMIN);
    expect(link.body.lastRun).not.toBeNull();
  });

  it('saves mappings and revokes consent, answering what stopped and that delivered data stays', async () => {
    const map = await call('PUT', `/v1/accounts/${w.accountId}/links/${w.link.id}/mappings`, ADMIN, {
      customers: { [w.sp.data.customers[0]!.id]: { companyId: 123 } },
    });
    expect(map.status).toBe(200);
    const bad = await call('PUT', `/v1/accounts/${w.accountId}/links/${w.link.id}/mappings`, ADMIN, {
      customers: { x: { companyId: -1 } },
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/customers\.x\.companyId/);
    const revoke = await call(
      'POST',
      `/v1/accounts/${w.accountId}/consents/${w.consent.id}/revoke`,
      ADMIN,
      {},
    );
    expect(revoke.status).toBe(200);
    expect(revoke.body.closedLinks).toEqual([w.link.id]);
    expect(revoke.body.note).toMatch(/not retroactive/);
    const sync = await call('POST', `/v1/accounts/${w.accountId}/links/${w.link.id}/syncs`, ADMIN, {});
    expect(sync.status).toBe(409);
  });
});
