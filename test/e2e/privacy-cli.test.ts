import { execFile } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Actor, grantConsent } from '../../src/consent/consents.ts';
import { createLink } from '../../src/links/links.ts';
import { Vault, type VaultKey } from '../../src/links/vault.ts';
import { appendAudit } from '../../src/store/audit.ts';
import { REDIS_URL, type TestStore, testKey, testStore } from '../helpers/store.ts';

const admin: Actor = { userId: 'admin-1', role: 'company_admin' };
const acct = 'acct-cli';

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string>): Promise<Result> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      ['bin/billing-sync.js', ...args],
      { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

// Each command is a fresh Node process (tsx compiles on start): slow on a busy machine, hence the timeout.
describe('billing-sync privacy commands', { timeout: 120_000 }, () => {
  let t: TestStore;
  let key: VaultKey;
  let env: Record<string, string>;
  const keyEnv = (...keys: VaultKey[]) => keys.map((k) => `${k.id}:${k.key.toString('base64')}`).join(',');

  beforeEach(async () => {
    t = await testStore();
    key = testKey();
    env = { REDIS_URL, REDIS_PREFIX: t.prefix, CREDENTIALS_KEYS: keyEnv(key), LOG_LEVEL: 'silent' };
  });
  afterEach(async () => t.close());

  it('refuses to start outside ALLOWED_REGIONS, naming both', async () => {
    const res = await cli(['export', acct], { ...env, DATA_REGION: 'eastus' });
    expect(res.code).not.toBe(0);
    expect(res.stderr).toMatch(/DATA_REGION "eastus" is not in ALLOWED_REGIONS \(westeurope, northeurope\)/);
    expect(res.stdout).toBe('');
    // Nothing was written, not even the export's audit entry.
    expect(await t.ctx.redis.exists(t.ctx.keys.audit(acct))).toBe(0);
  });

  it('verifies the audit trail and exits 1 once an entry is edited', async () => {
    for (const type of ['a', 'b', 'c'])
      await appendAudit(t.ctx.redis, t.ctx.keys, acct, { type, actor: admin });
    const ok = await cli(['audit', 'verify', acct], env);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout)).toEqual({ ok: true, entries: 3, problems: [] });

    const auditKey = t.ctx.keys.audit(acct);
    const rows = await t.ctx.redis.xrange(auditKey, '-', '+');
    await t.ctx.redis.del(auditKey);
    for (const [id, fields] of rows) {
      await t.ctx.redis.xadd(auditKey, id, ...fields.map((f) => f.replace('"type":"b"', '"type":"B"')));
    }
    const bad = await cli(['audit', 'verify', acct], env);
    expect(bad.code).toBe(1);
    expect(JSON.parse(bad.stdout).problems).toEqual([
      { id: rows[1]![0], problem: expect.stringMatching(/edited/) },
    ]);
  });

  it('rotates every credential to the current key and exports without secrets', async () => {
    const ctx = { ...t.ctx, vault: new Vault([key]) };
    await grantConsent(ctx, admin, acct, { level: 'company', scopes: ['billing:read', 'billing:push'] }, 'p');
    const link = await createLink(
      ctx,
      { verify: async () => ({ displayName: 'DB' }), parseSettings: (_t, s) => s, defaultEveryMinutes: 60 },
      admin,
      acct,
      {
        target: 'autotask',
        credentials: { userName: 'u', secret: 'cli-secret-value', integrationCode: 'X' },
        spinpanelApiKey: 'sp-cli-key-123',
        settings: {},
      },
    );
    const next = testKey();
    const rotated = await cli(['rotate-credentials'], { ...env, CREDENTIALS_KEYS: keyEnv(next, key) });
    expect(rotated.code).toBe(0);
    expect(JSON.parse(rotated.stdout)).toMatchObject({
      keyId: next.id,
      rotated: [{ linkId: link.id, from: key.id }],
    });
    const sealed = (await t.ctx.redis.get(t.ctx.keys.credentials(acct, link.id)))!;
    expect(Vault.keyIdOf(sealed)).toBe(next.id);

    const exported = await cli(['export', acct, '--as', 'ops-7'], { ...env, CREDENTIALS_KEYS: keyEnv(next) });
    expect(exported.code).toBe(0);
    const doc = JSON.parse(exported.stdout);
    expect(doc.links[0]).toMatchObject({ id: link.id, credentialsStored: true });
    expect(doc.audit.at(-1)).toMatchObject({
      type: 'account.exported',
      actor: { userId: 'ops-7', role: 'operator' },
    });
    for (const secret of ['cli-secret-value', 'sp-cli-key-123', sealed])
      expect(exported.stdout).not.toContain(secret);

    const refused = await cli(['erase', acct], env);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toMatch(/--yes/);
    expect(await t.ctx.redis.exists(t.ctx.keys.link(acct, link.id))).toBe(1);

    const erased = await cli(['erase', acct, '--yes', '--as', 'ops-7'], env);
    expect(erased.code).toBe(0);
    expect(JSON.parse(erased.stdout)).toMatchObject({
      accountId: acct,
      unlinkedLinkIds: [link.id],
      unconfirmed: [],
    });
    expect(await t.ctx.redis.keys(`${t.ctx.keys.account(acct)}:*`)).toEqual([t.ctx.keys.audit(acct)]);
  });
});
