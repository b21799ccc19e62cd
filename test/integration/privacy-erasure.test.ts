import { Queue } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Actor, grantConsent } from '../../src/consent/consents.ts';
import { createLink, type Link } from '../../src/links/links.ts';
import type { PrivacyDeps } from '../../src/privacy/deps.ts';
import { eraseAccount } from '../../src/privacy/erasure.ts';
import { exportAccount } from '../../src/privacy/export.ts';
import { queuePrefix, schedulerId } from '../../src/queue/queues.ts';
import { readAudit } from '../../src/store/audit.ts';
import { acceptingLinkDeps, privacyDeps } from '../helpers/privacy.ts';
import { type TestStore, testStore } from '../helpers/store.ts';

const admin: Actor = { userId: 'admin-1', role: 'company_admin' };
const ops: Actor = { userId: 'ops-1', role: 'operator' };

describe('erasure and export stay inside their account', () => {
  let t: TestStore;
  let d: PrivacyDeps;
  let queue: Queue;
  const links: Record<string, Link> = {};

  beforeEach(async () => {
    t = await testStore();
    d = privacyDeps(t);
    queue = new Queue('sync', { connection: t.ctx.redis, prefix: queuePrefix(t.prefix) });
    // Ids that are prefixes of each other: a careless match on one reaches the other.
    for (const acct of ['acct-1', 'acct-10']) {
      await grantConsent(
        t.ctx,
        admin,
        acct,
        { level: 'company', scopes: ['billing:read', 'billing:push'] },
        'p',
      );
      const link = await createLink(t.ctx, acceptingLinkDeps, admin, acct, {
        target: 'autotask',
        credentials: { userName: 'u', secret: `secret-${acct}`, integrationCode: 'X' },
        spinpanelApiKey: `sp-key-${acct}`,
        settings: {},
      });
      links[acct] = link;
      await queue.upsertJobScheduler(
        schedulerId(acct, link.id),
        { every: 3_600_000 },
        { name: 'sync', data: { accountId: acct, linkId: link.id } },
      );
    }
  });
  afterEach(async () => {
    await queue.close();
    await t.close();
  });

  const keysOf = (acct: string) => t.ctx.redis.keys(`${t.ctx.keys.account(acct)}:*`);
  const eventJobIds = async () =>
    (await t.ctx.redis.xrange(queue.keys.events!, '-', '+')).map(([, f]) => f[f.indexOf('jobId') + 1]);

  it('erasing one account leaves an account whose id it prefixes untouched', async () => {
    const before = await keysOf('acct-10');
    const other = links['acct-10']!.id;
    expect((await eventJobIds()).some((id) => id?.includes(other))).toBe(true);

    const result = await eraseAccount(d, admin, 'acct-1', { graceMs: 0, waitMs: 0 });
    expect(result.unlinkedLinkIds).toEqual([links['acct-1']!.id]);
    expect(await keysOf('acct-1')).toEqual([t.ctx.keys.audit('acct-1')]);
    expect((await keysOf('acct-10')).sort()).toEqual(before.sort());
    expect(await queue.getJobScheduler(schedulerId('acct-10', other))).toBeTruthy();
    expect(await queue.getJobScheduler(schedulerId('acct-1', links['acct-1']!.id))).toBeFalsy();
    const events = await eventJobIds();
    expect(events.some((id) => id?.includes(other))).toBe(true);
    expect(events.some((id) => id?.includes(links['acct-1']!.id))).toBe(false);
  });

  it('names the erased account’s own people by role only, an operator by id', async () => {
    await eraseAccount(d, admin, 'acct-1', { graceMs: 0, waitMs: 0 });
    const [byAdmin] = await readAudit(t.ctx.redis, t.ctx.keys, 'acct-1');
    expect(byAdmin).toMatchObject({ type: 'account.erased', actor: { role: 'company_admin' } });
    expect(JSON.stringify(byAdmin)).not.toContain('admin-1');
    await eraseAccount(d, ops, 'acct-10', { graceMs: 0, waitMs: 0 });
    const [byOps] = await readAudit(t.ctx.redis, t.ctx.keys, 'acct-10');
    expect(byOps?.actor).toEqual(ops);
  });

  it('treats glob characters in an account id as themselves', async () => {
    // Holding nothing itself, `acct-1*` is not found, however many accounts its pattern would match.
    await expect(exportAccount(d, ops, 'acct-1*')).rejects.toMatchObject({ status: 404 });
    await grantConsent(t.ctx, admin, 'acct-1*', { level: 'company', scopes: ['billing:read'] }, 'p');
    const doc = await exportAccount(d, ops, 'acct-1*');
    expect(doc.links).toEqual([]);
    expect(doc.other).toEqual({});
    expect(JSON.stringify(doc)).not.toContain('acct-10');
    await eraseAccount(d, ops, 'acct-1*', { graceMs: 0, waitMs: 0 });
    await eraseAccount(d, ops, 'acct-1?', { graceMs: 0, waitMs: 0 });
    for (const acct of ['acct-1', 'acct-10']) {
      expect(await keysOf(acct)).toContain(t.ctx.keys.credentials(acct, links[acct]!.id));
    }
  });
});
