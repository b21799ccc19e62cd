import { createHmac, hkdfSync } from 'node:crypto';
import type { Keys } from './keys.ts';

export interface AuditKey {
  id: string;
  key: Buffer;
}

export class AuditKeyError extends Error {
  override name = 'AuditKeyError';
}

/** The HKDF label of keys derived from CREDENTIALS_KEYS: never the vault key itself, never reused elsewhere. */
const DERIVE_INFO = 'spinpanel-billing-sync/audit-chain/v1';
/** Derived key ids are `cred-<vault key id>`, so an entry says which vault key its key came from. */
const DERIVED_PREFIX = 'cred-';

/**
 * The keys of the audit chain: each entry's hash is an HMAC-SHA256 under the first key, and names that key's
 * id, so keys rotate like the vault's: put a new key first, keep the old ones listed for as long as the entries
 * they signed must verify. `source` says where the keys came from, so a missing key is explained in its terms.
 */
export class AuditKeyring {
  private readonly byId = new Map<string, Buffer>();
  constructor(
    private readonly keys: AuditKey[],
    readonly source: 'AUDIT_KEYS' | 'CREDENTIALS_KEYS',
  ) {
    if (keys.length === 0) throw new AuditKeyError('the audit chain needs at least one key');
    for (const { id, key } of keys) {
      if (this.byId.has(id)) throw new AuditKeyError(`audit key id "${id}" is listed twice`);
      if (key.length < 32) throw new AuditKeyError(`audit key "${id}" must be at least 32 bytes`);
      this.byId.set(id, key);
    }
  }

  get currentKeyId(): string {
    return this.keys[0]!.id;
  }

  /** The hash of a new entry, under the current key. */
  sign(accountId: string, prevHash: string, body: string): { keyId: string; hash: string } {
    const { id, key } = this.keys[0]!;
    return { keyId: id, hash: mac(key, id, accountId, prevHash, body) };
  }

  /** Recomputes an entry's hash under the key it names; `undefined` when that key is not configured. */
  hashWith(keyId: string, accountId: string, prevHash: string, body: string): string | undefined {
    const key = this.byId.get(keyId);
    return key && mac(key, keyId, accountId, prevHash, body);
  }

  /** Why an entry's key is unknown, in the terms of the variable an operator would change. */
  missing(keyId: string): string {
    if (this.source === 'AUDIT_KEYS') return `signed with audit key "${keyId}", which is not in AUDIT_KEYS`;
    const vaultId = keyId.startsWith(DERIVED_PREFIX) ? keyId.slice(DERIVED_PREFIX.length) : undefined;
    return vaultId
      ? `signed with audit key "${keyId}", derived from CREDENTIALS_KEYS key "${vaultId}", which is no longer listed (AUDIT_KEYS is unset)`
      : `signed with audit key "${keyId}", which is not configured (AUDIT_KEYS is unset)`;
  }
}

/**
 * The account, the key id and the previous entry's hash are all under the MAC: an entry cannot be moved to
 * another account's trail, relabelled with another key id, or chained behind another entry. JSON, so no field
 * can run into the next.
 */
function mac(key: Buffer, keyId: string, accountId: string, prevHash: string, body: string): string {
  return createHmac('sha256', key)
    .update(JSON.stringify(['audit/v1', accountId, keyId, prevHash, body]))
    .digest('hex');
}

/**
 * The audit keys of a deployment without AUDIT_KEYS: one per CREDENTIALS_KEYS entry, by HKDF-SHA256 under a
 * label of their own, so a trail is keyed from the first start after an upgrade with no new secret to set.
 */
export function deriveAuditKeys(credentialKeys: AuditKey[]): AuditKey[] {
  return credentialKeys.map(({ id, key }) => ({
    id: `${DERIVED_PREFIX}${id}`,
    key: Buffer.from(hkdfSync('sha256', key, Buffer.alloc(0), DERIVE_INFO, 32)),
  }));
}

/** Keys in the AUDIT_KEYS grammar: `<keyId>:<base64>,…`. */
export const auditKeysEntries = (keys: AuditKey[]): string =>
  keys.map(({ id, key }) => `${id}:${key.toString('base64')}`).join(',');

/**
 * AUDIT_KEYS when set (then they alone sign and verify); otherwise keys derived from CREDENTIALS_KEYS. The
 * fallback keeps the chain out of reach of someone who can only write to Redis (the vault keys are not there
 * either), but ties the audit keys to the vault's rotation: dropping an old vault key also drops the audit
 * key it gave. Production should set AUDIT_KEYS; `billing-sync audit derived-keys` prints the derived keys
 * as AUDIT_KEYS entries, to list behind a new key so the entries they signed keep verifying.
 */
export function auditKeyringFrom(config: {
  AUDIT_KEYS?: AuditKey[] | undefined;
  CREDENTIALS_KEYS?: AuditKey[] | undefined;
}): AuditKeyring {
  if (config.AUDIT_KEYS?.length) return new AuditKeyring(config.AUDIT_KEYS, 'AUDIT_KEYS');
  if (config.CREDENTIALS_KEYS?.length)
    return new AuditKeyring(deriveAuditKeys(config.CREDENTIALS_KEYS), 'CREDENTIALS_KEYS');
  throw new AuditKeyError('the audit chain needs AUDIT_KEYS or CREDENTIALS_KEYS to derive its keys from');
}

/**
 * The keyring travels with the store's key layout (bound once at start-up), so every caller that appends to a
 * trail with `(redis, keys)` signs with the deployment's key without passing it along.
 */
const rings = new WeakMap<Keys, AuditKeyring>();

export function bindAuditKeyring(keys: Keys, ring: AuditKeyring): Keys {
  rings.set(keys, ring);
  return keys;
}

export function auditKeyringOf(keys: Keys): AuditKeyring {
  const ring = rings.get(keys);
  if (!ring) {
    throw new AuditKeyError(
      `no audit keyring is bound to the keys of prefix "${keys.prefix}" (bindAuditKeyring at start-up)`,
    );
  }
  return ring;
}
