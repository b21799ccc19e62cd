import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { appendAudit, readAudit, verifyAudit } from '../../src/store/audit.ts';
import { type TestStore, testStore } from '../helpers/store.ts';

const acct = 'acct-audit';
const actor = { userId: 'admin-1', role: 'company_admin' };

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

  it('verifies an untouched chain, each entry linked to the one before', async () => {
    const verdict = await verifyAudit(t.ctx.redis, t.ctx.keys, acct);
    expect(verdict).toEqual({ ok: true, entries: 4, problems: [] });
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
    expect(await verifyAudit(t.ctx.redis, t.ctx.keys, acct)).toEqual({ ok: true, entries: 34, problems: [] });
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
