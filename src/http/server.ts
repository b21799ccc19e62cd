import helmet from '@fastify/helmet';
import rateLimit from '@fastify/rate-limit';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, LogController } from 'fastify';
import type { Redis } from 'ioredis';
import type { Services } from '../app.ts';
import type { ApiToken } from '../config.ts';
import { installAuth } from './auth/authenticate.ts';
import { createOidcVerifier, type OidcOptions } from './auth/oidc.ts';
import { frameworkErrors, installErrorHandling } from './errors.ts';
import { DEFAULT_TIMEOUTS, type ServerTimeouts, timeoutOptions } from './hygiene.ts';
import { registerOpenApi } from './openapi.ts';
import { installNoBody, validatorCompiler } from './request.ts';
import { registerAccountRoutes } from './routes/accounts.ts';
import { registerLifecycleRoutes } from './routes/lifecycle.ts';
import { registerPrivacyRoutes } from './routes/privacy.ts';
import { registerSettingsRoutes } from './routes/settings.ts';

export interface ServerOptions {
  services: Services;
  /** Static bearer tokens, by digest (`API_TOKENS`). */
  tokens: readonly ApiToken[];
  /** OIDC/JWT bearer tokens (the production option), checked when a bearer is no configured token. */
  oidc?: OidcOptions;
  /**
   * Failed authentications a client address may make per window; past them it gets 429 until the window ends.
   * Counted in Redis when given (shared by every API process), else in this process.
   * @defaultValue 20 per 60 s, in this process
   */
  authFailures?: { max: number; windowMs: number; redis?: Redis; keyPrefix?: string };
  /** @defaultValue DEFAULT_TIMEOUTS */
  timeouts?: ServerTimeouts;
  /** Proxies whose X-Forwarded-For names the client: a hop count or their addresses/CIDRs. @defaultValue none */
  trustProxy?: number | string[];
  /** Longest a `?wait=true` sync request holds the connection. */
  maxWaitMs?: number;
  logger?: boolean;
  /** Where failed authentications and unhandled errors are logged (requests themselves are not). */
  log?: FastifyBaseLogger;
}

/** A JSON API: nothing may be framed, run or sniffed, and no answer may be kept by a cache. */
const HELMET = {
  contentSecurityPolicy: {
    useDefaults: false,
    directives: { defaultSrc: ["'none'"], frameAncestors: ["'none'"] },
  },
};

export function buildServer(opts: ServerOptions): FastifyInstance {
  const hops = opts.trustProxy;
  const app = Fastify({
    ...timeoutOptions(opts.timeouts ?? DEFAULT_TIMEOUTS),
    frameworkErrors,
    ...(opts.log
      ? { loggerInstance: opts.log, logController: new LogController({ disableRequestLogging: true }) }
      : { logger: opts.logger ?? false }),
    ...(typeof hops === 'number' ? { trustProxy: (_: string, i: number) => i < hops } : {}),
    ...(Array.isArray(hops) ? { trustProxy: hops } : {}),
  });
  const { services } = opts;
  const maxWaitMs = opts.maxWaitMs ?? 120_000;

  installErrorHandling(app);
  // Route schemas are zod: checked by zod; answers are documented by them, not reshaped.
  app.setValidatorCompiler(validatorCompiler);
  installNoBody(app);
  // A JSON API: a text/plain body is a 415, not a string handed to a schema.
  app.removeContentTypeParser('text/plain');
  app.setSerializerCompiler(() => (data) => JSON.stringify(data));

  // Every answer, refusals included, may name an account's data: none is stored by a cache or a browser.
  app.addHook('onRequest', async (_req, reply) => {
    reply.header('cache-control', 'no-store');
  });
  app.register(helmet, HELMET);
  const failures = opts.authFailures ?? { max: 20, windowMs: 60_000 };
  app.register(rateLimit, {
    global: false,
    max: failures.max,
    timeWindow: failures.windowMs,
    ...(failures.redis ? { redis: failures.redis, nameSpace: failures.keyPrefix ?? 'auth-failures:' } : {}),
  });
  // Before the routes, so it sees each of them; outside the authenticated scope: the description is public.
  registerOpenApi(app);
  // Registered after helmet and the limiter, so a refusal carries the headers and the limiter exists.
  app.register(async (api) => {
    installAuth(api, { tokens: opts.tokens, ...(opts.oidc ? { oidc: createOidcVerifier(opts.oidc) } : {}) });
    api.get('/healthz', { config: { public: true } }, async () => ({ ok: true }));
    await api.register(import('./ops.ts'), { ops: services.ops }); // /readyz, /metrics, /admin/queues, request logs
    registerAccountRoutes(api, services, maxWaitMs);
    // POST …/consents/:consentId/revoke, …/links/:linkId/suspend|resume, GET/PUT …/links/:linkId/mappings.
    registerLifecycleRoutes(api, services);
    registerPrivacyRoutes(api, services);
    registerSettingsRoutes(api, services);
  });
  return app;
}
