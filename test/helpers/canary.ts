import { createServer, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

/** One request that reached a stub server. */
export interface Hit {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

export interface Stub {
  /** Origin, e.g. `http://127.0.0.1:5555`. */
  url: string;
  /** `127.0.0.1:5555`: what an error naming this server's host says. */
  host: string;
  hits: Hit[];
  close(): Promise<void>;
}

/**
 * An HTTP server on 127.0.0.1 that records every request (method, URL, headers) and answers with `handle`,
 * or 200 `{}`. As a canary it proves that nothing — no credential, no request at all — reached a host.
 */
export async function startStub(
  handle?: (req: IncomingMessage, res: ServerResponse, self: Stub) => void,
): Promise<Stub> {
  const hits: Hit[] = [];
  let self: Stub | undefined;
  const server = createServer((req, res) => {
    hits.push({ method: req.method ?? 'GET', url: req.url ?? '/', headers: req.headers });
    if (handle && self) return handle(req, res, self);
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end('{}');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  self = {
    url: `http://${host}`,
    host,
    hits,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  return self;
}

export const startCanary = () => startStub();

/** Answers every request with `status` and a Location on `to` (same path), like a moved or hijacked endpoint. */
export const startRedirector = (to: () => string, status = 302) =>
  startStub((req, res) => {
    res.writeHead(status, { Location: `${to()}${req.url ?? '/'}` });
    res.end();
  });

/** Autotask's zone lookup, answering whatever zone `zone()` names (the lookup itself carries no secret). */
export const startZoneLookup = (zone: () => string) =>
  startStub((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ zoneName: 'Stub', url: zone(), webUrl: 'https://ww.example/', ci: 1 }));
  });
