import type { Role } from '../../config.ts';

/** Who a request speaks for, as its bearer token says (never as its body says). */
export interface Caller {
  /** The account the token is bound to; `*` (operators only) is every account. */
  accountId: string;
  role: Role;
  userId: string;
  /** Which kind of token proved it. */
  via: 'token' | 'oidc';
}

/** What checking a bearer token found: a caller, a refusal (the caller's fault), or no verdict (ours). */
export type Verdict =
  | { ok: true; caller: Caller }
  | { ok: false; unavailable: false; reason: string }
  | { ok: false; unavailable: true; reason: string };

export const refused = (reason: string): Verdict => ({ ok: false, unavailable: false, reason });
