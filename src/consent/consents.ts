import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { Role } from '../config.ts';
import { AppError, forbidden, notFound } from '../errors.ts';
import { appendAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';

export const SCOPES = ['billing:read', 'billing:push', 'contacts:push'] as const;
export type Scope = (typeof SCOPES)[number];

/**
 * `system` is the connector acting on its own authority (a signed SpinPanel event, a removed user, an erasure);
 * it never comes from a bearer token, because `Role` (what tokens carry) does not include it.
 */
export type ActorRole = Role | 'system';

/** The identity behind a request: from the bearer token, never from the request body. */
export interface Actor {
  userId: string;
  role: ActorRole;
}

/** The connector itself, naming why it acts (`system:spinpanel-webhook`, `system:user-removed`, …). */
export const systemActor = (source: string): Actor => ({ userId: `system:${source}`, role: 'system' });

export const GrantConsentBody = z.object({
  level: z.enum(['user', 'company']).default('user'),
  scopes: z.array(z.enum(SCOPES)).min(1).default(['billing:read', 'billing:push']),
  policyVersion: z.string().min(1).optional(),
});
export type GrantConsentBody = z.infer<typeof GrantConsentBody>;

export interface Consent {
  id: string;
  accountId: string;
  level: 'user' | 'company';
  scopes: Scope[];
  grantedBy: Actor;
  policyVersion: string;
  status: 'active' | 'revoked';
  grantedAt: string;
  revokedAt: string | null;
  revokedBy: Actor | null;
}

const ADMIN_ROLES: ActorRole[] = ['company_admin', 'reseller'];

export async function grantConsent(
  ctx: StoreContext,
  actor: Actor,
  accountId: string,
  body: GrantConsentBody,
  currentPolicyVersion: string,
): Promise<Consent> {
  if (actor.role === 'operator' || actor.role === 'system') {
    throw forbidden('operators cannot give consent on behalf of an account');
  }
  if (body.level === 'company' && !ADMIN_ROLES.includes(actor.role)) {
    throw forbidden(
      'only a company admin or a reseller may give company-level consent; a user may consent for itself',
    );
  }
  const policyVersion = body.policyVersion ?? currentPolicyVersion;
  if (policyVersion !== currentPolicyVersion) {
    throw new AppError(
      'policy_version_mismatch',
      400,
      `consent must be given to the current privacy policy version "${currentPolicyVersion}", not "${policyVersion}"`,
    );
  }
  const consent: Consent = {
    id: randomUUID(),
    accountId,
    level: body.level,
    scopes: [...new Set(body.scopes)],
    grantedBy: { userId: actor.userId, role: actor.role },
    policyVersion,
    status: 'active',
    grantedAt: ctx.now().toISOString(),
    revokedAt: null,
    revokedBy: null,
  };
  const { redis, keys } = ctx;
  await redis
    .multi()
    .set(keys.consent(accountId, consent.id), JSON.stringify(consent))
    .zadd(keys.consents(accountId), Date.parse(consent.grantedAt), consent.id)
    .sadd(keys.accounts(), accountId)
    .exec();
  await appendAudit(redis, keys, accountId, {
    type: 'consent.granted',
    actor,
    subject: { consentId: consent.id },
    data: { level: consent.level, scopes: consent.scopes, policyVersion },
  });
  return consent;
}

export async function getConsent(ctx: StoreContext, accountId: string, consentId: string): Promise<Consent> {
  const raw = await ctx.redis.get(ctx.keys.consent(accountId, consentId));
  if (!raw) throw notFound(`consent ${consentId}`);
  return JSON.parse(raw) as Consent;
}

export async function listConsents(ctx: StoreContext, accountId: string): Promise<Consent[]> {
  const ids = await ctx.redis.zrange(ctx.keys.consents(accountId), 0, -1);
  if (ids.length === 0) return [];
  const raws = await ctx.redis.mget(ids.map((id) => ctx.keys.consent(accountId, id)));
  return raws.filter((r): r is string => r !== null).map((r) => JSON.parse(r) as Consent);
}

/**
 * A user-level consent is its granter's own; a company-level one may be withdrawn by any admin. The system may
 * withdraw any: it does so only on a signed SpinPanel event, a removed user or an erasure.
 */
export function mayRevoke(actor: Actor, consent: Consent): boolean {
  if (actor.role === 'system') return true;
  if (actor.userId === consent.grantedBy.userId) return true;
  return consent.level === 'company' && ADMIN_ROLES.includes(actor.role);
}

/** The consents that end with a user: its own active user-level ones. Company-level consents outlive it. */
export function endsWithUser(consents: Consent[], userId: string): { ending: Consent[]; kept: Consent[] } {
  const mine = consents.filter((c) => c.status === 'active' && c.grantedBy.userId === userId);
  return { ending: mine.filter((c) => c.level === 'user'), kept: mine.filter((c) => c.level === 'company') };
}
