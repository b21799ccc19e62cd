import { describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import {
  AuditKeyring,
  auditKeyringFrom,
  auditKeysEntries,
  deriveAuditKeys,
} from '../../src/store/audit-keys.ts';
import { keyEnv, testKey } from '../helpers/store.ts';

describe('audit keys', () => {
  it('reads AUDIT_KEYS with the grammar of CREDENTIALS_KEYS, and never echoes a malformed one', () => {
    const a = testKey();
    const b = testKey();
    const config = loadConfig({ CREDENTIALS_KEYS: keyEnv(), AUDIT_KEYS: `${keyEnv(a)}, ${keyEnv(b)}` });
    expect(config.AUDIT_KEYS).toEqual([a, b]);
    expect(loadConfig({ CREDENTIALS_KEYS: keyEnv(), AUDIT_KEYS: ' ' }).AUDIT_KEYS).toBeUndefined();
    const bad = 'a1:c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0';
    expect(() => loadConfig({ CREDENTIALS_KEYS: keyEnv(), AUDIT_KEYS: bad })).toThrow(/AUDIT_KEYS/);
    try {
      loadConfig({ CREDENTIALS_KEYS: keyEnv(), AUDIT_KEYS: bad });
    } catch (error) {
      expect(String(error)).not.toContain('c2VjcmV0');
    }
  });

  it('signs with the first key and verifies with any listed one, binding account, key id and link', () => {
    const a = testKey();
    const b = testKey();
    const signed = new AuditKeyring([a], 'AUDIT_KEYS').sign('acct-1', '0'.repeat(64), '{"type":"x"}');
    expect(signed.keyId).toBe(a.id);
    const rotated = new AuditKeyring([b, a], 'AUDIT_KEYS');
    expect(rotated.currentKeyId).toBe(b.id);
    expect(rotated.hashWith(a.id, 'acct-1', '0'.repeat(64), '{"type":"x"}')).toBe(signed.hash);
    // The same entry under another account, behind another entry or with another body is another MAC.
    expect(rotated.hashWith(a.id, 'acct-2', '0'.repeat(64), '{"type":"x"}')).not.toBe(signed.hash);
    expect(rotated.hashWith(a.id, 'acct-1', '1'.repeat(64), '{"type":"x"}')).not.toBe(signed.hash);
    expect(rotated.hashWith(a.id, 'acct-1', '0'.repeat(64), '{"type":"y"}')).not.toBe(signed.hash);
    expect(new AuditKeyring([b], 'AUDIT_KEYS').hashWith(a.id, 'acct-1', '0', '')).toBeUndefined();
    expect(new AuditKeyring([b], 'AUDIT_KEYS').missing(a.id)).toBe(
      `signed with audit key "${a.id}", which is not in AUDIT_KEYS`,
    );
    expect(() => new AuditKeyring([a, a], 'AUDIT_KEYS')).toThrow(/listed twice/);
  });

  it('without AUDIT_KEYS derives a key per vault key with HKDF: not the vault key, named after it', () => {
    const vault = [testKey(), testKey()];
    const ring = auditKeyringFrom({ CREDENTIALS_KEYS: vault });
    expect(ring.source).toBe('CREDENTIALS_KEYS');
    expect(ring.currentKeyId).toBe(`cred-${vault[0]!.id}`);
    const derived = deriveAuditKeys(vault);
    expect(derived.map((k) => k.id)).toEqual(vault.map((k) => `cred-${k.id}`));
    expect(derived[0]!.key.equals(vault[0]!.key)).toBe(false);
    // Deterministic: every process of the deployment derives the same key.
    expect(deriveAuditKeys(vault)[0]!.key.equals(derived[0]!.key)).toBe(true);
    expect(auditKeyringFrom({ CREDENTIALS_KEYS: [vault[1]!] }).missing(`cred-${vault[0]!.id}`)).toMatch(
      new RegExp(`derived from CREDENTIALS_KEYS key "${vault[0]!.id}", which is no longer listed`),
    );
    // Once AUDIT_KEYS is set it alone counts; the derived keys carry over only when listed in it.
    const own = testKey();
    const set = auditKeyringFrom({ CREDENTIALS_KEYS: vault, AUDIT_KEYS: [own] });
    expect(set.currentKeyId).toBe(own.id);
    expect(set.hashWith(`cred-${vault[0]!.id}`, 'a', '0', '')).toBeUndefined();
    const carried = loadConfig({
      CREDENTIALS_KEYS: keyEnv(vault[0]),
      AUDIT_KEYS: `${keyEnv(own)},${auditKeysEntries(derived)}`,
    });
    const both = auditKeyringFrom(carried);
    expect(both.hashWith(`cred-${vault[0]!.id}`, 'a', '0', 'b')).toBe(
      ring.hashWith(ring.currentKeyId, 'a', '0', 'b'),
    );
  });
});
