import type { FastifyInstance, FastifyRequest, FastifySchemaCompiler } from 'fastify';
import { z } from 'zod';
import type { Actor } from '../consent/consents.ts';
import { AppError } from '../errors.ts';

/** The parts of a request a route schema checks, as the error message names them. */
const PART: Record<string, string> = {
  body: 'body',
  querystring: 'query',
  params: 'path',
  headers: 'headers',
};

/** A bad request part: a 400 naming each field that failed (an unknown key by its name). */
export function invalid(what: string, issues: z.core.$ZodIssue[]): AppError {
  const fields = issues.flatMap((i) => {
    const at = i.path.map(String).join('.');
    // An unknown key is named itself, not its parent: `customer`, not `(body)`.
    if (i.code === 'unrecognized_keys') return i.keys.map((k) => `${at ? `${at}.` : ''}${k}: unknown key`);
    return [`${at || `(${what})`}: ${i.message}`];
  });
  return new AppError('invalid_request', 400, `invalid ${what}: ${fields.join('; ')}`, { fields });
}

/**
 * Fastify gives a request without a body `null`, like a body that is JSON `null`, and validates both as `null`.
 * A POST without a body (no Content-Type) is taken as `{}`, so its schema's defaults apply; a `null` body stays
 * `null` and is refused.
 */
export function installNoBody(app: FastifyInstance): void {
  app.addHook('preValidation', async (req) => {
    if (req.method === 'POST' && req.body == null && req.headers['content-type'] === undefined) req.body = {};
  });
}

/** Route schemas are zod schemas, checked before the handler; a part that fails is a 400 naming each field. */
export const validatorCompiler: FastifySchemaCompiler<z.ZodType> =
  ({ schema, httpPart }) =>
  (data) => {
    const what = PART[httpPart ?? 'body'] ?? String(httpPart);
    if (data === null && httpPart === 'body') {
      return {
        error: new AppError('invalid_request', 400, 'invalid body: a JSON object is required', {
          fields: ['(body): a JSON object is required'],
        }),
      };
    }
    const result = schema.safeParse(data);
    return result.success ? { value: result.data } : { error: invalid(what, result.error.issues) };
  };

/**
 * Every object in a request schema refuses keys it does not know (nested ones too): a misspelt key is a 400
 * naming it, never silently dropped. Returns the same schema when nothing in it is an object.
 */
export function strict<T extends z.ZodType>(schema: T): T {
  return strictDeep(schema) as T;
}

function strictDeep(schema: z.ZodType): z.ZodType {
  if (schema instanceof z.ZodObject) {
    const shape = Object.fromEntries(
      Object.entries(schema.shape).map(([k, v]) => [k, strictDeep(v as z.ZodType)]),
    );
    return z.strictObject(shape);
  }
  if (schema instanceof z.ZodOptional) {
    const inner = strictDeep(schema.unwrap() as z.ZodType);
    return inner === schema.unwrap() ? schema : inner.optional();
  }
  if (schema instanceof z.ZodDefault) {
    const inner = strictDeep(schema.unwrap() as z.ZodType);
    return inner === schema.unwrap() ? schema : inner.default(schema.def.defaultValue as never);
  }
  if (schema instanceof z.ZodArray) {
    const inner = strictDeep(schema.element as z.ZodType);
    return inner === schema.element ? schema : z.array(inner);
  }
  if (schema instanceof z.ZodRecord) {
    const inner = strictDeep(schema.valueType as z.ZodType);
    return inner === schema.valueType ? schema : z.record(schema.keyType as z.ZodString, inner);
  }
  return schema;
}

/** The caller as the auth hook found it (from the bearer token, never from the request). */
export const actorOf = (req: FastifyRequest): Actor => ({
  userId: req.caller!.userId,
  role: req.caller!.role,
});
