import type { ApiToken } from '../../src/config.ts';
import { buildServer } from '../../src/http/server.ts';
import type { World } from './world.ts';

export interface ApiHarness {
  base: string;
  /** One JSON request; a body is sent (as JSON) only when given. */
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
  call(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** The admin API of a world on a real socket, with the given tokens. */
export async function startApi(w: World, tokens: ApiToken[]): Promise<ApiHarness> {
  const server = buildServer({ services: w.app.services, tokens });
  const base = await server.listen({ host: '127.0.0.1', port: 0 });
  return {
    base,
    async call(method, path, token, body) {
      const res = await fetch(`${base}${path}`, {
        method,
        headers: {
          ...(token ? { authorization: `Bearer ${token}` } : {}),
          ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
      return { status: res.status, body: await res.json() };
    },
    close: () => server.close(),
  };
}
