import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { CredentialsRejectedError } from '../../connectors/types.ts';
import { AppError } from '../errors.ts';

/** The one shape of every error answer: `{ error: { code, message, details? } }`. */
export interface ErrorBody {
  error: { code: string; message: string; details?: Record<string, unknown> };
}

const errorBody = (code: string, message: string, details?: Record<string, unknown>): ErrorBody => ({
  error: { code, message, ...(details && Object.keys(details).length > 0 ? { details } : {}) },
});

/** Fastify's own 4xx errors (parsing, limits, timeouts) by status, in the API's snake_case codes. */
const CODE_OF_STATUS: Record<number, string> = {
  400: 'bad_request',
  404: 'not_found',
  405: 'method_not_allowed',
  406: 'not_acceptable',
  408: 'request_timeout',
  411: 'length_required',
  413: 'payload_too_large',
  414: 'uri_too_long',
  415: 'unsupported_media_type',
  429: 'too_many_requests',
  431: 'headers_too_large',
};

/** Methods answered at each registered URL pattern: an unknown method on a known URL is a 405, not a 404. */
function routeTable(app: FastifyInstance) {
  const routes: { pattern: RegExp; methods: Set<string> }[] = [];
  app.addHook('onRoute', (route) => {
    const source = route.url
      .split('/')
      .map((s) => (s.startsWith(':') ? '[^/]+' : s === '*' ? '.*' : s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')))
      .join('/');
    const pattern = new RegExp(`^${source}$`);
    const methods = [route.method].flat();
    const row = routes.find((r) => r.pattern.source === pattern.source);
    if (row) for (const m of methods) row.methods.add(m);
    else routes.push({ pattern, methods: new Set(methods) });
  });
  return (path: string) => {
    const allowed = new Set<string>();
    for (const r of routes) if (r.pattern.test(path)) for (const m of r.methods) allowed.add(m);
    return [...allowed].sort();
  };
}

/**
 * Every error, the framework's included (unknown route, wrong method, body too large, wrong media type, bad
 * JSON), answers in one shape. A 5xx is logged with the request id, which the answer also carries.
 */
export function installErrorHandling(app: FastifyInstance): void {
  const allowedAt = routeTable(app);

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split('?')[0]!;
    const allowed = allowedAt(path);
    if (allowed.length > 0) {
      return reply
        .status(405)
        .header('allow', allowed.join(', '))
        .send(
          errorBody(
            'method_not_allowed',
            `${req.method} is not allowed on ${path}; use ${allowed.join(', ')}`,
            {
              allowed,
            },
          ),
        );
    }
    return reply
      .status(404)
      .send(errorBody('not_found', `no route ${req.method} ${path}; see /openapi.json for the API`));
  });

  app.setErrorHandler((error: FastifyError | Error, req, reply) => {
    if (error instanceof AppError) {
      if (error.status >= 500) logServerError(req, error);
      return send(reply, req, error.status, errorBody(error.code, error.message, error.details));
    }
    if (error instanceof CredentialsRejectedError) {
      return send(reply, req, 422, errorBody('credentials_rejected', error.message));
    }
    const status = (error as FastifyError).statusCode;
    if (status && status >= 400 && status < 500) {
      return send(reply, req, status, errorBody(CODE_OF_STATUS[status] ?? 'bad_request', error.message));
    }
    logServerError(req, error);
    return send(reply, req, 500, errorBody('internal', 'internal error'));
  });
}

/**
 * Errors fastify raises before routing (a URL that does not decode, a path parameter over the length limit):
 * no hook has run, so the headers every answer carries are set here too.
 */
export function frameworkErrors(error: FastifyError, _req: FastifyRequest, reply: FastifyReply) {
  const status = error.statusCode ?? 400;
  const message =
    error.code === 'FST_ERR_MAX_PARAM_LENGTH'
      ? 'a path parameter is longer than this API accepts'
      : error.code === 'FST_ERR_BAD_URL'
        ? 'the URL is not valid (bad percent-encoding)'
        : error.message;
  return reply
    .status(status)
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .send(errorBody(CODE_OF_STATUS[status] ?? 'bad_request', message));
}

function logServerError(req: FastifyRequest, error: Error): void {
  req.log.error(
    { reqId: req.id, method: req.method, url: req.routeOptions.url ?? req.url, err: error },
    'request failed',
  );
}

/** A 5xx answer names the request id, so an admin can quote it and an operator find the log line. */
function send(reply: FastifyReply, req: FastifyRequest, status: number, body: ErrorBody) {
  if (status >= 500) body.error.details = { ...body.error.details, requestId: req.id };
  return reply.status(status).send(body);
}
