import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CredentialsRejectedError } from '../../connectors/types.ts';
import { type Actor, grantConsent, listConsents } from '../../src/consent/consents.ts';
import { Gate, GateClosedError, RequestCounter } from '../../src/consent/gate.ts';
import { revokeConsent } from '../../src/consent/revoke.ts';
import { AppError } from '../../src/errors.ts';
import { type CreateLinkDeps, createLink, getLink, readSecrets } from '../../src/links/links.ts';
import { readAudit } from '../../src/store/audit.ts';
import type { StoreContext } from '../../src/store/context.ts';
import { dumpPrefix, type TestStore, testStore } from '../helpers/store.ts';

const admin: Actor = { userId: 'admin-1', role: 'company_admin' };
const user: Actor = { userId: 'user-7', role: 'user' };
const acct = 'acct-1';
const okDeps: CreateLinkDeps = {
  spinpanelAccount: async (_key, under) => under.accountId,
  verify: async () => ({ displayName: 'Sandbox DB' }),
  parseSettings: (_t, s) => s,
  defaultEveryMinutes: 60,
};
/** A company-level consent with the scopes a link needs, given by the admin. */
const grantBilling = (ctx: StoreContext) =>
  grantConsent(ctx, admin, acct, { level: 'company', scopes: ['billing:read', 'billing:push'] }, 'p1');
const body = {
  target: 'autotask' as const,
  credentials: { userName: 'api@msp.example', secret: 'TopSecret-42', integrationCode: 'X' },
  spinpanelApiKey: 'sp-key-123456',
  settings: {},
};

describe('consent and links', () => {
  let t: TestStore;
  beforeEach(async () => {
    t = await testStore();
  });
  afterEach(async () => t.close());

  it('lets a user consent only for itself and an admin for the company', async () => {
    await expect(
      grantConsent(t.ctx, user, acct, { level: 'company', scopes: ['billing:read'] }, 'p1'),
    ).rejects.toThrow(/company admin or a reseller/);
    const own = await grantConsent(t.ctx, user, acct, { level: 'user', scopes: ['billing:read'] }, 'p1');
    expect(own.grantedBy).toEqual({ userId: 'user-7', role: 'user' });
    const company = await grantBilling(t.ctx);
    expect(company.policyVersion).toBe('p1');
    expect((await listConsents(t.ctx, acct)).map((c) => c.id)).toEqual([own.id, company.id]);
    await expect(
      grantConsent(
        t.ctx,
        admin,
        acct,
        { level: 'company', scopes: ['billing:read'], policyVersion: 'old' },
        'p1',
      ),
    ).rejects.toThrow(/current privacy policy version "p1"/);
  });

  it('refuses a link without an active consent carrying the billing scopes', async () => {
    await expect(createLink(t.ctx, okDeps, admin, acct, body)).rejects.toMatchObject({
      code: 'consent_required',
    });
    await grantConsent(t.ctx, admin, acct, { level: 'company', scopes: ['billing:read'] }, 'p1');
    await expect(createLink(t.ctx, okDeps, admin, acct, body)).rejects.toMatchObject({
      code: 'consent_required',
    });
  });

  it('refuses linking by a plain user', async () => {
    await grantBilling(t.ctx);
    await expect(createLink(t.ctx, okDeps, user, acct, body)).rejects.toMatchObject({ status: 403 });
  });

  it('saves nothing when the target rejects the credentials, and quotes its reason', async () => {
    await grantBilling(t.ctx);
    const deps = {
      ...okDeps,
      verify: async () => {
        throw new CredentialsRejectedError('Zone information could not be determined');
      },
    };
    await expect(createLink(t.ctx, deps, admin, acct, body)).rejects.toThrow(
      /Zone information could not be determined/,
    );
    expect(await t.ctx.redis.zcard(t.ctx.keys.links(acct))).toBe(0);
  });

  it('stores credentials only sealed: no plaintext secret anywhere in Redis', async () => {
    await grantBilling(t.ctx);
    const link = await createLink(t.ctx, okDeps, admin, acct, body);
    const dump = await dumpPrefix(t.ctx.redis, t.prefix);
    expect(dump).not.toContain('TopSecret-42');
    expect(dump).not.toContain('sp-key-123456');
    expect(await readSecrets(t.ctx, acct, link.id)).toEqual({
      target: body.credentials,
      spinpanelApiKey: body.spinpanelApiKey,
    });
    const audit = await readAudit(t.ctx.redis, t.ctx.keys, acct);
    expect(audit.map((e) => e.type)).toEqual(['consent.granted', 'link.created']);
    expect(JSON.stringify(audit)).not.toContain('TopSecret');
  });

  it('revoking consent closes the gate at once: epoch moves, status revoked, audit written', async () => {
    const consent = await grantBilling(t.ctx);
    const link = await createLink(t.ctx, okDeps, admin, acct, body);
    const gate = new Gate(t.ctx.redis, t.ctx.keys);
    const ref = { accountId: acct, linkId: link.id, epoch: link.epoch };
    await gate.assertOpen(ref);
    await expect(revokeConsent(t.ctx, user, acct, consent.id)).rejects.toMatchObject({ status: 403 });
    const result = await revokeConsent(t.ctx, admin, acct, consent.id);
    expect(result.closedLinkIds).toEqual([link.id]);
    const after = await getLink(t.ctx, acct, link.id);
    expect(after).toMatchObject({ status: 'revoked', epoch: link.epoch + 1 });
    await expect(gate.assertOpen(ref)).rejects.toBeInstanceOf(GateClosedError);
    await expect(revokeConsent(t.ctx, admin, acct, consent.id)).rejects.toBeInstanceOf(AppError);
    const types = (await readAudit(t.ctx.redis, t.ctx.keys, acct)).map((e) => e.type);
    expect(types.at(-1)).toBe('consent.revoked');
  });

  it('a revocation during credential verification wins: the link is not saved', async () => {
    const consent = await grantBilling(t.ctx);
    const deps = {
      ...okDeps,
      verify: async () => {
        await revokeConsent(t.ctx, admin, acct, consent.id);
        return { displayName: 'late' };
      },
    };
    await expect(createLink(t.ctx, deps, admin, acct, body)).rejects.toThrow(
      /revoked while the link was being made/,
    );
    expect(await t.ctx.redis.zcard(t.ctx.keys.links(acct))).toBe(0);
  });
});

