import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';

export interface VaultKey {
  id: string;
  key: Buffer;
}

export class VaultError extends Error {
  override name = 'VaultError';
}

/**
 * AES-256-GCM with the key id in every ciphertext, so keys can rotate: the first key encrypts, any listed key
 * decrypts. The associated data binds a ciphertext to its link, so one link's secret cannot be replayed as
 * another's. Format: `v1.<keyId>.<iv>.<tag>.<ciphertext>` (base64url parts).
 */
export class Vault {
  private readonly byId: Map<string, Buffer>;
  constructor(private readonly keys: VaultKey[]) {
    if (keys.length === 0) throw new VaultError('the credential vault needs at least one key');
    this.byId = new Map();
    for (const { id, key } of keys) {
      // The id sits in a `.`-separated ciphertext; a repeated id would seal under one key and open with another.
      if (!/^[A-Za-z0-9_-]+$/.test(id)) throw new VaultError(`key id "${id}" may hold only A-Z a-z 0-9 _ -`);
      if (this.byId.has(id)) throw new VaultError(`key id "${id}" is listed twice in CREDENTIALS_KEYS`);
      if (key.length !== 32) throw new VaultError(`key "${id}" must be 32 bytes for AES-256`);
      this.byId.set(id, key);
    }
  }

  get currentKeyId(): string {
    return this.keys[0]!.id;
  }

  encrypt(plaintext: string, aad: string): string {
    const { id, key } = this.keys[0]!;
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(Buffer.from(aad));
    const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    const parts = [iv, cipher.getAuthTag(), ct].map((b) => b.toString('base64url'));
    return ['v1', id, ...parts].join('.');
  }

  decrypt(sealed: string, aad: string): string {
    const parts = sealed.split('.');
    const [version, keyId, iv, tag, ct] = parts;
    if (parts.length !== 5 || version !== 'v1' || !keyId || !iv || !tag || ct === undefined) {
      throw new VaultError('stored credentials are not in a format this vault understands');
    }
    const key = this.byId.get(keyId);
    if (!key) {
      throw new VaultError(
        `stored credentials were encrypted with key "${keyId}", which is not in CREDENTIALS_KEYS`,
      );
    }
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
      decipher.setAAD(Buffer.from(aad));
      decipher.setAuthTag(Buffer.from(tag, 'base64url'));
      return Buffer.concat([decipher.update(Buffer.from(ct, 'base64url')), decipher.final()]).toString(
        'utf8',
      );
    } catch (cause) {
      const message = `stored credentials could not be decrypted with key "${keyId}" (wrong key or tampered)`;
      throw new VaultError(message, { cause });
    }
  }

  /** True when a ciphertext was sealed with an older key and should be re-encrypted. */
  isStale(sealed: string): boolean {
    return Vault.keyIdOf(sealed) !== this.currentKeyId;
  }

  /** Opens a ciphertext with whichever listed key sealed it and seals it again with the current key. */
  reseal(sealed: string, aad: string): string {
    return this.encrypt(this.decrypt(sealed, aad), aad);
  }

  /** The key id a ciphertext names, without opening it. */
  static keyIdOf(sealed: string): string | undefined {
    return sealed.split('.')[1];
  }
}
