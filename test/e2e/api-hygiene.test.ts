import { connect, type Socket } from 'node:net';
import { setTimeout as delay } from 'node:timers/promises';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { buildServer } from '../../src/http/server.ts';
import { apiToken } from '../helpers/api.ts';
import { startWorld, type World } from '../helpers/world.ts';

const ADMIN = 'admin-token-0123456789';
const TIMEOUTS = { headersMs: 400, requestMs: 800, keepAliveMs: 600 };

/** A raw connection that records what the server sent and when it closed the connection. */
async function rawClient(port: number) {
  const socket: Socket = connect(port, '127.0.0.1');
  await new Promise<void>((r) => socket.once('connect', () => r()));
  const opened = Date.now();
  let received = '';
  socket.on('data', (d) => {
    received += d.toString();
  });
  const closed = new Promise<number>((resolve) => {
    socket.on('error', () => {});
    socket.once('close', () => resolve(Date.now() - opened));
  });
  return { socket, closed, received: () => received, opened };
}

describe('request hygiene: server timeouts', () => {
  let w: World;
  let server: FastifyInstance | undefined;
  beforeAll(async () => {
    w = await startWorld({ worker: false });
  });
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });
  afterAll(async () => {
    await w.close();
  });

  const start = async (extra?: (app: FastifyInstance) => void) => {
    server = buildServer({
      services: w.app.services,
      tokens: [apiToken({ token: ADMIN, accountId: w.accountId, role: 'company_admin', userId: 'a-1' })],
      timeouts: TIMEOUTS,
    });
    extra?.(server);
    await server.listen({ host: '127.0.0.1', port: 0 });
    return (server.server.address() as { port: number }).port;
  };

  it('closes a connection whose body is shorter than its Content-Length within the request timeout', async () => {
    const port = await start();
    const c = await rawClient(port);
    c.socket.write(
      [
        `POST /v1/accounts/${w.accountId}/consents HTTP/1.1`,
        'Host: 127.0.0.1',
        `Authorization: Bearer ${ADMIN}`,
        'Content-Type: application/json',
        'Content-Length: 100',
        '',
        '{"level":"user"',
      ].join('\r\n'),
    );
    const after = await Promise.race([c.closed, delay(5_000).then(() => Number.POSITIVE_INFINITY)]);
    expect(after).toBeGreaterThanOrEqual(TIMEOUTS.requestMs - 50);
    // Node sweeps connections every quarter of the header timeout here (at most 1 s in production).
    expect(after).toBeLessThan(TIMEOUTS.requestMs + 600);
    expect(c.received()).toMatch(/^HTTP\/1\.1 408/);
    expect(await w.app.services.listConsents(w.accountId)).toHaveLength(1);
  });

  it('closes a connection that never finishes its headers (slowloris) within the header timeout', async () => {
    const port = await start();
    const c = await rawClient(port);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n');
    const drip = setInterval(() => c.socket.writable && c.socket.write('X-A: b\r\n'), 100);
    try {
      const after = await Promise.race([c.closed, delay(5_000).then(() => Number.POSITIVE_INFINITY)]);
      expect(after).toBeGreaterThanOrEqual(TIMEOUTS.headersMs - 50);
      expect(after).toBeLessThan(TIMEOUTS.headersMs + 600);
    } finally {
      clearInterval(drip);
    }
  });

  it('closes an idle kept-alive connection after the keep-alive timeout', async () => {
    const port = await start();
    const c = await rawClient(port);
    c.socket.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: keep-alive\r\n\r\n');
    while (!c.received().includes('{"ok":true}')) await delay(10);
    const answered = Date.now();
    await c.closed;
    const idle = Date.now() - answered;
    expect(idle).toBeGreaterThanOrEqual(TIMEOUTS.keepAliveMs - 100);
    // Node keeps the socket up to a second past the keep-alive timeout (its buffer against racing clients).
    expect(idle).toBeLessThan(TIMEOUTS.keepAliveMs + 1_500);
  });

  it('does not cut a handler that takes longer than the request timeout (a ?wait=true sync)', async () => {
    const port = await start((app) =>
      app.get('/slow', { config: { public: true } }, async () => {
        await delay(TIMEOUTS.requestMs * 2);
        return { ok: true };
      }),
    );
    const res = await fetch(`http://127.0.0.1:${port}/slow`);
    expect(res.status).toBe(200);
  });

  it('sets every timeout by default, where Fastify leaves the request timeout off', async () => {
    server = buildServer({ services: w.app.services, tokens: [] });
    await server.ready();
    expect(server.server.headersTimeout).toBe(10_000);
    expect(server.server.requestTimeout).toBe(30_000);
    expect(server.server.keepAliveTimeout).toBe(72_000);
  });
});