describe('the gate', () => {
  let t: TestStore;
  let server: Server;
  let hits = 0;
  let url = '';
  beforeEach(async () => {
    t = await testStore();
    hits = 0;
    server = createServer((_req, res) => {
      hits++;
      res.end('{}');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  afterEach(async () => {
    await new Promise((r) => server.close(r));
    await t.close();
  });

  it('lets requests out only while the link is active under the same epoch, and counts them', async () => {
    const consent = await grantBilling(t.ctx);
    const link = await createLink(t.ctx, okDeps, admin, acct, body);
    const gate = new Gate(t.ctx.redis, t.ctx.keys);
    const counter = new RequestCounter();
    const http = gate.client(
      { accountId: acct, linkId: link.id, epoch: link.epoch },
      { timeoutMs: 2000, counter },
    );
    await http.get(`${url}/a`);
    await http.get(`${url}/b`);
    expect(hits).toBe(2);
    expect(counter.total).toBe(2);

    await revokeConsent(t.ctx, admin, acct, consent.id);
    await expect(http.get(`${url}/c`)).rejects.toBeInstanceOf(GateClosedError);
    expect(hits).toBe(2);

    const stale = gate.client({ accountId: acct, linkId: link.id, epoch: 99 }, { timeoutMs: 2000 });
    await expect(stale.get(`${url}/d`)).rejects.toThrow(/may not act/);
    expect(hits).toBe(2);
  });

  it('refuses requests of a cancelled run before they leave', async () => {
    await grantBilling(t.ctx);
    const link = await createLink(t.ctx, okDeps, admin, acct, body);
    const ac = new AbortController();
    const http = new Gate(t.ctx.redis, t.ctx.keys).client(
      { accountId: acct, linkId: link.id, epoch: link.epoch },
      { timeoutMs: 2000, signal: ac.signal },
    );
    ac.abort();
    await expect(http.get(`${url}/x`)).rejects.toThrow(/cancelled/);
    expect(hits).toBe(0);
  });
});
