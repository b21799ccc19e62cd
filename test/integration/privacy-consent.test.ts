import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Actor, getConsent, grantConsent } from '../../src/consent/consents.ts';
import { createLink, getLink } from '../../src/links/links.ts';
import type { PrivacyDeps } from '../../src/privacy/deps.ts';
import { putExclusions } from '../../src/privacy/exclusions.ts';
import { pullForLink } from '../../src/privacy/minimise.ts';
import { reportUserRemoved } from '../../src/privacy/users.ts';
import type { SnapshotSource } from '../../src/spinpanel/snapshot.ts';
import { readAudit } from '../../src/store/audit.ts';
import { acceptingLinkDeps, customerWithContact, privacyDeps } from '../helpers/privacy.ts';
import { type TestStore, testStore } from '../helpers/store.ts';

const acct = 'acct-consent';
const admin: Actor = { userId: 'admin-1', role: 'company_admin' };
const other: Actor = { userId: 'admin-2', role: 'company_admin' };
const user: Actor = { userId: 'user-7', role: 'user' };
const linkBody = (consentId: string) => ({
  target: 'autotask' as const,
  consentId,
  credentials: { userName: 'u', secret: 's', integrationCode: 'X' },
  spinpanelApiKey: 'sp-key-123456',
  settings: {},
});

/** A SpinPanel stand-in that records which customers' subscriptions were asked for. */
function fakeSource(asked: string[]): SnapshotSource {
  return {
    getAccount: async () => ({ id: acct, name: 'A', region: 'westeurope', currency: 'EUR' }),
    listCustomers: async () => [customerWithContact('c1'), customerWithContact('c2')],
    listSubscriptions: async (customerId: string) => {
      asked.push(customerId);
      return [];
    },
  } as unknown as SnapshotSource;
}

describe('consent model: removed users, contacts, opt-outs', () => {
  let t: TestStore;
  let d: PrivacyDeps;
  beforeEach(async () => {
    t = await testStore();
    d = privacyDeps(t);
  });
  afterEach(async () => t.close());

  const grant = (actor: Actor, level: 'user' | 'company', scopes = ['billing:read', 'billing:push']) =>
    grantConsent(t.ctx, actor, acct, { level, scopes: scopes as never }, 'p1');

  it("ends a removed user's user-level consents and keeps the company-level ones it gave", async () => {
    const own = await grant(admin, 'user');
    const company = await grant(admin, 'company');
    const someoneElses = await grant(user, 'user');
    const link = await createLink(t.ctx, acceptingLinkDeps, admin, acct, linkBody(own.id));
    const companyLink = await createLink(t.ctx, acceptingLinkDeps, admin, acct, linkBody(company.id));

    const result = await reportUserRemoved(d, other, acct, 'admin-1');
    expect(result.revoked.map((r) => r.consentId)).toEqual([own.id]);
    expect(result.kept).toEqual([company.id]);
    expect((await getConsent(t.ctx, acct, own.id)).status).toBe('revoked');
    expect((await getConsent(t.ctx, acct, own.id)).revokedBy).toEqual({
      userId: 'system:user-removed',
      role: 'system',
    });
    expect((await getConsent(t.ctx, acct, company.id)).status).toBe('active');
    expect((await getConsent(t.ctx, acct, someoneElses.id)).status).toBe('active');
    expect((await getLink(t.ctx, acct, link.id)).status).toBe('revoked');
    expect((await getLink(t.ctx, acct, companyLink.id)).status).toBe('active');
    const removed = (await readAudit(t.ctx.redis, t.ctx.keys, acct)).find((e) => e.type === 'user.removed');
    expect(removed).toMatchObject({ actor: other, subject: { userId: 'admin-1' } });
    // Reporting it again changes nothing.
    expect((await reportUserRemoved(d, other, acct, 'admin-1')).revoked).toEqual([]);
  });

  it('lets only admins and operators report a removed user', async () => {
    await expect(reportUserRemoved(d, user, acct, 'admin-1')).rejects.toMatchObject({ status: 403 });
  });

  it('pulls without billing contacts unless the consent carries contacts:push', async () => {
    const plain = await grant(admin, 'company');
    const withContacts = await grant(admin, 'company', ['billing:read', 'billing:push', 'contacts:push']);
    const a = await createLink(t.ctx, acceptingLinkDeps, admin, acct, linkBody(plain.id));
    const b = await createLink(t.ctx, acceptingLinkDeps, admin, acct, linkBody(withContacts.id));
    const stripped = await pullForLink(t.ctx, a, fakeSource([]));
    expect(stripped.snapshot.customers.map((c) => c.billingContact)).toEqual([null, null]);
    expect(JSON.stringify(stripped.snapshot)).not.toContain('jan@example.nl');
    const kept = await pullForLink(t.ctx, b, fakeSource([]));
    expect(kept.snapshot.customers[0]!.billingContact?.email).toBe('jan@example.nl');
  });

  it('stores opt-outs per link, audited, and never reads an excluded customer beyond its id', async () => {
    const consent = await grant(admin, 'company');
    const link = await createLink(t.ctx, acceptingLinkDeps, admin, acct, linkBody(consent.id));
    await expect(putExclusions(t.ctx, user, acct, link.id, { customerIds: ['c1'] })).rejects.toMatchObject({
      status: 403,
    });
    expect(await putExclusions(t.ctx, admin, acct, link.id, { customerIds: ['c1', 'c1'] })).toEqual({
      linkId: link.id,
      customerIds: ['c1'],
    });
    const asked: string[] = [];
    const { snapshot } = await pullForLink(t.ctx, link, fakeSource(asked));
    expect(asked).toEqual(['c2']);
    expect(snapshot.customers.map((c) => c.id)).toEqual(['c2']);
    const entry = (await readAudit(t.ctx.redis, t.ctx.keys, acct)).find(
      (e) => e.type === 'exclusions.changed',
    );
    expect(entry?.data).toEqual({ excluded: ['c1'], included: [], total: 1 });
    await putExclusions(t.ctx, admin, acct, link.id, { customerIds: [] });
    const again: string[] = [];
    await pullForLink(t.ctx, link, fakeSource(again));
    expect(again.sort()).toEqual(['c1', 'c2']);
  });
});
