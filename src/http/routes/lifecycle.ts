import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../app.ts';
import { revocationBody } from '../../consent/lifecycle.ts';
import { MappingDocument } from '../../links/target-account.ts';
import { actorOf, parse } from '../request.ts';

const AccountParams = z.object({ accountId: z.string().min(1).max(100) });
const LinkParams = AccountParams.extend({ linkId: z.string().uuid() });
const ConsentParams = AccountParams.extend({ consentId: z.string().uuid() });
const WaitQuery = z.object({ wait: z.enum(['true', 'false']).optional() });

/** Revocation, suspension and mappings of a link. */
export function registerLifecycleRoutes(app: FastifyInstance, services: Services): void {
  app.post('/v1/accounts/:accountId/consents/:consentId/revoke', async (req) => {
    const { accountId, consentId } = parse(ConsentParams, req.params, 'path');
    const { wait } = parse(WaitQuery, req.query, 'query');
    const result = await services.revokeConsent(actorOf(req), accountId, consentId, {
      waitForUnlink: wait === 'true',
    });
    return revocationBody(result);
  });

  app.post('/v1/accounts/:accountId/links/:linkId/suspend', async (req) => {
    const { accountId, linkId } = parse(LinkParams, req.params, 'path');
    const r = await services.suspendLink(actorOf(req), accountId, linkId);
    const stopped = r.confirmed
      ? 'nothing leaves for this link'
      : `${r.stopped.inFlight.unconfirmed} request(s) already sent could not be confirmed finished`;
    return { ...r, note: `Suspended: ${stopped}, and nothing was deleted. Resume re-opens it.` };
  });
  app.post('/v1/accounts/:accountId/links/:linkId/resume', async (req) => {
    const { accountId, linkId } = parse(LinkParams, req.params, 'path');
    return { link: await services.resumeLink(actorOf(req), accountId, linkId), scheduled: true };
  });

  app.get('/v1/accounts/:accountId/links/:linkId/mappings', async (req) => {
    const { accountId, linkId } = parse(LinkParams, req.params, 'path');
    return services.getMapping(accountId, linkId);
  });
  app.put('/v1/accounts/:accountId/links/:linkId/mappings', async (req) => {
    const { accountId, linkId } = parse(LinkParams, req.params, 'path');
    const body = parse(MappingDocument, req.body, 'body');
    return services.putMapping(actorOf(req), accountId, linkId, body);
  });
}
