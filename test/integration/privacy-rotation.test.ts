import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Actor, grantConsent } from '../../src/consent/consents.ts';
import { createLink, type Link, readSecrets } from '../../src/links/links.ts';
import { rotateCredentials } from '../../src/links/rotate.ts';
import { Vault, type VaultKey } from '../../src/links/vault.ts';
import type { StoreContext } from '../../src/store/context.ts';
import { acceptingLinkDeps } from '../helpers/privacy.ts';
import { dumpPrefix, type TestStore, testKey, testStore } from '../helpers/store.ts';

const admin: Actor = { userId: 'admin-1', role: 'company_admin' };
const SECRET = 'TopSecret-rotation-42';
const body = {
  target: 'autotask' as const,
  credentials: { userName: 'api@msp.example', secret: SECRET, integrationCode: 'X' },
  spinpanelApiKey: 'sp-key-rotation',
  settings: {},
};

describe('credential key rotation', () => {
  let t: TestStore;
  let old: VaultKey;
  let links: { acct: string; link: Link }[];
  const withKeys = (...k: VaultKey[]): StoreContext => ({ ...t.ctx, vault: new Vault(k) });
  const sealedOf = (ctx: StoreContext, acct: string, link: Link) =>
    ctx.redis.get(ctx.keys.credentials(acct, link.id));

  beforeEach(async () => {
    t = await testStore();
    old = testKey();
    const before = withKeys(old);
    links = [];
    for (const acct of ['acct-r1', 'acct-r2']) {
      await grantConsent(
        before,
        admin,
        acct,
        { level: 'company', scopes: ['billing:read', 'billing:push'] },
        'p',
      );
      links.push({ acct, link: await createLink(before, acceptingLinkDeps, admin, acct, body) });
    }
  });
  afterEach(async () => t.close());

  it('re-encrypts lazily when a link reads credentials sealed under an old key', async () => {
    const current = testKey();
    const ctx = withKeys(current, old);
    const { acct, link } = links[0]!;
    expect(Vault.keyIdOf((await sealedOf(ctx, acct, link))!)).toBe(old.id);
    expect((await readSecrets(ctx, acct, link.id)).target).toEqual(body.credentials);
    expect(Vault.keyIdOf((await sealedOf(ctx, acct, link))!)).toBe(current.id);
    // The old key can go now: the current one alone opens it.
    expect((await readSecrets(withKeys(current), acct, link.id)).spinpanelApiKey).toBe('sp-key-rotation');
    // The other link was not read, so it is still under the old key.
    expect(Vault.keyIdOf((await sealedOf(ctx, links[1]!.acct, links[1]!.link))!)).toBe(old.id);
  });

  it('rotate-credentials re-encrypts every link, is idempotent, and audits it', async () => {
    const current = testKey();
    const ctx = withKeys(current, old);
    const report = await rotateCredentials(ctx);
    expect(report.rotated.map((r) => r.linkId).sort()).toEqual(links.map((l) => l.link.id).sort());
    expect(report.rotated.every((r) => r.from === old.id)).toBe(true);
    expect(report.failed).toEqual([]);
    for (const { acct, link } of links) {
      expect((await readSecrets(withKeys(current), acct, link.id)).target).toEqual(body.credentials);
    }
    expect(await rotateCredentials(ctx)).toMatchObject({ rotated: [], current: 2, failed: [] });
    const dump = await dumpPrefix(t.ctx.redis, t.prefix);
    expect(dump).toContain('credentials.rotated');
    expect(dump).not.toContain(SECRET);
  });

  it('reports, and leaves untouched, credentials no listed key opens', async () => {
    const { acct, link } = links[0]!;
    const before = await sealedOf(t.ctx, acct, link);
    const report = await rotateCredentials(withKeys(testKey()));
    expect(report.rotated).toEqual([]);
    expect(report.failed).toHaveLength(2);
    expect(report.failed[0]!.error).toMatch(/not in CREDENTIALS_KEYS/);
    expect(await sealedOf(t.ctx, acct, link)).toBe(before);
    await expect(readSecrets(withKeys(testKey()), acct, link.id)).rejects.toThrow(/not in CREDENTIALS_KEYS/);
  });

  it('never brings back credentials destroyed while a read was re-sealing them', async () => {
    const { acct, link } = links[0]!;
    const key = t.ctx.keys.credentials(acct, link.id);
    const ctx = withKeys(testKey(), old);
    // Destroy the credentials between the read and the swap: the swap must not write them back.
    const realGet = ctx.redis.get.bind(ctx.redis);
    const redis = Object.create(ctx.redis) as typeof ctx.redis;
    redis.get = (async (k: string) => {
      const value = await realGet(k);
      if (k === key) await ctx.redis.del(key);
      return value;
    }) as typeof redis.get;
    await readSecrets({ ...ctx, redis }, acct, link.id);
    expect(await t.ctx.redis.exists(key)).toBe(0);
  });
});
