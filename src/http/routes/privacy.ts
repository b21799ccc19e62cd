import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.ts';
import { ExclusionsBody } from '../../privacy/exclusions.ts';
import { SIGNATURE_HEADER, TIMESTAMP_HEADER } from '../../privacy/webhook.ts';
import { actorOf, strict } from '../request.ts';
import {
  AccountExport,
  AccountParams,
  answers,
  Erasure,
  LinkParams,
  NoQuery,
  UserParams,
  UserRemoved,
  WebhookOutcome,
} from '../schemas.ts';

const header = (req: FastifyRequest, name: string) => {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
};
const tags = ['data rights'];
const Exclusions = z.object({ linkId: z.string(), customerIds: z.array(z.string()) });

/** The data-rights routes of the privacy policy: removed users, opt-outs, export, erasure, audit, webhook. */
export function registerPrivacyRoutes(root: FastifyInstance, services: Services): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.post(
    '/v1/accounts/:accountId/users/:userId/removed',
    {
      schema: {
        summary: 'Report a user removed: the user-level consents it gave end',
        tags,
        params: UserParams,
        querystring: NoQuery,
        body: z.strictObject({}).describe('no body, or `{}`'),
        response: answers({ 200: UserRemoved }, [413, 415]),
      },
    },
    async (req) => {
      const { accountId, userId } = req.params;
      const result = await services.reportUserRemoved(actorOf(req), accountId, userId);
      return {
        ...result,
        note: 'User-level consents of a removed user end with it; company-level consents it gave stay. Data already delivered to the billing system stays there.',
      };
    },
  );

  app.get(
    '/v1/accounts/:accountId/links/:linkId/exclusions',
    {
      schema: {
        summary: 'The link’s opted-out customers',
        tags,
        params: LinkParams,
        querystring: NoQuery,
        response: answers({ 200: Exclusions }),
      },
    },
    async (req) => {
      const { accountId, linkId } = req.params;
      await services.getLink(accountId, linkId);
      return services.getExclusions(accountId, linkId);
    },
  );
  app.put(
    '/v1/accounts/:accountId/links/:linkId/exclusions',
    {
      schema: {
        summary: 'Replace the opt-out list: these customers are never read beyond their id nor pushed',
        tags,
        params: LinkParams,
        querystring: NoQuery,
        body: strict(ExclusionsBody),
        response: answers({ 200: Exclusions }, [409, 413, 415]),
      },
    },
    async (req) => {
      const { accountId, linkId } = req.params;
      return services.putExclusions(actorOf(req), accountId, linkId, req.body);
    },
  );

  app.get(
    '/v1/accounts/:accountId/export',
    {
      schema: {
        summary: 'Export everything held about the account (JSON attachment)',
        tags,
        params: AccountParams,
        querystring: NoQuery,
        response: answers({
          200: AccountExport,
        }),
      },
    },
    async (req, reply) => {
      const { accountId } = req.params;
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
    },
  );
  app.delete(
    '/v1/accounts/:accountId/data',
    {
      schema: {
        summary: 'Erase the account: consents revoked, links unlinked, every key deleted but one audit entry',
        tags,
        params: AccountParams,
        querystring: NoQuery,
        response: answers({ 200: Erasure }, [503]),
      },
    },
    async (req) => services.eraseAccount(actorOf(req), req.params.accountId),
  );
  app.get(
    '/v1/accounts/:accountId/audit',
    {
      schema: {
        summary: 'The account’s audit trail and whether its chain verifies',
        tags,
        params: AccountParams,
        querystring: NoQuery,
        response: answers({
          200: z.object({ items: z.array(z.unknown()), verified: z.unknown() }),
        }),
      },
    },
    async (req) => services.readAudit(actorOf(req), req.params.accountId),
  );

  // The signature covers the exact bytes sent, so this route takes its body unparsed (a child context keeps
  // the raw parser away from every other route). `public`: no bearer token, the body's signature is the check.
  root.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'string' }, (_req, body, done) => done(null, body));
    scope.post(
      '/v1/webhooks/spinpanel',
      {
        config: { public: true },
        schema: {
          summary: 'SpinPanel’s signed events (consent revoked, user removed); no bearer token',
          tags,
          response: {
            200: WebhookOutcome,
            400: answers({})[400]!,
            401: answers({})[401]!,
            409: answers({}, [409])[409]!,
          },
        },
      },
      async (req) => {
        return services.handleSpinPanelWebhook({
          rawBody: typeof req.body === 'string' ? req.body : '',
          signature: header(req, SIGNATURE_HEADER),
          timestamp: header(req, TIMESTAMP_HEADER),
        });
      },
    );
  });
}
