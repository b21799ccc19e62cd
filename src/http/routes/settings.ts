import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.ts';
import { SettingsPatch } from '../../links/settings.ts';
import { actorOf } from '../request.ts';
import { answers, LinkParams, NoQuery } from '../schemas.ts';

/** Link settings: read with the link; changed here, a few keys at a time (`null` restores a default). */
export function registerSettingsRoutes(root: FastifyInstance, services: Services): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.patch(
    '/v1/accounts/:accountId/links/:linkId/settings',
    {
      schema: {
        summary: 'Change some settings of a link (`null` restores a default)',
        description:
          'The merged settings are checked as a whole for the target: a bad or unknown one is a 400.',
        tags: ['consents and links'],
        params: LinkParams,
        querystring: NoQuery,
        body: SettingsPatch,
        response: answers(
          { 200: z.object({ linkId: z.string(), settings: z.record(z.string(), z.unknown()) }) },
          [409, 413, 415],
        ),
      },
    },
    async (req) => {
      const { accountId, linkId } = req.params;
      const link = await services.updateSettings(actorOf(req), accountId, linkId, req.body);
      return { linkId: link.id, settings: link.settings };
    },
  );
}
