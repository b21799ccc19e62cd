import type { FastifyInstance, FastifyReply } from 'fastify';
import type { ApiToken } from '../../config.ts';
import { AppError, forbidden } from '../../errors.ts';
import { type Caller, refused, type Verdict } from './caller.ts';
import { matchToken } from './tokens.ts';

declare module 'fastify' {
  interface FastifyRequest {
    caller?: Caller;
  }
  interface FastifyContextConfig {
    /** No bearer token: the route answers anyone, or authenticates its caller itself (the signed webhook). */
    public?: boolean;
  }
}

export interface AuthOptions {
  /** Static tokens, by digest. */
  tokens: readonly ApiToken[];
  /** OIDC access tokens, checked when the bearer is no configured token and looks like a JWT. */
  oidc?: (jwt: string) => Promise<Verdict>;
}

/** `Authorization: Bearer <token>`; the scheme name is case-insensitive (RFC 7235 §2.1). */
export function bearerOf(header: string | undefined): string | undefined {
  return /^bearer +(\S+) *$/i.exec(header ?? '')?.[1];
}

const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

/**
 * The bearer check of every non-public route, then the account scope: a token bound to one account gets 403 on
 * another's paths. Failed authentications count per client address (the rate-limit plugin's store); an address
 * over the limit is refused (429) before its token is even looked at — else the limit would still answer which
 * guess was right. Successful requests never count.
 */
export function installAuth(api: FastifyInstance, opts: AuthOptions): void {
  const failures = api.createRateLimit();
  const check = async (bearer: string | undefined): Promise<Verdict> => {
    if (!bearer) return refused('no bearer token');
    const token = matchToken(opts.tokens, bearer);
    if (token) {
      const { accountId, role, userId } = token;
      return { ok: true, caller: { accountId, role, userId, via: 'token' } };
    }
    if (opts.oidc && JWT.test(bearer)) return opts.oidc(bearer);
    return refused('not a configured token');
  };

  api.addHook('onRequest', async (req, reply) => {
    if (req.routeOptions.config.public) return;
    const seen = await failures(req, { increment: false });
    if (!seen.isAllowed && seen.isExceeded) throw tooMany(reply, seen.ttlInSeconds);

    const verdict = await check(bearerOf(req.headers.authorization));
    if (!verdict.ok) {
      if (verdict.unavailable) {
        req.log.error({ reason: verdict.reason }, 'bearer token could not be checked');
        throw new AppError('auth_unavailable', 503, 'the identity provider could not be reached; try again');
      }
      const counted = await failures(req);
      req.log.warn({ ip: req.ip, reason: verdict.reason }, 'authentication failed');
      if (!counted.isAllowed && counted.isExceeded) throw tooMany(reply, counted.ttlInSeconds);
      reply.header(
        'www-authenticate',
        req.headers.authorization
          ? 'Bearer realm="billing-sync", error="invalid_token"'
          : 'Bearer realm="billing-sync"',
      );
      throw new AppError('unauthorized', 401, 'a valid bearer token is required');
    }
    const caller = verdict.caller;
    req.caller = caller;
    const accountId = (req.params as { accountId?: string } | undefined)?.accountId;
    const m = /^\/v1\/accounts\/([^/?]+)/.exec(req.url);
    const target = accountId ?? (m ? decoded(m[1]!) : undefined);
    if (target && caller.accountId !== '*' && caller.accountId !== target) {
      throw forbidden('this token is bound to another account');
    }
  });
}

function tooMany(reply: FastifyReply, retryAfterS: number): AppError {
  const after = Math.max(1, retryAfterS);
  reply.header('retry-after', String(after));
  return new AppError(
    'too_many_auth_failures',
    429,
    `too many failed authentications from this address; retry in ${after} s`,
  );
}

const decoded = (segment: string): string => {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
};
