import type { FastifyInstance, FastifyRequest } from 'fastify';
import { z } from 'zod';
import type { Services } from '../../app.ts';
import type { Actor } from '../../consent/consents.ts';
import { AppError } from '../../errors.ts';
import { SettingsPatch } from '../../links/settings.ts';

const LinkParams = z.object({ accountId: z.string().min(1).max(100), linkId: z.string().uuid() });

function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const fields = result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw new AppError('invalid_body', 400, `invalid ${what}: ${fields.join('; ')}`, { fields });
}

const actorOf = (req: FastifyRequest): Actor => ({ userId: req.caller!.userId, role: req.caller!.role });

/** Link settings: read with the link; changed here, a few keys at a time (`null` restores a default). */
export function registerSettingsRoutes(app: FastifyInstance, services: Services): void {
  app.patch('/v1/accounts/:accountId/links/:linkId/settings', async (req) => {
    const { accountId, linkId } = parse(LinkParams, req.params, 'path');
    const patch = parse(SettingsPatch, req.body, 'body');
    const link = await services.updateSettings(actorOf(req), accountId, linkId, patch);
    return { linkId: link.id, settings: link.settings };
  });
}
