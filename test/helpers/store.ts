import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { Vault, type VaultKey } from '../../src/links/vault.ts';
import { AuditKeyring, bindAuditKeyring } from '../../src/store/audit-keys.ts';
import type { StoreContext } from '../../src/store/context.ts';
import { createKeys, type Keys } from '../../src/store/keys.ts';

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379';

export const testKey = () => ({ id: `k${randomBytes(3).toString('hex')}`, key: randomBytes(32) });
export const keyEnv = (k = testKey()) => `${k.id}:${k.key.toString('base64')}`;

/** A fresh key prefix per test so tests never see each other's data. */
export const freshPrefix = () => `t${randomBytes(5).toString('hex')}`;

/** Deletes every key of a prefix, including BullMQ's `{prefix-q}` keys. */
export async function dropPrefix(redis: Redis, prefix: string): Promise<void> {
  for (const pattern of [`${prefix}:*`, `{${prefix}-q}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      if (keys.length) await redis.del(...keys);
    } while (cursor !== '0');
  }
}

export interface TestStore {
  ctx: StoreContext;
  prefix: string;
  /** The AUDIT_KEYS value `ctx.keys` signs the audit trail with, for a process that must verify it. */
  auditKeys: string;
  close(): Promise<void>;
}

/** A store layout whose audit trail is signed with the given AUDIT_KEYS entries (first signs, all verify). */
export const keysWithAudit = (prefix: string, ...audit: VaultKey[]): Keys =>
  bindAuditKeyring(createKeys(prefix), new AuditKeyring(audit, 'AUDIT_KEYS'));

export async function testStore(): Promise<TestStore> {
  const redis = new Redis(REDIS_URL, { maxRetriesPerRequest: null });
  const prefix = freshPrefix();
  const audit = testKey();
  const ctx: StoreContext = {
    redis,
    keys: keysWithAudit(prefix, audit),
    vault: new Vault([testKey()]),
    now: () => new Date(),
  };
  return {
    ctx,
    prefix,
    auditKeys: keyEnv(audit),
    async close() {
      await dropPrefix(redis, prefix);
      redis.disconnect();
    },
  };
}

/** Every key and value under a prefix, for "no secret in Redis" checks. */
export async function dumpPrefix(redis: Redis, prefix: string): Promise<string> {
  const out: string[] = [];
  for (const pattern of [`${prefix}:*`, `{${prefix}-q}:*`]) {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
      cursor = next;
      for (const key of keys) {
        const type = await redis.type(key);
        out.push(key);
        if (type === 'string') out.push((await redis.get(key)) ?? '');
        else if (type === 'hash') out.push(JSON.stringify(await redis.hgetall(key)));
        else if (type === 'list') out.push(JSON.stringify(await redis.lrange(key, 0, -1)));
        else if (type === 'set') out.push(JSON.stringify(await redis.smembers(key)));
        else if (type === 'zset') out.push(JSON.stringify(await redis.zrange(key, 0, -1)));
        else if (type === 'stream') out.push(JSON.stringify(await redis.xrange(key, '-', '+')));
      }
    } while (cursor !== '0');
  }
  return out.join('\n');
}
