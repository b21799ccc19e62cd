import { createHash } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { privacyKeys } from '../../src/privacy/keys.ts';
import { MAINTENANCE_QUEUE, RETENTION_SCHEDULER } from '../../src/privacy/maintenance.ts';
import { signWebhook } from '../../src/privacy/webhook.ts';
import { queuePrefix } from '../../src/queue/queues.ts';
import { readAudit } from '../../src/store/audit.ts';
import { type ApiHarness, startApi } from '../helpers/api.ts';
import { AUTOTASK_CREDENTIALS, isWrite, startWorld, type World } from '../helpers/world.ts';

const ADMIN = 'admin-token-0123456789';
const USER = 'user-token-0123456789';
const OPS = 'ops-token-0123456789ab';
const WEBHOOK_SECRET = 'whsec-test-0123456789abcdef';

describe('privacy and data rights over the admin API', () => {
  let w: World;
  let api: ApiHarness;
  let base: string;

  beforeEach(async () => {
    w = await startWorld({ env: { SPINPANEL_WEBHOOK_SECRET: WEBHOOK_SECRET } });
    api = await startApi(w, [
      { token: ADMIN, accountId: w.accountId, role: 'company_admin', userId: 'admin-9' },
      { token: USER, accountId: w.accountId, role: 'user', userId: 'user-3' },
      { token: OPS, accountId: '*', role: 'operator', userId: 'ops-1' },
    ]);
    base = api.base;
  });
  afterEach(async () => {
    await api.close();
    await w.close();
  });

  const call = (method: string, path: string, token?: string, body?: unknown) =>
    api.call(method, path, token, body);
  const hook = async (raw: string, headers: Record<string, string>) => {
    const res = await fetch(`${base}/v1/webhooks/spinpanel`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: raw,
    });
    // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
    return { status: res.status, body: (await res.json()) as any };
  };
  const signed = (event: unknown, at = Math.floor(Date.now() / 1000)) => {
    const raw = JSON.stringify(event);
    const timestamp = String(at);
    return {
      raw,
      headers: {
        'x-spinpanel-timestamp': timestamp,
        'x-spinpanel-signature': signWebhook(WEBHOOK_SECRET, timestamp, raw),
      },
    };
  };
  /** Everything a refused webhook must leave as it was. */
  const state = async () => ({
    consent: (await w.app.services.listConsents(w.accountId)).map((c) => c.status),
    link: (await w.app.services.getLink(w.accountId, w.link.id)).status,
    audit: (await readAudit(w.app.redis, w.app.store.keys, w.accountId)).length,
    remembered: (await w.app.redis.keys(`${w.env.REDIS_PREFIX}:webhook:*`)).length,
  });
  /** Every key, hash and stream of the deployment's queues, as text. */
  const queueText = async () => {
    const parts: string[] = [];
    for (const key of await w.app.redis.keys(`${queuePrefix(w.env.REDIS_PREFIX!)}:*`)) {
      const type = await w.app.redis.type(key);
      if (type === 'hash') parts.push(JSON.stringify(await w.app.redis.hgetall(key)));
      if (type === 'stream') parts.push(JSON.stringify(await w.app.redis.xrange(key, '-', '+')));
      if (type === 'zset') parts.push(JSON.stringify(await w.app.redis.zrange(key, 0, -1)));
      if (type === 'list') parts.push(JSON.stringify(await w.app.redis.lrange(key, 0, -1)));
      parts.push(key);
    }
    return parts.join('\n');
  };
  const accountKeys = async () =>
    (await w.app.redis.keys(privacyKeys(w.app.store.keys).accountPattern(w.accountId))).sort();

  it('revokes on a signed consent.revoked event, as the system, and refuses its replay', async () => {
    const event = {
      id: 'evt-1',
      type: 'consent.revoked',
      data: { accountId: w.accountId, consentId: w.consent.id },
    };
    const { raw, headers } = signed(event);
    const res = await hook(raw, headers);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({ eventId: 'evt-1', outcome: 'revoked' });
    const [consent] = await w.app.services.listConsents(w.accountId);
    expect(consent).toMatchObject({
      status: 'revoked',
      revokedBy: { userId: 'system:spinpanel-webhook', role: 'system' },
    });
    expect((await w.app.services.getLink(w.accountId, w.link.id)).status).not.toBe('active');
    const before = await state();
    const replay = await hook(raw, headers);
    expect(replay.status).toBe(409);
    expect(replay.body.error.code).toBe('webhook_replay');
    expect(await state()).toEqual(before);
  });

  it('refuses a bad signature, a stale timestamp or no signature, and changes nothing', async () => {
    const event = {
      id: 'evt-2',
      type: 'consent.revoked',
      data: { accountId: w.accountId, consentId: w.consent.id },
    };
    const before = await state();
    const good = signed(event);
    const attempts = [
      {
        raw: good.raw,
        headers: {
          ...good.headers,
          'x-spinpanel-signature': signWebhook(
            'wrong-secret-0123456',
            good.headers['x-spinpanel-timestamp'],
            good.raw,
          ),
        },
      },
      { raw: good.raw.replace('evt-2', 'evt-3'), headers: good.headers },
      signed(event, Math.floor(Date.now() / 1000) - 301),
      { raw: good.raw, headers: {} },
    ];
    for (const a of attempts) {
      const res = await hook(a.raw, a.headers);
      expect(res.status).toBe(401);
      expect(await state()).toEqual(before);
    }
    // None of them burnt the event id: the genuine event still goes through.
    expect((await hook(good.raw, good.headers)).status).toBe(200);
    expect((await state()).consent).toEqual(['revoked']);
  });

  it('ends user-level consents on user.removed, by webhook or by an admin, and keeps company ones', async () => {
    const own = await w.app.services.grantConsent({ userId: 'user-3', role: 'user' }, w.accountId, {
      level: 'user',
      scopes: ['billing:read'],
    });
    expect((await call('POST', `/v1/accounts/${w.accountId}/users/user-3/removed`, USER, {})).status).toBe(
      403,
    );
    const res = await call('POST', `/v1/accounts/${w.accountId}/users/user-3/removed`, ADMIN, {});
    expect(res.status).toBe(200);
    expect(res.body.revoked.map((r: { consentId: string }) => r.consentId)).toEqual([own.id]);
    // The company-level consent its admin gave survives that admin's removal (reported by SpinPanel).
    const { raw, headers } = signed({
      id: 'evt-4',
      type: 'user.removed',
      data: { accountId: w.accountId, userId: 'admin-1' },
    });
    const hooked = await hook(raw, headers);
    expect(hooked.status).toBe(200);
    expect(hooked.body.result).toMatchObject({ revoked: [], kept: [w.consent.id] });
    expect((await w.app.services.getLink(w.accountId, w.link.id)).status).toBe('active');
  });

  it('never reads an opted-out customer beyond its id, and pushes nothing for it', async () => {
    const [excluded, ...others] = w.sp.data.customers;
    const put = await call('PUT', `/v1/accounts/${w.accountId}/links/${w.link.id}/exclusions`, ADMIN, {
      customerIds: [excluded!.id],
    });
    expect(put.status).toBe(200);
    expect(
      (
        await call('PUT', `/v1/accounts/${w.accountId}/links/${w.link.id}/exclusions`, USER, {
          customerIds: [],
        })
      ).status,
    ).toBe(403);
    const bad = await call('PUT', `/v1/accounts/${w.accountId}/links/${w.link.id}/exclusions`, ADMIN, {
      customerIds: 'x',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.error.message).toMatch(/customerIds/);

    const run = await w.sync();
    expect(run.status).toBe('succeeded');
    const paths = w.sp.requests.map((r) => r.path);
    expect(paths.some((p) => p.includes(excluded!.id))).toBe(false);
    for (const c of others) expect(paths).toContain(`/v1/customers/${c.id}/subscriptions`);
    const contracts = [...w.at.db.contracts.values()].map((c) => c.contractNumber);
    expect(contracts).not.toContain(`SP-${excluded!.id}`);
    for (const c of others) expect(contracts).toContain(`SP-${c.id}`);
    const company = [...w.at.db.companies.values()].find((c) => c.companyName === excluded!.name)!;
    const writes = w.at.requests.filter(isWrite).map((r) => JSON.stringify(r.body ?? ''));
    expect(writes.length).toBeGreaterThan(0);
    expect(writes.filter((b) => b.includes(`"companyID":${company.id}`) || b.includes(excluded!.id))).toEqual(
      [],
    );
    expect(JSON.stringify(run)).not.toContain(excluded!.id);
  });

  it('exports every record held for the account as one document, with no secret', async () => {
    await call('PUT', `/v1/accounts/${w.accountId}/links/${w.link.id}/mappings`, ADMIN, {
      customers: { [w.sp.data.customers[0]!.id]: { companyId: 123 } },
    });
    await call('PUT', `/v1/accounts/${w.accountId}/links/${w.link.id}/exclusions`, ADMIN, {
      customerIds: [w.sp.data.customers[1]!.id],
    });
    const run = await w.sync();
    expect((await call('GET', `/v1/accounts/${w.accountId}/export`, USER)).status).toBe(403);
    const res = await call('GET', `/v1/accounts/${w.accountId}/export`, ADMIN);
    expect(res.status).toBe(200);
    const doc = res.body;
    expect(doc.consents.map((c: { id: string }) => c.id)).toEqual([w.consent.id]);
    expect(doc.links).toHaveLength(1);
    const [link] = doc.links;
    expect(link).toMatchObject({ id: w.link.id, credentialsStored: true });
    expect(link.mapping.customers[w.sp.data.customers[0]!.id]).toEqual({ companyId: 123 });
    expect(link.excludedCustomerIds).toEqual([w.sp.data.customers[1]!.id]);
    expect(link.runs.map((r: { id: string }) => r.id)).toContain(run.id);
    // What the sync made in Autotask, by product and customer: the ownership ledger.
    expect(Object.keys(link.ledger.items).length).toBeGreaterThan(0);
    expect(Object.keys(link.ledger.lines).length).toBeGreaterThan(0);
    const types = doc.audit.map((e: { type: string }) => e.type);
    for (const t of [
      'consent.granted',
      'link.created',
      'mapping.changed',
      'exclusions.changed',
      'account.exported',
    ]) {
      expect(types).toContain(t);
    }
    // Every key held for the account is shown by a section, listed under `other`, or is the secret itself.
    const text = JSON.stringify(doc);
    const sealed = (await w.app.redis.get(w.app.store.keys.credentials(w.accountId, w.link.id)))!;
    for (const key of await accountKeys()) {
      const suffix = key.slice(w.app.store.keys.account(w.accountId).length + 1);
      const shown =
        /^(consents|links|audit)$/.test(suffix) ||
        /^(consent|run):/.test(suffix) ||
        /^link:[^:]+(:(mapping|exclusions|runs|ledger|credentials|lock))?$/.test(suffix) ||
        suffix in doc.other;
      expect(shown, suffix).toBe(true);
    }
    for (const secret of [AUTOTASK_CREDENTIALS.secret, w.sp.apiKey, sealed, sealed.split('.').at(-1)!]) {
      expect(text).not.toContain(secret);
    }
    expect(text).not.toMatch(/"v1\.[A-Za-z0-9_-]+\./);
  });

  it('erases the account: revoked, unscheduled, every key and job gone but one audit entry', async () => {
    await w.sync();
    await call('PUT', `/v1/accounts/${w.accountId}/links/${w.link.id}/exclusions`, ADMIN, {
      customerIds: ['x'],
    });
    const jobIdsBefore = (await w.app.queue.getJobs(['completed', 'failed', 'delayed', 'waiting'])).map(
      (j) => j?.id,
    );
    expect(jobIdsBefore.length).toBeGreaterThan(0);
    expect((await call('DELETE', `/v1/accounts/${w.accountId}/data`, USER)).status).toBe(403);

    const res = await call('DELETE', `/v1/accounts/${w.accountId}/data`, ADMIN);
    expect(res.status).toBe(200);
    expect(res.body).toMatchObject({
      revokedConsentIds: [w.consent.id],
      unlinkedLinkIds: [w.link.id],
      unconfirmed: [],
    });
    expect(res.body.note).toMatch(/not retroactive/);

    expect(await accountKeys()).toEqual([w.app.store.keys.audit(w.accountId)]);
    const audit = await readAudit(w.app.redis, w.app.store.keys, w.accountId);
    expect(audit.map((e) => e.type)).toEqual(['account.erased']);
    // The asker by role, and counts only: nothing about the customers, the link or the people behind them.
    expect(audit[0]!.actor).toEqual({ role: 'company_admin' });
    expect(Object.values(audit[0]!.data ?? {}).every((v) => typeof v === 'number')).toBe(true);
    expect(await w.app.redis.sismember(w.app.store.keys.accounts(), w.accountId)).toBe(0);
    // No job, scheduler or queue event line of the account is left either.
    const queueDump = await queueText();
    expect(queueDump).not.toContain(w.accountId);
    for (const id of jobIdsBefore) expect(queueDump).not.toContain(`"jobId","${id}"`);
    // The link can no longer act, and a second erasure finds nothing more to delete.
    expect((await call('GET', `/v1/accounts/${w.accountId}/links/${w.link.id}`, ADMIN)).status).toBe(404);
    const again = await call('DELETE', `/v1/accounts/${w.accountId}/data`, OPS);
    expect(again.body).toMatchObject({ revokedConsentIds: [], keysDeleted: 1 });
  });

  it('has every worker process schedule the retention sweep', async () => {
    const q = new Queue(MAINTENANCE_QUEUE, {
      connection: w.app.redis,
      prefix: queuePrefix(w.env.REDIS_PREFIX!),
    });
    try {
      let scheduler = await q.getJobScheduler(RETENTION_SCHEDULER);
      for (let i = 0; i < 100 && !scheduler; i++) {
        await delay(20);
        scheduler = await q.getJobScheduler(RETENTION_SCHEDULER);
      }
      expect(scheduler).toMatchObject({ every: w.app.config.RETENTION_SWEEP_MINUTES * 60_000 });
    } finally {
      await q.close();
    }
  });

  it('serves the audit trail with its verification to admins and operators only', async () => {
    const res = await call('GET', `/v1/accounts/${w.accountId}/audit`, OPS);
    expect(res.status).toBe(200);
    const auditKeyId = w.env.AUDIT_KEYS!.split(':')[0];
    expect(res.body.verified).toEqual({
      ok: true,
      entries: res.body.items.length,
      legacyUnkeyed: 0,
      keyIds: [auditKeyId],
      problems: [],
    });
    expect(res.body.items.map((e: { type: string }) => e.type)).toEqual(['consent.granted', 'link.created']);
    expect(res.body.items.map((e: { keyId: string }) => e.keyId)).toEqual([auditKeyId, auditKeyId]);
    expect((await call('GET', `/v1/accounts/${w.accountId}/audit`, USER)).status).toBe(403);
  });

  it('shows a trail rewritten through Redis without the audit key as failed, from its first entry', async () => {
    // Someone with Redis write access drops the link's creation and recomputes every hash with SHA-256.
    const key = w.app.store.keys.audit(w.accountId);
    const rows = await w.app.redis.xrange(key, '-', '+');
    await w.app.redis.del(key);
    let prev = '0'.repeat(64);
    for (const [id, fields] of rows) {
      const body = fields[fields.indexOf('body') + 1]!.replace('link.created', 'link.viewed');
      const hash = createHash('sha256').update(prev).update('\n').update(body).digest('hex');
      const keyId = fields[fields.indexOf('keyId') + 1]!;
      await w.app.redis.xadd(key, id, 'body', body, 'prevHash', prev, 'hash', hash, 'keyId', keyId);
      prev = hash;
    }
    const res = await call('GET', `/v1/accounts/${w.accountId}/audit`, OPS);
    expect(res.status).toBe(200);
    expect(res.body.verified.ok).toBe(false);
    expect(res.body.verified.problems[0]).toEqual({
      id: rows[0]![0],
      problem: expect.stringMatching(
        /does not match its HMAC under audit key .* \(edited, or rewritten without the key\)/,
      ),
    });
  });

  it('answers 404 to an export or audit of an account it holds nothing for, and writes nothing', async () => {
    const ghost = 'acct-made-up-404';
    const before = (await w.app.redis.keys(`${w.env.REDIS_PREFIX}:*`)).sort();
    for (const path of [`/v1/accounts/${ghost}/export`, `/v1/accounts/${ghost}/audit`]) {
      const res = await call('GET', path, OPS);
      expect(res.status, path).toBe(404);
      expect(res.body.error).toMatchObject({ code: 'not_found', message: expect.stringContaining(ghost) });
    }
    expect(await w.app.redis.exists(w.app.store.keys.audit(ghost))).toBe(0);
    expect((await w.app.redis.keys(`${w.env.REDIS_PREFIX}:*`)).sort()).toEqual(before);
    // The account that does exist still answers.
    expect((await call('GET', `/v1/accounts/${w.accountId}/export`, OPS)).status).toBe(200);
  });
});

describe('erasure while a sync is running', () => {
  let w: World;
  beforeEach(async () => {
    w = await startWorld({ autotaskLatencyMs: 40 });
  });
  afterEach(async () => w.close());

  it('stops the run first, so nothing it writes on the way out survives the erasure', async () => {
    const { runId } = await w.app.services.syncNow(
      { userId: 'admin-1', role: 'company_admin' },
      w.accountId,
      w.link.id,
      { dryRun: false },
    );
    for (let i = 0; i < 200 && w.at.requests.filter(isWrite).length === 0; i++) await delay(20);
    expect(w.at.requests.filter(isWrite).length).toBeGreaterThan(0);
    const result = await w.app.services.eraseAccount({ userId: 'ops-1', role: 'operator' }, w.accountId);
    const erasedAt = Date.now();
    expect(result.unconfirmed).toEqual([]);
    await delay(500);
    const keys = await w.app.redis.keys(privacyKeys(w.app.store.keys).accountPattern(w.accountId));
    expect(keys).toEqual([w.app.store.keys.audit(w.accountId)]);
    expect(await w.app.queue.getJob(runId)).toBeUndefined();
    expect(w.at.requests.filter((r) => r.at > erasedAt)).toEqual([]);
  });
});
