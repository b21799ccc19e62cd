import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../app.ts';
import { GrantConsentBody } from '../../consent/consents.ts';
import { CreateLinkBody, type Link } from '../../links/links.ts';
import { actorOf, parse } from '../request.ts';

/** Links as the API shows them: no secret ever, not even sealed. */
const publicLink = (link: Link) => link;

const AccountParams = z.object({ accountId: z.string().min(1).max(100) });
const LinkParams = AccountParams.extend({ linkId: z.string().uuid() });
const SyncBody = z.object({ dryRun: z.boolean().default(false) });

/** Consents, links and their runs. */
export function registerAccountRoutes(app: FastifyInstance, services: Services, maxWaitMs: number): void {
  app.post('/v1/accounts/:accountId/consents', async (req, reply) => {
    const { accountId } = parse(AccountParams, req.params, 'path');
    const body = parse(GrantConsentBody, req.body, 'body');
    return reply.status(201).send(await services.grantConsent(actorOf(req), accountId, body));
  });
  app.get('/v1/accounts/:accountId/consents', async (req) => {
    const { accountId } = parse(AccountParams, req.params, 'path');
    return { items: await services.listConsents(accountId) };
  });

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
}
