import type { FastifyRequest } from 'fastify';
import type { z } from 'zod';
import type { Actor } from '../consent/consents.ts';
import { AppError } from '../errors.ts';

/** Parses a request part; a bad one is a 400 naming each field that failed. */
export function parse<T extends z.ZodType>(schema: T, value: unknown, what: string): z.infer<T> {
  const result = schema.safeParse(value ?? {});
  if (result.success) return result.data;
  const fields = result.error.issues.map((i) => `${i.path.join('.') || '(body)'}: ${i.message}`);
  throw new AppError('invalid_body', 400, `invalid ${what}: ${fields.join('; ')}`, { fields });
}

/** The caller as the auth hook found it (from the bearer token, never from the request). */
export const actorOf = (req: FastifyRequest): Actor => ({
  userId: req.caller!.userId,
  role: req.caller!.role,
});
