import { createServer, type Server } from 'node:http';
import type { ApiToken } from '../config.ts';
import type { Metrics } from '../metrics.ts';
import { bearerOf } from './auth/authenticate.ts';
import { matchToken } from './auth/tokens.ts';

/**
 * `/metrics` of a `worker` process, which has no API: runs, operations and target requests are counted where
 * the runs happen. Same rule as the API's route: a static operator token bound to every account (`API_TOKENS`).
 */
export async function serveMetrics(
  metrics: Metrics,
  opts: { host: string; port: number; tokens: readonly ApiToken[] },
): Promise<Server> {
  const server = createServer((req, res) => {
    const send = (status: number, body: string, type = 'application/json') => {
      res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
      res.end(body);
    };
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      return send(
        404,
        JSON.stringify({ error: { code: 'not_found', message: 'only GET /metrics is served here' } }),
      );
    }
    const bearer = bearerOf(req.headers.authorization);
    const token = bearer ? matchToken(opts.tokens, bearer) : undefined;
    if (token?.role !== 'operator' || token.accountId !== '*') {
      return send(
        401,
        JSON.stringify({ error: { code: 'unauthorized', message: 'an operator token is required' } }),
      );
    }
    metrics.registry.metrics().then(
      (text) => send(200, text, metrics.registry.contentType),
      (e: Error) => send(500, JSON.stringify({ error: { code: 'internal', message: e.message } })),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(opts.port, opts.host, () => resolve());
  });
  return server;
}
