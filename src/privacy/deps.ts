import type { Config } from '../config.ts';
import type { Actor } from '../consent/consents.ts';
import type { StoreContext } from '../store/context.ts';

/** The app's revocation (gate closed, unlink started): privacy features reuse it, never reimplement it. */
export type RevokeFn = (actor: Actor, accountId: string, consentId: string) => Promise<unknown>;

export interface PrivacyDeps {
  store: StoreContext;
  config: Config;
  revokeConsent: RevokeFn;
}

/** Who may exercise an account's data rights (export, erasure, removed users): its admins and operators. */
export const RIGHTS_ROLES = ['company_admin', 'reseller', 'operator', 'system'];
