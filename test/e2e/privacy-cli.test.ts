import { execFile } from 'node:child_process';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type Actor, grantConsent } from '../../src/consent/consents.ts';
import { createLink } from '../../src/links/links.ts';
import { Vault, type VaultKey } from '../../src/links/vault.ts';
import { appendAudit } from '../../src/store/audit.ts';
import { auditKeyringFrom, bindAuditKeyring } from '../../src/store/audit-keys.ts';
import { createKeys } from '../../src/store/keys.ts';
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
    env = {
      REDIS_URL,
      REDIS_PREFIX: t.prefix,
      CREDENTIALS_KEYS: keyEnv(key),
      AUDIT_KEYS: t.auditKeys,
      LOG_LEVEL: 'silent',
    };
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
    expect(JSON.parse(ok.stdout)).toEqual({
      ok: true,
      entries: 3,
      legacyUnkeyed: 0,
      keyIds: [t.auditKeys.split(':')[0]],
      problems: [],
    });

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

  it('refuses to export an account it holds nothing for, and writes nothing', async () => {
    const res = await cli(['export', 'acct-made-up', '--as', 'ops-7'], env);
    expect(res.code).toBe(1);
    expect(res.stderr).toMatch(/account acct-made-up not found/);
    expect(res.stdout).toBe('');
    expect(await t.ctx.redis.keys(`${t.prefix}:*`)).toEqual([]);
  });

  it('prints the keys derived while AUDIT_KEYS was unset, so a trail they signed verifies once it is set', async () => {
    // A deployment without AUDIT_KEYS: its trail is signed with keys derived from CREDENTIALS_KEYS.
    const { AUDIT_KEYS: _, ...fallback } = env;
    const derived = bindAuditKeyring(createKeys(t.prefix), auditKeyringFrom({ CREDENTIALS_KEYS: [key] }));
    for (const type of ['a', 'b']) await appendAudit(t.ctx.redis, derived, acct, { type, actor: admin });
    expect((await cli(['audit', 'verify', acct], fallback)).code).toBe(0);

    const printed = await cli(['audit', 'derived-keys'], fallback);
    expect(printed.code).toBe(0);
    const { AUDIT_KEYS: carried } = JSON.parse(printed.stdout);
    expect(carried).toMatch(new RegExp(`^cred-${key.id}:`));
    // AUDIT_KEYS set with a new key first and the derived one behind it: old entries verify, new ones use the new key.
    const own = testKey();
    const withOwn = { ...env, AUDIT_KEYS: `${keyEnv(own)},${carried}` };
    const ok = await cli(['audit', 'verify', acct], withOwn);
    expect(JSON.parse(ok.stdout)).toMatchObject({ ok: true, keyIds: [`cred-${key.id}`] });
    // Without it, the verdict names the key that is missing.
    const missing = await cli(['audit', 'verify', acct], { ...env, AUDIT_KEYS: keyEnv(own) });
    expect(missing.code).toBe(1);
    expect(JSON.parse(missing.stdout).problems[0].problem).toBe(
      `signed with audit key "cred-${key.id}", which is not in AUDIT_KEYS`,
    );
  });

  it('rotates every credential to the current key and exports without secrets', async () => {
    const ctx = { ...t.ctx, vault: new Vault([key]) };
    await grantConsent(ctx, admin, acct, { level: 'company', scopes: ['billing:read', 'billing:push'] }, 'p');
    const link = await createLink(
      ctx,
      {
        spinpanelAccount: async (_key, under) => under.accountId,
        verify: async () => ({ displayName: 'DB' }),
        parseSettings: (_t, s) => s,
        defaultEveryMinutes: 60,
      },
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
