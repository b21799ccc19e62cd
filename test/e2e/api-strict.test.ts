import { Writable } from 'node:stream';
import nock from 'nock';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiHarness, startApi } from '../helpers/api.ts';
import { AUTOTASK_CREDENTIALS, admin, BILLING_CODE, startWorld, type World } from '../helpers/world.ts';

const ADMIN = 'strict-admin-token-0123456789';

/** Every error answer: `{ error: { code, message, details? } }` and nothing else. */
function expectErrorShape(body: unknown): void {
  expect(body).toEqual({
    error: expect.objectContaining({ code: expect.stringMatching(/^[a-z_]+$/), message: expect.any(String) }),
  });
  const error = (body as { error: Record<string, unknown> }).error;
  expect(Object.keys(error).filter((k) => !['code', 'message', 'details'].includes(k))).toEqual([]);
}

describe('strict admin API: bad requests are refused by name, every error in one shape', () => {
  let w: World;
  let api: ApiHarness;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    w = await startWorld({ worker: false });
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
        done();
      },
    });
    api = await startApi(
      w,
      [{ token: ADMIN, accountId: w.accountId, role: 'company_admin', userId: 'admin-9' }],
      { log: pino({ level: 'info' }, sink) },
    );
  });
  afterAll(async () => {
    await api?.close();
    await w?.close();
  });

  const acct = () => `/v1/accounts/${w.accountId}`;
  const call = (method: string, path: string, body?: unknown) =>
    api.call(method, `${acct()}${path}`, ADMIN, body);
  const raw = (method: string, path: string, init: { body?: string; type?: string } = {}) =>
    fetch(`${api.base}${path}`, {
      method,
      headers: {
        authorization: `Bearer ${ADMIN}`,
        ...(init.type ? { 'content-type': init.type } : {}),
      },
      body: init.body,
    });

  it('refuses a mapping with a misspelt top-level key, naming it, and keeps the mapping', async () => {
    const customerId = w.sp.data.customers[0]!.id;
    const saved = await call('PUT', `/links/${w.link.id}/mappings`, {
      customers: { [customerId]: { companyId: 7 } },
    });
    expect(saved.status).toBe(200);
    const misspelt = await call('PUT', `/links/${w.link.id}/mappings`, {
      customer: { [customerId]: { companyId: 8 } },
    });
    expect(misspelt.status).toBe(400);
    expectErrorShape(misspelt.body);
    expect(misspelt.body.error.message).toMatch(/customer: unknown key/);
    expect(misspelt.body.error.details.fields).toContain('customer: unknown key');
    const nested = await call('PUT', `/links/${w.link.id}/mappings`, {
      customers: { [customerId]: { companyID: 8 } },
    });
    expect(nested.status).toBe(400);
    expect(nested.body.error.message).toContain(`customers.${customerId}.companyID: unknown key`);
    expect((await w.app.services.getMapping(w.accountId, w.link.id)).customers).toEqual({
      [customerId]: { companyId: 7 },
    });
  });

  it('takes the mapping document back as GET served it, read-only fields included', async () => {
    const doc = await call('GET', `/links/${w.link.id}/mappings`);
    expect(doc.body).toHaveProperty('unmapped');
    expect(doc.body.linkId).toBe(w.link.id);
    const back = await call('PUT', `/links/${w.link.id}/mappings`, doc.body);
    expect(back.status).toBe(200);
  });

  it('refuses an unknown link setting by name and keeps the settings', async () => {
    const before = (await w.app.services.getLink(w.accountId, w.link.id)).settings;
    const res = await call('PATCH', `/links/${w.link.id}/settings`, { usageMonth: 2 });
    expect(res.status).toBe(400);
    expectErrorShape(res.body);
    expect(res.body.error.message).toMatch(/usageMonth/);
    expect((await w.app.services.getLink(w.accountId, w.link.id)).settings).toEqual(before);
  });

  it('refuses a sync with dry_run, naming it, and runs nothing', async () => {
    const before = (await w.app.services.listRuns(w.accountId, w.link.id)).length;
    const jobs = await w.app.queue.getJobCounts();
    const res = await call('POST', `/links/${w.link.id}/syncs`, { dry_run: true });
    expect(res.status).toBe(400);
    expectErrorShape(res.body);
    expect(res.body.error.message).toMatch(/dry_run: unknown key/);
    expect((await w.app.services.listRuns(w.accountId, w.link.id)).length).toBe(before);
    expect(await w.app.queue.getJobCounts()).toEqual(jobs);
  });

  it('refuses a null or non-object body and grants nothing', async () => {
    const before = (await w.app.services.listConsents(w.accountId)).length;
    for (const body of ['null', '[]', '"company"', '42', 'true']) {
      const res = await raw('POST', `${acct()}/consents`, { body, type: 'application/json' });
      expect(res.status, body).toBe(400);
      expectErrorShape(await res.json());
    }
    expect((await w.app.services.listConsents(w.accountId)).length).toBe(before);
  });

  it('refuses an unknown query parameter and a bad path parameter by name', async () => {
    const query = await call('GET', `/links?limit=5`);
    expect(query.status).toBe(400);
    expect(query.body.error.message).toMatch(/limit: unknown key/);
    const path = await call('GET', `/links/not-a-uuid`);
    expect(path.status).toBe(400);
    expect(path.body.error.message).toMatch(/invalid path: linkId/);
  });

  it('answers the framework’s own errors in the one shape: 404, 405, 413, 415, bad JSON', async () => {
    const unknown = await raw('GET', '/v1/nothing-here');
    expect(unknown.status).toBe(404);
    const notFound = await unknown.json();
    expectErrorShape(notFound);
    expect(notFound.error.code).toBe('not_found');

    const wrongMethod = await raw('DELETE', `${acct()}/links`);
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD, POST');
    const notAllowed = await wrongMethod.json();
    expectErrorShape(notAllowed);
    expect(notAllowed.error.code).toBe('method_not_allowed');

    const big = await raw('POST', `${acct()}/consents`, {
      body: JSON.stringify({ level: 'user', pad: 'x'.repeat(2 * 1024 * 1024) }),
      type: 'application/json',
    });
    expect(big.status).toBe(413);
    const tooLarge = await big.json();
    expectErrorShape(tooLarge);
    expect(tooLarge.error.code).toBe('payload_too_large');

    const text = await raw('POST', `${acct()}/consents`, { body: 'level=user', type: 'text/plain' });
    expect(text.status).toBe(415);
    const media = await text.json();
    expectErrorShape(media);
    expect(media.error.code).toBe('unsupported_media_type');

    const broken = await raw('POST', `${acct()}/consents`, { body: '{"level":', type: 'application/json' });
    expect(broken.status).toBe(400);
    expectErrorShape(await broken.json());
  });
});

