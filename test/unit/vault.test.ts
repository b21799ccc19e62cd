import { describe, expect, it } from 'vitest';
import { Vault, VaultError } from '../../src/links/vault.ts';
import { testKey } from '../helpers/store.ts';

describe('credential vault', () => {
  const secret = JSON.stringify({ userName: 'api@msp.example', secret: 'hunter2-very-secret' });

  it('round-trips and never stores the plaintext', () => {
    const vault = new Vault([testKey()]);
    const sealed = vault.encrypt(secret, 'link:a:1');
    expect(sealed).not.toContain('hunter2');
    expect(sealed.startsWith(`v1.${vault.currentKeyId}.`)).toBe(true);
    expect(vault.decrypt(sealed, 'link:a:1')).toBe(secret);
  });

  it('binds a ciphertext to its link', () => {
    const vault = new Vault([testKey()]);
    const sealed = vault.encrypt(secret, 'link:a:1');
    expect(() => vault.decrypt(sealed, 'link:a:2')).toThrow(VaultError);
  });

  it('gives a clear error for a wrong or missing key, never garbage', () => {
    const k = testKey();
    const sealed = new Vault([k]).encrypt(secret, 'x');
    expect(() => new Vault([testKey()]).decrypt(sealed, 'x')).toThrow(/not in CREDENTIALS_KEYS/);
    expect(() => new Vault([{ id: k.id, key: testKey().key }]).decrypt(sealed, 'x')).toThrow(
      /wrong key or tampered/,
    );
    // Flip one bit of the ciphertext (editing its text could touch only base64 padding bits).
    const parts = sealed.split('.');
    const ct = Buffer.from(parts[4]!, 'base64url');
    ct[0]! ^= 1;
    const tampered = [...parts.slice(0, 4), ct.toString('base64url')].join('.');
    expect(() => new Vault([k]).decrypt(tampered, 'x')).toThrow(VaultError);
  });

  it('decrypts with an old key after rotation and flags the ciphertext as stale', () => {
    const old = testKey();
    const sealed = new Vault([old]).encrypt(secret, 'x');
    const rotated = new Vault([testKey(), old]);
    expect(rotated.decrypt(sealed, 'x')).toBe(secret);
    expect(rotated.isStale(sealed)).toBe(true);
    expect(rotated.isStale(rotated.encrypt(secret, 'x'))).toBe(false);
  });

  it('reseals under the current key, after which the old key can be dropped', () => {
    const old = testKey();
    const current = testKey();
    const sealed = new Vault([old]).encrypt(secret, 'link:a:1');
    const rotated = new Vault([current, old]);
    const resealed = rotated.reseal(sealed, 'link:a:1');
    expect(Vault.keyIdOf(resealed)).toBe(current.id);
    expect(rotated.isStale(resealed)).toBe(false);
    expect(new Vault([current]).decrypt(resealed, 'link:a:1')).toBe(secret);
    // The old key alone cannot read the new ciphertext: it names a key that list does not hold.
    expect(() => new Vault([old]).decrypt(resealed, 'link:a:1')).toThrow(/not in CREDENTIALS_KEYS/);
  });

  it('refuses to reseal what no listed key opens, with a clear error and no output', () => {
    const sealed = new Vault([testKey()]).encrypt(secret, 'link:a:1');
    const vault = new Vault([testKey()]);
    expect(() => vault.reseal(sealed, 'link:a:1')).toThrow(VaultError);
    const sameId = new Vault([{ id: Vault.keyIdOf(sealed)!, key: testKey().key }]);
    expect(() => sameId.reseal(sealed, 'link:a:1')).toThrow(/wrong key or tampered/);
  });

  it('refuses a key list that would seal under one key and open under another', () => {
    const k = testKey();
    expect(() => new Vault([k, { id: k.id, key: testKey().key }])).toThrow(/listed twice/);
    expect(() => new Vault([{ id: 'a.b', key: testKey().key }])).toThrow(/key id "a\.b"/);
    expect(() => new Vault([{ id: 'short', key: Buffer.alloc(16) }])).toThrow(/32 bytes/);
    expect(() => new Vault([])).toThrow(VaultError);
  });
});
