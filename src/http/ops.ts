import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { FastifyAdapter } from '@bull-board/fastify';
import type { Queue } from 'bullmq';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import fp from 'fastify-plugin';
import { AppError, forbidden } from '../errors.ts';
import type { OpsDeps } from '../metrics.ts';

export type { OpsDeps };

export const DASHBOARD_PATH = '/admin/queues';
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

/** Metrics and the queues span every account: only an operator token bound to every account reads them. */
function assertOperator(req: FastifyRequest): void {
  const c = req.caller;
  if (c?.role !== 'operator' || c.accountId !== '*') {
    throw forbidden('operations endpoints are for operator tokens (account "*") only');
  }
}

/** The HTTP status an error will be answered with, as the server's error handler decides it. */
const statusOf = (e: unknown) => {
  const s = (e as { status?: unknown; statusCode?: unknown }) ?? {};
  return typeof s.status === 'number' ? s.status : typeof s.statusCode === 'number' ? s.statusCode : 500;
};

/**
 * `/readyz`, `/metrics`, the queue dashboard, and a log line per request with its id. Registered inside the
 * authenticated scope (after `installAuth`), not encapsulated, so its hooks see every route of the API.
 */
async function ops(api: FastifyInstance, opts: { ops?: OpsDeps }): Promise<void> {
  api.addHook('onRequest', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  // The route's pattern, never its URL: ids and query strings stay out of the logs.
  api.addHook('onResponse', async (req, reply) => {
    // Probes and scrapes come every few seconds: at debug, so they do not bury the API's own traffic.
    const level = PROBES.has(req.routeOptions.url ?? '') && reply.statusCode < 400 ? 'debug' : 'info';
    req.log[level](
      {
        method: req.method,
        route: req.routeOptions.url ?? 'unknown',
        status: reply.statusCode,
        ms: Math.round(reply.elapsedTime),
      },
      'request',
    );
  });
  // Before the server's error handler answers: a 5xx leaves a trace with its request id.
  api.addHook('onError', async (req, _reply, error) => {
    if (statusOf(error) >= 500) req.log.error({ err: error }, 'request failed');
  });

  const deps = opts.ops;
  if (!deps) return;
  api.get('/readyz', { config: { public: true } }, async (_req, reply) => {
    const r = await deps.ready();
    return reply.status(r.ready ? 200 : 503).send(r);
  });
  api.get('/metrics', async (req, reply) => {
    assertOperator(req);
    const text = await deps.metrics.registry.metrics();
    return reply.type(deps.metrics.registry.contentType).send(text);
  });
  if (deps.dashboard === false) return;
  await api.register(async (board) => {
    board.addHook('onRequest', async (req) => assertOperator(req));
    // The dashboard's plugin answers every error with its own 500: a refusal (401, 403, 429) keeps its status.
    board.addHook('onRoute', (route) => {
      route.errorHandler = (error, _req, reply) => {
        const status = error instanceof AppError ? error.status : 500;
        return reply.status(status).send({
          error: {
            code: error instanceof AppError ? error.code : 'internal',
            message: status < 500 ? error.message : 'internal error',
          },
        });
      };
    });
    // The dashboard is a page with its own scripts and styles: it gets a policy that lets them (and no one
    // else's) run, in place of the API's `default-src 'none'`.
    board.addHook('onSend', async (_req, reply) => {
      reply.header(
        'content-security-policy',
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; frame-ancestors 'none'",
      );
    });
    const adapter = new FastifyAdapter();
    adapter.setBasePath(DASHBOARD_PATH);
    // Read-only: retrying, promoting, adding or deleting jobs by hand would go around the consent checks and
    // the run lock's bookkeeping; operators act through the API and the CLI.
    createBullBoard({
      queues: deps.queues.map((q) => new BullMQAdapter(q, { readOnlyMode: true })),
      serverAdapter: adapter,
    });
    await board.register(adapter.registerPlugin(), { prefix: DASHBOARD_PATH });
  });
}

export const opsPlugin = fp(ops, { name: 'billing-sync-ops' });
export default opsPlugin;