describe('answers that explain: targets failing while linking, repeated revokes, refused syncs and relinks', () => {
  let w: World;
  let api: ApiHarness;
  const logLines: Record<string, unknown>[] = [];

  beforeAll(async () => {
    w = await startWorld({ worker: false });
    const sink = new Writable({
      write(chunk, _enc, done) {
        for (const line of String(chunk).split('\n').filter(Boolean)) logLines.push(JSON.parse(line));
        done();
      },
    });
    api = await startApi(
      w,
      [{ token: ADMIN, accountId: w.accountId, role: 'company_admin', userId: 'admin-9' }],
      { log: pino({ level: 'info' }, sink) },
    );
  });
  afterAll(async () => {
    await api?.close();
    // The Autotask sandbox was stopped by a test: its second close fails, the rest of the world closes.
    await w?.close().catch(() => {});
  });

  const call = (method: string, path: string, body?: unknown) =>
    api.call(method, `/v1/accounts/${w.accountId}${path}`, ADMIN, body);
  const linkBody = () => ({
    target: 'autotask',
    credentials: AUTOTASK_CREDENTIALS,
    spinpanelApiKey: w.sp.apiKey,
    settings: { serviceBillingCodeId: BILLING_CODE },
  });

  it('answers 502 target_error with the target’s words when Autotask fails, and logs it with the request id', async () => {
    const links = (await w.app.services.listLinks(w.accountId)).length;
    w.at.configure({ faults: { errorRate: 1 } });
    try {
      const res = await call('POST', '/links', linkBody());
      expect(res.status).toBe(502);
      expectErrorShape(res.body);
      expect(res.body.error.code).toBe('target_error');
      expect(res.body.error.message).toMatch(/HTTP 500/);
      expect(res.body.error.details).toMatchObject({ targetStatus: 500, reason: expect.any(String) });
      const requestId = res.body.error.details.requestId;
      expect(requestId).toEqual(expect.any(String));
      expect(logLines.some((l) => l.reqId === requestId && l.level === 50)).toBe(true);
    } finally {
      w.at.configure({ faults: {} });
    }
    expect((await w.app.services.listLinks(w.accountId)).length).toBe(links);
  }, 60_000);

  it('answers 502 target_error with the target’s reason when Autotask answers 503', async () => {
    const down = nock(w.at.url).persist().get(/.*/).reply(503, 'Service Unavailable');
    try {
      const res = await call('POST', '/links', linkBody());
      expect(res.status).toBe(502);
      expectErrorShape(res.body);
      expect(res.body.error).toMatchObject({
        code: 'target_error',
        message: expect.stringMatching(/HTTP 503.*Service Unavailable/),
        details: { reason: 'Service Unavailable', targetStatus: 503 },
      });
    } finally {
      down.persist(false);
      nock.cleanAll();
    }
  }, 60_000);

  it('answers 503 target_unreachable when Autotask cannot be reached', async () => {
    await w.at.close();
    const res = await call('POST', '/links', linkBody());
    expect(res.status).toBe(503);
    expectErrorShape(res.body);
    expect(res.body.error.code).toBe('target_unreachable');
    expect(res.body.error.details.reason).toEqual(expect.any(String));
    expect(logLines.some((l) => l.reqId === res.body.error.details.requestId && l.level === 50)).toBe(true);
  }, 60_000);

  it('says why a sync is refused and what to do next: suspended, then revoked', async () => {
    await w.app.services.suspendLink(admin, w.accountId, w.link.id);
    const suspended = await call('POST', `/links/${w.link.id}/syncs`, {});
    expect(suspended.status).toBe(409);
    expect(suspended.body.error.message).toMatch(/suspended: resume it/);
    expect(suspended.body.error.details).toMatchObject({ status: 'suspended' });
    await w.app.services.resumeLink(admin, w.accountId, w.link.id);

    const first = await call('POST', `/consents/${w.consent.id}/revoke`);
    expect(first.status).toBe(200);
    const revoked = await call('POST', `/links/${w.link.id}/syncs`, {});
    expect(revoked.status).toBe(409);
    expect(revoked.body.error.message).toMatch(/consent .* was revoked.*grant a new consent and link/);
  });

  it('answers a repeated revoke with that revocation’s state, not a 409', async () => {
    const again = await call('POST', `/consents/${w.consent.id}/revoke`);
    expect(again.status).toBe(200);
    expect(again.body).toMatchObject({
      alreadyRevoked: true,
      consent: { id: w.consent.id, status: 'revoked' },
      closedLinks: [w.link.id],
      links: [{ linkId: w.link.id, unlink: { jobId: expect.any(String) } }],
    });
    expect(again.body.consent.revokedAt).toEqual(expect.any(String));
  });

  it('says which it is when a relink is refused: a revoked consent, or the scope missing', async () => {
    const revoked = await call('POST', '/links', { ...linkBody(), consentId: w.consent.id });
    expect(revoked.status).toBe(409);
    expect(revoked.body.error.message).toMatch(/is revoked .*cannot carry a link again: grant a consent/);
    expect(revoked.body.error.details).toMatchObject({ reason: 'revoked' });

    const readOnly = await call('POST', '/consents', { level: 'company', scopes: ['billing:read'] });
    expect(readOnly.status).toBe(201);
    const lacking = await call('POST', '/links', { ...linkBody(), consentId: readOnly.body.id });
    expect(lacking.status).toBe(409);
    expect(lacking.body.error.message).toMatch(/lacks the scope\(s\) billing:push/);
    expect(lacking.body.error.details).toMatchObject({
      reason: 'scope_missing',
      missingScopes: ['billing:push'],
    });
  });
});
