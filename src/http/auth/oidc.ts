import { createRemoteJWKSet, errors, type JWTPayload, jwtVerify } from 'jose';
import { ROLES, type Role } from '../../config.ts';
import { type Caller, refused, type Verdict } from './caller.ts';

export interface OidcOptions {
  issuer: string;
  audience: string;
  jwksUrl: string;
  /** Accepted signature algorithms (asymmetric only: the key set is public). */
  algorithms: string[];
  /** Claim names holding the account (`*` for operators), the role and the user id. */
  claims: { account: string; role: string; user: string };
  /** @defaultValue 5000 */
  jwksTimeoutMs?: number;
}

/** Clock skew tolerated on `exp`/`nbf`/`iat` between the IdP and this process. */
const CLOCK_TOLERANCE_S = 30;

/** jose's codes for a token that is wrong (the caller's fault); any other failure means the IdP could not be asked. */
const REFUSALS = new Set([
  errors.JWTExpired.code,
  errors.JWTClaimValidationFailed.code,
  errors.JWTInvalid.code,
  errors.JWSInvalid.code,
  errors.JWSSignatureVerificationFailed.code,
  errors.JWKSNoMatchingKey.code,
  errors.JWKSMultipleMatchingKeys.code,
  errors.JOSEAlgNotAllowed.code,
  errors.JOSENotSupported.code,
]);

/**
 * Checks OIDC access tokens (JWTs) against the IdP's published key set: signature, issuer, audience, expiry
 * (required), then maps the configured claims onto a caller. The key set is fetched on first use, cached, and
 * fetched again when a token names an unknown key (jose's cooldown keeps that from being a request per token).
 */
export function createOidcVerifier(o: OidcOptions): (jwt: string) => Promise<Verdict> {
  const keys = createRemoteJWKSet(new URL(o.jwksUrl), { timeoutDuration: o.jwksTimeoutMs ?? 5_000 });
  return async (jwt) => {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(jwt, keys, {
        issuer: o.issuer,
        audience: o.audience,
        algorithms: o.algorithms,
        requiredClaims: ['exp'],
        clockTolerance: CLOCK_TOLERANCE_S,
      }));
    } catch (error) {
      const code = (error as { code?: string }).code;
      if (code && REFUSALS.has(code)) return refused(`jwt: ${(error as Error).message}`);
      return {
        ok: false,
        unavailable: true,
        reason: `jwt: the key set could not be read (${(error as Error).message})`,
      };
    }
    return callerOf(payload, o.claims);
  };
}

/** The caller a verified token's claims name; a missing or unknown claim value refuses the token. */
export function callerOf(payload: JWTPayload, claims: OidcOptions['claims']): Verdict {
  const accountId = payload[claims.account];
  const userId = payload[claims.user];
  const role = roleOf(payload[claims.role]);
  if (typeof accountId !== 'string' || accountId.length === 0 || accountId.length > 100)
    return refused(`jwt: claim ${claims.account} (account) is missing or not a string`);
  if (typeof userId !== 'string' || userId.length === 0 || userId.length > 200)
    return refused(`jwt: claim ${claims.user} (user) is missing or not a string`);
  if (!role) return refused(`jwt: claim ${claims.role} names no single role of ${ROLES.join('|')}`);
  if (accountId === '*' && role !== 'operator')
    return refused('jwt: only an operator may hold every account (*)');
  const caller: Caller = { accountId, role, userId, via: 'oidc' };
  return { ok: true, caller };
}

/** A role claim is one role, or a list (IdPs often send `roles: [...]`) holding exactly one of ours. */
function roleOf(value: unknown): Role | undefined {
  const known = (Array.isArray(value) ? value : [value]).filter((v): v is Role => ROLES.includes(v as Role));
  return known.length === 1 ? known[0] : undefined;
}
