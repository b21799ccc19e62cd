import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../app.ts';
import { SettingsPatch } from '../../links/settings.ts';
import { actorOf, parse } from '../request.ts';

const LinkParams = z.object({ accountId: z.string().min(1).max(100), linkId: z.string().uuid() });

/** Link settings: read with the link; changed here, a few keys at a time (`null` restores a default). */
export function registerSettingsRoutes(app: FastifyInstance, services: Services): void {
  app.patch('/v1/accounts/:accountId/links/:linkId/settings', async (req) => {
    const { accountId, linkId } = parse(LinkParams, req.params, 'path');
    const patch = parse(SettingsPatch, req.body, 'body');
    const link = await services.updateSettings(actorOf(req), accountId, linkId, patch);
    return { linkId: link.id, settings: link.settings };
  });
}
