import type { FastifyBaseLogger } from 'fastify';
import type { Redis } from 'ioredis';
import type { Services } from '../app.ts';
import type { Config } from '../config.ts';
import type { ServerOptions } from './server.ts';

/** The admin API's options as the environment sets them (README "Admin API"). */
export function serverOptionsFromConfig(
  config: Config,
  deps: { services: Services; redis: Redis; log: FastifyBaseLogger },
): ServerOptions {
  const { OIDC_ISSUER: issuer, OIDC_AUDIENCE: audience, OIDC_JWKS_URL: jwksUrl } = config;
  return {
    services: deps.services,
    log: deps.log,
    tokens: config.API_TOKENS,
    ...(issuer && audience && jwksUrl
      ? {
          oidc: {
            issuer,
            audience,
            jwksUrl,
            algorithms: config.OIDC_ALGORITHMS,
            claims: {
              account: config.OIDC_ACCOUNT_CLAIM,
              role: config.OIDC_ROLE_CLAIM,
              user: config.OIDC_USER_CLAIM,
            },
          },
        }
      : {}),
    // In Redis, so the limit holds across every API process behind the load balancer.
    authFailures: {
      max: config.API_AUTH_FAILURES_MAX,
      windowMs: config.API_AUTH_FAILURES_WINDOW_SECONDS * 1000,
      redis: deps.redis,
      keyPrefix: `${config.REDIS_PREFIX}:auth-failures:`,
    },
    timeouts: {
      headersMs: config.API_HEADERS_TIMEOUT_MS,
      requestMs: config.API_REQUEST_TIMEOUT_MS,
      keepAliveMs: config.API_KEEP_ALIVE_TIMEOUT_MS,
    },
    ...(config.API_TRUST_PROXY !== undefined ? { trustProxy: config.API_TRUST_PROXY } : {}),
  };
}
