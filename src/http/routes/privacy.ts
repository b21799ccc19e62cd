import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../app.ts';
import { ExclusionsBody } from '../../privacy/exclusions.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../privacy/webhook.ts';
import { actorOf, parse } from '../request.ts';

const AccountParams = z.object({ accountId: z.string().min(1).max(100) });
const LinkParams = AccountParams.extend({ linkId: z.string().uuid() });
const UserParams = AccountParams.extend({ userId: z.string().min(1).max(200) });

const header = (req: FastifyRequest, name: string) => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};

/** The data-rights routes of the privacy policy: removed users, opt-outs, export, erasure, audit, webhook. */
export function registerPrivacyRoutes(app: FastifyInstance, services: Services): void {
  app.post('/v1/accounts/:accountId/users/:userId/removed', async (req) => {
    const { accountId, userId } = parse(UserParams, req.params, 'path');
    const result = await services.reportUserRemoved(actorOf(req), accountId, userId);
    return {
      ...result,
      note: 'User-level consents of a removed user end with it; company-level consents it gave stay. Data already delivered to the billing system stays there.',
    };
  });

  app.get('/v1/accounts/:accountId/links/:linkId/exclusions', async (req) => {
    const { accountId, linkId } = parse(LinkParams, req.params, 'path');
    await services.getLink(accountId, linkId);
    return services.getExclusions(accountId, linkId);
  });
  app.put('/v1/accounts/:accountId/links/:linkId/exclusions', async (req) => {
    const { accountId, linkId } = parse(LinkParams, req.params, 'path');
    const body = parse(ExclusionsBody, req.body, 'body');
    return services.putExclusions(actorOf(req), accountId, linkId, body);
  });

  app.get('/v1/accounts/:accountId/export', async (req, reply) => {
    const { accountId } = parse(AccountParams, req.params, 'path');
    const doc = await services.exportAccount(actorOf(req), accountId);
    return (
      reply
        // The id is the caller's text: only safe characters go into the header.
        .header(
          'content-disposition',
          `attachment; filename="billing-sync-${accountId.replace(/[^\w.-]/g, '_')}.json"`,
        )
        .send(doc)
    );
  });
  app.delete('/v1/accounts/:accountId/data', async (req) => {
    const { accountId } = parse(AccountParams, req.params, 'path');
    return services.eraseAccount(actorOf(req), accountId);
  });
  app.get('/v1/accounts/:accountId/audit', async (req) => {
    const { accountId } = parse(AccountParams, req.params, 'path');
    return services.readAudit(actorOf(req), accountId);
  });

  // The signature covers the exact bytes sent, so this route takes its body unparsed (a child context keeps
  // the raw parser away from every other route). `public`: no bearer token, the body's signature is the check.
  app.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.post('/v1/webhooks/spinpanel', { config: { public: true } }, async (req) => {
      return services.handleSpinPanelWebhook({
        rawBody: typeof req.body === 'string' ? req.body : '',
        signature: header(req, SIGNATURE_HEADER),
        timestamp: header(req, TIMESTAMP_HEADER),
      });
    });
  });
}
