import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Actor, grantConsent } from '../../src/consent/consents.ts';
import { retentionFromConfig } from '../../src/privacy/retention.ts';
import { createPrivacyServices } from '../../src/privacy/services.ts';
import { appendAudit, readAudit, verifyAudit } from '../../src/store/audit.ts';
import { privacyDeps } from '../helpers/privacy.ts';
import { dumpPrefix, type TestStore, testStore } from '../helpers/store.ts';

const acct = 'acct-audit';
const actor: Actor = { userId: 'admin-1', role: 'company_admin' };

describe('audit trail', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await testStore();
    for (const type of ['consent.granted', 'link.created', 'mapping.changed', 'consent.revoked']) {
      await appendAudit(t.ctx.redis, t.ctx.keys, acct, { type, actor, data: { n: 1 } });
    }
  });
  afterEach(async () => t.close());

  const rows = () => t.ctx.redis.xrange(t.ctx.keys.audit(acct), '-', '+');
  const auditKeyId = () => t.auditKeys.split(':')[0];

  it('verifies an untouched chain, each entry linked to the one before', async () => {
    const verdict = await verifyAudit(t.ctx.redis, t.ctx.keys, acct);
    expect(verdict).toEqual({ ok: true, entries: 4, legacyUnkeyed: 0, keyIds: [auditKeyId()], problems: [] });
    const entries = await readAudit(t.ctx.redis, t.ctx.keys, acct);
    expect(entries[1]!.prevHash).toBe(entries[0]!.hash);
  });

  it('catches an edited entry, even when the stream is rebuilt with the same ids', async () => {
    const all = await rows();
    const key = t.ctx.keys.audit(acct);
    await t.ctx.redis.del(key);
    for (const [id, fields] of all) {
      const copy = [...fields];
      const i = copy.indexOf('body');
      if (id === all[1]![0]) copy[i + 1] = copy[i + 1]!.replace('"n":1', '"n":2');
      await t.ctx.redis.xadd(key, id, ...copy);
    }
    const verdict = await verifyAudit(t.ctx.redis, t.ctx.keys, acct);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems).toEqual([{ id: all[1]![0], problem: expect.stringMatching(/edited/) }]);
  });

  it('catches a removed entry in the middle and at the end', async () => {
    const all = await rows();
    await t.ctx.redis.xdel(t.ctx.keys.audit(acct), all[1]![0]);
    const middle = await verifyAudit(t.ctx.redis, t.ctx.keys, acct);
    expect(middle.ok).toBe(false);
    expect(middle.problems.map((p) => p.problem).join('\n')).toMatch(/removed or reordered/);

    const t2 = await testStore();
    try {
      for (const type of ['a', 'b', 'c']) await appendAudit(t2.ctx.redis, t2.ctx.keys, acct, { type, actor });
      const last = (await t2.ctx.redis.xrange(t2.ctx.keys.audit(acct), '-', '+')).at(-1)![0];
      await t2.ctx.redis.xdel(t2.ctx.keys.audit(acct), last);
      const tail = await verifyAudit(t2.ctx.redis, t2.ctx.keys, acct);
      expect(tail.ok).toBe(false);
      expect(tail.problems.map((p) => p.problem).join('\n')).toMatch(/3 entries were appended but 2 remain/);
    } finally {
      await t2.close();
    }
  });

  it('catches entries put back in another order, even with fresh ids', async () => {
    const all = await rows();
    const key = t.ctx.keys.audit(acct);
    await t.ctx.redis.del(key);
    for (const i of [0, 2, 1, 3]) await t.ctx.redis.xadd(key, '*', ...all[i]![1]);
    const verdict = await verifyAudit(t.ctx.redis, t.ctx.keys, acct);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems.map((p) => p.problem).join('\n')).toMatch(/removed or reordered/);
  });

  it('catches a trail emptied of every entry', async () => {
    const key = t.ctx.keys.audit(acct);
    await t.ctx.redis.xtrim(key, 'MAXLEN', 0);
    expect(await t.ctx.redis.exists(key)).toBe(1);
    const verdict = await verifyAudit(t.ctx.redis, t.ctx.keys, acct);
    expect(verdict).toMatchObject({ ok: false, entries: 0 });
    expect(verdict.problems.map((p) => p.problem).join('\n')).toMatch(/4 entries were appended but 0 remain/);
  });

  it('keeps one unbroken chain when many append at once on one shared connection', async () => {
    // The app shares one connection: with WATCH/MULTI one caller's EXEC cleared another's WATCH and forked it.
    await Promise.all(
      Array.from({ length: 30 }, (_, i) =>
        appendAudit(t.ctx.redis, t.ctx.keys, acct, { type: `burst.${i}`, actor }),
      ),
    );
    expect(await verifyAudit(t.ctx.redis, t.ctx.keys, acct)).toMatchObject({
      ok: true,
      entries: 34,
      problems: [],
    });
  });

  it('stores no personal data in an entry, whatever the caller passes', async () => {
    await appendAudit(t.ctx.redis, t.ctx.keys, acct, {
      type: 'test',
      actor,
      data: { email: 'jan@example.nl', contact: { name: 'Jan' }, note: 'from jan@example.nl' },
    });
    const raw = JSON.stringify(await rows());
    expect(raw).not.toContain('jan@example.nl');
    expect(raw).not.toContain('Jan');
    expect((await verifyAudit(t.ctx.redis, t.ctx.keys, acct)).ok).toBe(true);
  });
});

describe('export and audit of an account the connector holds nothing for', () => {
  let t: TestStore;
  let services: ReturnType<typeof createPrivacyServices>;
  const ops: Actor = { userId: 'ops-1', role: 'operator' };
  beforeEach(async () => {
    t = await testStore();
    const d = privacyDeps(t);
    services = createPrivacyServices({ ...d, retention: retentionFromConfig(d.config) });
  });
  afterEach(async () => t.close());

  it('answers 404 for a made-up account id and writes nothing, not even an audit entry', async () => {
    await expect(services.exportAccount(ops, 'acct-made-up')).rejects.toMatchObject({
      code: 'not_found',
      status: 404,
    });
    await expect(services.readAudit(ops, 'acct-made-up')).rejects.toMatchObject({ status: 404 });
    await expect(services.verifyAudit('acct-made-up')).rejects.toMatchObject({ status: 404 });
    expect(await t.ctx.redis.exists(t.ctx.keys.audit('acct-made-up'))).toBe(0);
    expect(await dumpPrefix(t.ctx.redis, t.prefix)).toBe('');
  });

  it('still refuses a plain user before saying whether the account exists', async () => {
    const user: Actor = { userId: 'u-1', role: 'user' };
    await expect(services.exportAccount(user, 'acct-made-up')).rejects.toMatchObject({ status: 403 });
    await expect(services.readAudit(user, 'acct-made-up')).rejects.toMatchObject({ status: 403 });
  });

  it('exports an account that holds a consent, and serves the trail of an erased one', async () => {
    await grantConsent(t.ctx, actor, 'acct-real', { level: 'company', scopes: ['billing:read'] }, 'p');
    const doc = await services.exportAccount(ops, 'acct-real');
    expect(doc.audit.map((e) => e.type)).toEqual(['consent.granted', 'account.exported']);
    await services.eraseAccount(ops, 'acct-real', { graceMs: 0, waitMs: 0 });
    // Only the erasure's entry is left, and it is still the account's record to show.
    const trail = await services.readAudit(ops, 'acct-real');
    expect(trail.items.map((e) => e.type)).toEqual(['account.erased']);
  });
});
