import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance } from 'fastify';
import { z } from 'zod';
import { CredentialsRejectedError } from '../../connectors/types.ts';
import type { Services } from '../app.ts';
import type { ApiToken } from '../config.ts';
import { GrantConsentBody } from '../consent/consents.ts';
import { AppError, forbidden } from '../errors.ts';
import { CreateLinkBody, type Link } from '../links/links.ts';
import { actorOf, parse } from './request.ts';
import { registerLifecycleRoutes } from './routes/lifecycle.ts';
import { registerPrivacyRoutes } from './routes/privacy.ts';
import { registerSettingsRoutes } from './routes/settings.ts';

declare module 'fastify' {
  interface FastifyRequest {
    caller?: ApiToken;
  }
}

export interface ServerOptions {
  services: Services;
  tokens: ApiToken[];
  /** Longest a `?wait=true` sync request holds the connection. */
  maxWaitMs?: number;
  logger?: boolean;
}

function sameToken(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Links as the API shows them: no secret ever, not even sealed. */
const publicLink = (link: Link) => link;

const AccountParams = z.object({ accountId: z.string().min(1).max(100) });
const LinkParams = AccountParams.extend({ linkId: z.string().uuid() });
const SyncBody = z.object({ dryRun: z.boolean().default(false) });

export function buildServer(opts: ServerOptions): FastifyInstance {
  const app = Fastify({ logger: opts.logger ?? false });
  const { services } = opts;
  const maxWaitMs = opts.maxWaitMs ?? 120_000;

  app.setErrorHandler((error, _req, reply) => {
    if (error instanceof AppError) {
      return reply
        .status(error.status)
        .send({ error: { code: error.code, message: error.message, ...error.details } });
    }
    if (error instanceof CredentialsRejectedError) {
      return reply.status(422).send({ error: { code: 'credentials_rejected', message: error.message } });
    }
    const status = (error as { statusCode?: number }).statusCode;
    if (status && status < 500) {
      return reply.status(status).send({ error: { code: 'bad_request', message: (error as Error).message } });
    }
    app.log.error({ err: (error as Error).message }, 'unhandled error');
    return reply.status(500).send({ error: { code: 'internal', message: 'internal error' } });
  });

  app.get('/healthz', async () => ({ ok: true }));

  app.addHook('onRequest', async (req) => {
    if (req.url === '/healthz' || req.routeOptions.config.public) return;
    const header = req.headers.authorization ?? '';
    const token = header.startsWith('Bearer ') ? header.slice(7) : '';
    const caller = token ? opts.tokens.find((t) => sameToken(t.token, token)) : undefined;
    if (!caller) throw new AppError('unauthorized', 401, 'a valid bearer token is required');
    req.caller = caller;
    const accountId = (req.params as { accountId?: string } | undefined)?.accountId;
    const m = /^\/v1\/accounts\/([^/?]+)/.exec(req.url);
    const target = accountId ?? (m ? decodeURIComponent(m[1]!) : undefined);
    if (target && caller.accountId !== '*' && caller.accountId !== target) {
      throw forbidden('this token is bound to another account');
    }
  });

  app.post('/v1/accounts/:accountId/consents', async (req, reply) => {
    const { accountId } = parse(AccountParams, req.params, 'path');
    const body = parse(GrantConsentBody, req.body, 'body');
    return reply.status(201).send(await services.grantConsent(actorOf(req), accountId, body));
  });
  app.get('/v1/accounts/:accountId/consents', async (req) => {
    const { accountId } = parse(AccountParams, req.params, 'path');
    return { items: await services.listConsents(accountId) };
  });
  // POST …/consents/:consentId/revoke, …/links/:linkId/suspend|resume, GET/PUT …/links/:linkId/mappings.
  registerLifecycleRoutes(app, services);

  app.post('/v1/accounts/:accountId/links', async (req, reply) => {
    const { accountId } = parse(AccountParams, req.params, 'path');
    const body = parse(CreateLinkBody, req.body, 'body');
    return reply.status(201).send(publicLink(await services.createLink(actorOf(req), accountId, body)));
  });
  app.get('/v1/accounts/:accountId/links', async (req) => {
    const { accountId } = parse(AccountParams, req.params, 'path');
    return { items: (await services.listLinks(accountId)).map(publicLink) };
  });
  app.get('/v1/accounts/:accountId/links/:linkId', async (req) => {
    const { accountId, linkId } = parse(LinkParams, req.params, 'path');
    const link = await services.getLink(accountId, linkId);
    const [lastRun] = await services.listRuns(accountId, linkId);
    return { ...publicLink(link), lastRun: lastRun ?? null };
  });
  app.post('/v1/accounts/:accountId/links/:linkId/syncs', async (req, reply) => {
    const { accountId, linkId } = parse(LinkParams, req.params, 'path');
    const { dryRun } = parse(SyncBody, req.body, 'body');
    const { wait } = parse(z.object({ wait: z.enum(['true', 'false']).optional() }), req.query, 'query');
    const result = await services.syncNow(actorOf(req), accountId, linkId, {
      dryRun,
      waitMs: wait === 'true' ? maxWaitMs : undefined,
    });
    if (result.run && result.run.status !== 'running') return reply.status(200).send(result.run);
    return reply.status(202).send({ runId: result.runId, state: result.state });
  });
  app.get('/v1/accounts/:accountId/links/:linkId/syncs', async (req) => {
    const { accountId, linkId } = parse(LinkParams, req.params, 'path');
    await services.getLink(accountId, linkId);
    return { items: await services.listRuns(accountId, linkId) };
  });
  app.get('/v1/accounts/:accountId/links/:linkId/syncs/:runId', async (req) => {
    const { accountId, linkId, runId } = parse(
      LinkParams.extend({ runId: z.string().min(1) }),
      req.params,
      'path',
    );
    return services.getRun(accountId, linkId, runId);
  });
  registerPrivacyRoutes(app, services);
  registerSettingsRoutes(app, services);
  return app;
}
