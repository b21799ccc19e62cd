import type { FastifyServerOptions } from 'fastify';

/** How long the server waits on a client (ms). */
export interface ServerTimeouts {
  /** From the connection's first byte (or a kept-alive connection's next request) to the end of the headers. */
  headersMs: number;
  /** To receive the whole request, body included: a body shorter than its Content-Length ends here. */
  requestMs: number;
  /** An idle kept-alive connection is closed after this. */
  keepAliveMs: number;
}

export const DEFAULT_TIMEOUTS: ServerTimeouts = { headersMs: 10_000, requestMs: 30_000, keepAliveMs: 72_000 };

/**
 * Fastify turns Node's request timeout off (0), so a client that promises a body and never sends it held the
 * connection for good. Node enforces the header and request timeouts from a periodic sweep (30 s by default):
 * the sweep runs often enough that a connection outlives its timeout by at most a quarter of it, capped at 1 s.
 * The time a handler takes (a `?wait=true` sync) is not limited: these count only the client's sending.
 */
export function timeoutOptions(t: ServerTimeouts): Pick<
  FastifyServerOptions,
  'requestTimeout' | 'keepAliveTimeout' | 'connectionTimeout'
> & {
  http: { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number };
} {
  return {
    requestTimeout: t.requestMs,
    keepAliveTimeout: t.keepAliveMs,
    connectionTimeout: 0,
    http: {
      headersTimeout: t.headersMs,
      requestTimeout: t.requestMs,
      connectionsCheckingInterval: Math.max(50, Math.min(1_000, Math.floor(t.headersMs / 4))),
    },
  };
}
