import { createHash } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Actor } from '../../src/consent/consents.ts';
import type { VaultKey } from '../../src/links/vault.ts';
import { appendAudit, readAudit, verifyAudit } from '../../src/store/audit.ts';
import { auditKeyringFrom, bindAuditKeyring } from '../../src/store/audit-keys.ts';
import { createKeys, type Keys } from '../../src/store/keys.ts';
import { keysWithAudit, type TestStore, testKey, testStore } from '../helpers/store.ts';

const acct = 'acct-hmac';
const actor: Actor = { userId: 'admin-1', role: 'company_admin' };
const GENESIS = '0'.repeat(64);
/** What anyone can compute without a key: the chain's hash before it was keyed. */
const sha256 = (prevHash: string, body: string) =>
  createHash('sha256').update(prevHash).update('\n').update(body).digest('hex');

describe('keyed audit chain', () => {
  let t: TestStore;
  let key: VaultKey;
  /** The trail written under `key`, as one process with AUDIT_KEYS=<key> would. */
  let keys: Keys;
  beforeEach(async () => {
    t = await testStore();
    key = testKey();
    keys = keysWithAudit(t.prefix, key);
  });
  afterEach(async () => t.close());

  const append = (k: Keys, type: string, account = acct) =>
    appendAudit(t.ctx.redis, k, account, { type, actor });
  const rows = (account = acct) => t.ctx.redis.xrange(keys.audit(account), '-', '+');
  const field = (fields: string[], name: string) => fields[fields.indexOf(name) + 1]!;
  /** Deletes the trail and writes `entries` back with the same ids, as someone with Redis write access can. */
  const rewrite = async (entries: [string, string[]][], account = acct) => {
    await t.ctx.redis.del(keys.audit(account));
    for (const [id, fields] of entries) await t.ctx.redis.xadd(keys.audit(account), id, ...fields);
  };
  /** Each entry's hash recomputed with plain SHA-256 along the chain: the best a forger without the key can do. */
  const forged = (entries: [string, string[]][], edit: (body: string) => string, keepKeyIds: boolean) => {
    let prev = GENESIS;
    return entries.map(([id, fields]): [string, string[]] => {
      const body = edit(field(fields, 'body'));
      const hash = sha256(prev, body);
      const out = ['body', body, 'prevHash', prev, 'hash', hash];
      if (keepKeyIds) out.push('keyId', field(fields, 'keyId'));
      prev = hash;
      return [id, out];
    });
  };

  it('signs each entry with an HMAC under the current key and names the key', async () => {
    for (const type of ['consent.granted', 'link.created']) await append(keys, type);
    const entries = await readAudit(t.ctx.redis, keys, acct);
    expect(entries.map((e) => e.keyId)).toEqual([key.id, key.id]);
    // Not the hash anyone could compute from what is stored.
    const [raw] = await rows();
    expect(field(raw![1], 'hash')).not.toBe(sha256(GENESIS, field(raw![1], 'body')));
    expect(await verifyAudit(t.ctx.redis, keys, acct)).toEqual({
      ok: true,
      entries: 2,
      legacyUnkeyed: 0,
      keyIds: [key.id],
      problems: [],
    });
  });

  it('fails a trail rewritten whole with recomputed SHA-256 hashes, naming the first entry', async () => {
    for (const type of ['consent.granted', 'link.created', 'consent.revoked']) await append(keys, type);
    const all = await rows();
    // The forger drops the revocation and recomputes every hash so the chain links up again.
    const rewritten = forged(all, (b) => b.replace('consent.revoked', 'mapping.changed'), true);
    await rewrite(rewritten);
    const verdict = await verifyAudit(t.ctx.redis, keys, acct);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems[0]).toEqual({
      id: all[0]![0],
      problem: `content does not match its HMAC under audit key "${key.id}" (edited, or rewritten without the key)`,
    });
    expect(verdict.problems.map((p) => p.id)).toEqual(all.map(([id]) => id));
  });

  it('fails the same rewrite passed off as entries from before the chain was keyed', async () => {
    for (const type of ['consent.granted', 'link.created']) await append(keys, type);
    const all = await rows();
    await rewrite(forged(all, (b) => b, false));
    const verdict = await verifyAudit(t.ctx.redis, keys, acct);
    expect(verdict).toMatchObject({ ok: false, legacyUnkeyed: 2, keyIds: [] });
    expect(verdict.problems).toEqual([
      {
        id: all[0]![0],
        problem: expect.stringMatching(/^no entry is keyed: 2 unkeyed entries cannot be told/),
      },
    ]);
  });

  it('fails an unkeyed entry forged after keyed ones, and a keyed entry moved from another account', async () => {
    for (const type of ['a', 'b']) await append(keys, type);
    const all = await rows();
    const last = all.at(-1)!;
    const body = field(last[1], 'body').replace('"b"', '"B"');
    const prev = field(last[1], 'prevHash');
    await rewrite([all[0]!, [last[0], ['body', body, 'prevHash', prev, 'hash', sha256(prev, body)]]]);
    expect((await verifyAudit(t.ctx.redis, keys, acct)).problems).toEqual([
      { id: last[0], problem: 'unkeyed entry after keyed ones (written without the audit key)' },
    ]);

    // Another account's genuine trail, copied over this one's: the account is under the MAC.
    for (const type of ['x', 'y']) await append(keys, type, 'acct-other');
    await rewrite(await rows('acct-other'));
    const moved = await verifyAudit(t.ctx.redis, keys, acct);
    expect(moved.ok).toBe(false);
    expect(moved.problems.map((p) => p.problem)).toEqual([
      expect.stringMatching(/does not match its HMAC/),
      expect.stringMatching(/does not match its HMAC/),
    ]);
  });

  it('keeps verifying entries under their old key after a new key is put first', async () => {
    for (const type of ['a', 'b']) await append(keys, type);
    const next = testKey();
    const rotated = keysWithAudit(t.prefix, next, key);
    for (const type of ['c', 'd']) await append(rotated, type);
    expect((await readAudit(t.ctx.redis, rotated, acct)).map((e) => e.keyId)).toEqual([
      key.id,
      key.id,
      next.id,
      next.id,
    ]);
    expect(await verifyAudit(t.ctx.redis, rotated, acct)).toMatchObject({
      ok: true,
      entries: 4,
      keyIds: [key.id, next.id],
    });

    // The old key dropped: what it signed can no longer be vouched for, and the verdict says why.
    const verdict = await verifyAudit(t.ctx.redis, keysWithAudit(t.prefix, next), acct);
    expect(verdict.ok).toBe(false);
    const [first, second] = await rows();
    expect(verdict.problems).toEqual([
      { id: first![0], problem: `signed with audit key "${key.id}", which is not in AUDIT_KEYS` },
      { id: second![0], problem: `signed with audit key "${key.id}", which is not in AUDIT_KEYS` },
    ]);
  });

  it('reports entries from before the chain was keyed as legacy-unkeyed once a keyed entry seals them', async () => {
    // As the unkeyed version wrote them: plain SHA-256, no key id.
    const key0 = keys.audit(acct);
    let prev = GENESIS;
    for (const type of ['consent.granted', 'link.created', 'account.exported']) {
      const body = JSON.stringify({ type, actor, at: new Date().toISOString() });
      const hash = sha256(prev, body);
      await t.ctx.redis.xadd(key0, '*', 'body', body, 'prevHash', prev, 'hash', hash);
      prev = hash;
    }
    const unsealed = await verifyAudit(t.ctx.redis, keys, acct);
    expect(unsealed).toMatchObject({ ok: false, entries: 3, legacyUnkeyed: 3 });
    expect(unsealed.problems[0]!.problem).toMatch(/the next audited change seals them/);

    await append(keys, 'mapping.changed');
    expect(await verifyAudit(t.ctx.redis, keys, acct)).toEqual({
      ok: true,
      entries: 4,
      legacyUnkeyed: 3,
      keyIds: [key.id],
      problems: [],
    });
    expect((await readAudit(t.ctx.redis, keys, acct)).map((e) => e.keyId)).toEqual([
      undefined,
      undefined,
      undefined,
      key.id,
    ]);

    // The seal covers the legacy entries: editing one, even with its hash recomputed, breaks the keyed link.
    const all = await rows();
    const body = field(all[1]![1], 'body').replace('link.created', 'link.updated');
    const edited = [...all];
    edited[1] = [
      all[1]![0],
      [
        'body',
        body,
        'prevHash',
        field(all[1]![1], 'prevHash'),
        'hash',
        sha256(field(all[1]![1], 'prevHash'), body),
      ],
    ];
    await rewrite(edited);
    const verdict = await verifyAudit(t.ctx.redis, keys, acct);
    expect(verdict.ok).toBe(false);
    expect(verdict.problems[0]).toEqual({
      id: all[2]![0],
      problem: 'does not follow the entry before it (removed or reordered)',
    });
  });

  it('without AUDIT_KEYS signs under a key derived from CREDENTIALS_KEYS, which rotates with the vault', async () => {
    const vaultOld = testKey();
    const vaultNew = testKey();
    const derivedKeys = (...vault: VaultKey[]) =>
      bindAuditKeyring(createKeys(t.prefix), auditKeyringFrom({ CREDENTIALS_KEYS: vault }));
    await append(derivedKeys(vaultOld), 'a');
    await append(derivedKeys(vaultNew, vaultOld), 'b');
    expect(await verifyAudit(t.ctx.redis, derivedKeys(vaultNew, vaultOld), acct)).toMatchObject({
      ok: true,
      keyIds: [`cred-${vaultOld.id}`, `cred-${vaultNew.id}`],
    });
    const dropped = await verifyAudit(t.ctx.redis, derivedKeys(vaultNew), acct);
    expect(dropped.ok).toBe(false);
    expect(dropped.problems).toEqual([
      {
        id: (await rows())[0]![0],
        problem: `signed with audit key "cred-${vaultOld.id}", derived from CREDENTIALS_KEYS key "${vaultOld.id}", which is no longer listed (AUDIT_KEYS is unset)`,
      },
    ]);
  });

  it('refuses to append or verify with no keyring bound, rather than writing an unkeyed entry', async () => {
    const bare = createKeys(t.prefix);
    await expect(appendAudit(t.ctx.redis, bare, acct, { type: 'x', actor })).rejects.toThrow(
      /no audit keyring is bound/,
    );
    await expect(verifyAudit(t.ctx.redis, bare, acct)).rejects.toThrow(/no audit keyring is bound/);
    expect(await t.ctx.redis.exists(bare.audit(acct))).toBe(0);
  });
});
