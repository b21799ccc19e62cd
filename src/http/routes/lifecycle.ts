import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.ts';
import { revocationBody } from '../../consent/lifecycle.ts';
import { MappingDocument } from '../../links/target-account.ts';
import { actorOf, strict } from '../request.ts';
import {
  answers,
  ConsentParams,
  LinkParams,
  Link as LinkSchema,
  Mapping,
  NoQuery,
  Revocation,
  Suspension,
  WaitQuery,
} from '../schemas.ts';

const NoBody = z.strictObject({}).describe('no body, or `{}`');

/** Revocation, suspension and mappings of a link. */
export function registerLifecycleRoutes(root: FastifyInstance, services: Services): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.post(
    '/v1/accounts/:accountId/consents/:consentId/revoke',
    {
      schema: {
        summary: 'Revoke a consent: its links stop at once and are unlinked',
        description:
          'Answers once nothing more of its links can reach a target. Revoking an already revoked consent answers 200 with that revocation’s state (`alreadyRevoked: true`). `?wait=true` also waits for the unlink (credentials and data deleted).',
        tags: ['lifecycle'],
        params: ConsentParams,
        querystring: WaitQuery,
        body: NoBody,
        response: answers({ 200: Revocation }, [413, 415, 503]),
      },
    },
    async (req) => {
      const { accountId, consentId } = req.params;
      const result = await services.revokeConsent(actorOf(req), accountId, consentId, {
        waitForUnlink: req.query.wait === 'true',
        idempotent: true,
      });
      return revocationBody(result);
    },
  );

  app.post(
    '/v1/accounts/:accountId/links/:linkId/suspend',
    {
      schema: {
        summary: 'Suspend a link: nothing leaves for it, nothing is deleted',
        tags: ['lifecycle'],
        params: LinkParams,
        querystring: NoQuery,
        body: NoBody,
        response: answers({ 200: Suspension }, [409, 413, 415, 503]),
      },
    },
    async (req) => {
      const { accountId, linkId } = req.params;
      const r = await services.suspendLink(actorOf(req), accountId, linkId);
      const stopped = r.confirmed
        ? 'nothing leaves for this link'
        : `${r.stopped.inFlight.unconfirmed} request(s) already sent could not be confirmed finished`;
      return { ...r, note: `Suspended: ${stopped}, and nothing was deleted. Resume re-opens it.` };
    },
  );
  app.post(
    '/v1/accounts/:accountId/links/:linkId/resume',
    {
      schema: {
        summary: 'Resume a suspended link and its schedule',
        tags: ['lifecycle'],
        params: LinkParams,
        querystring: NoQuery,
        body: NoBody,
        response: answers(
          { 200: z.object({ link: LinkSchema, scheduled: z.boolean() }) },
          [409, 413, 415, 503],
        ),
      },
    },
    async (req) => {
      const { accountId, linkId } = req.params;
      return { link: await services.resumeLink(actorOf(req), accountId, linkId), scheduled: true };
    },
  );

  app.get(
    '/v1/accounts/:accountId/links/:linkId/mappings',
    {
      schema: {
        summary: 'The mapping, with the last run’s unmapped customers and suggestions',
        tags: ['mappings'],
        params: LinkParams,
        querystring: NoQuery,
        response: answers({ 200: Mapping }),
      },
    },
    async (req) => services.getMapping(req.params.accountId, req.params.linkId),
  );
  app.put(
    '/v1/accounts/:accountId/links/:linkId/mappings',
    {
      schema: {
        summary: 'Replace the mapping',
        description:
          'The document as GET answers it may be sent back: `linkId`, `targetAccount` and `unmapped` are read-only (a document stamped for another target account is refused with 409). An unknown key is a 400.',
        tags: ['mappings'],
        params: LinkParams,
        querystring: NoQuery,
        body: strict(MappingDocument),
        response: answers({ 200: Mapping }, [409, 413, 415]),
      },
    },
    async (req) => {
      const { accountId, linkId } = req.params;
      return services.putMapping(actorOf(req), accountId, linkId, req.body);
    },
  );
}
