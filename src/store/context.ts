import type { Redis } from 'ioredis';
import type { Vault } from '../links/vault.ts';
import type { Keys } from './keys.ts';

/** What the consent, link and run stores need; built once at start-up and passed down. */
export interface StoreContext {
  redis: Redis;
  keys: Keys;
  vault: Vault;
  now: () => Date;
}
