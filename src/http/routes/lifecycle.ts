import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../app.ts';
import type { Actor } from '../../consent/consents.ts';
import { revocationBody } from '../../consent/lifecycle.ts';
import { AppError } from '../../errors.ts';
import { MappingDocument } from '../../links/target-account.ts';

const AccountParams = z.object({ accountId: z.string().min(1).max(100) });
const LinkParams = AccountParams.extend({ linkId: z.string().uuid() });
const ConsentParams = AccountParams.extend({ consentId: z.string().uuid() });
const WaitQuery = z.object({ wait: z.enum(['true', 'false']).optional() });

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const fields = result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw new AppError('invalid_body', 400, `invalid ${what}: ${fields.join('; ')}`, { fields });
}

const actorOf = (req: FastifyRequest): Actor => ({ userId: req.caller!.userId, role: req.caller!.role });

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
    return {
      ...r,
      note: 'Suspended: nothing leaves for this link and nothing was deleted. Resume re-opens it.',
    };
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
