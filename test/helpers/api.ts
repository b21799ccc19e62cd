import { type ApiToken, type Role, tokenDigest } from '../../src/config.ts';
import { buildServer, type ServerOptions } from '../../src/http/server.ts';
import type { World } from './world.ts';

/** A token as a test holds it: the token itself, and whom it speaks for. */
export interface TestToken {
  token: string;
  accountId: string;
  role: Role;
  userId: string;
}

/** The `API_TOKENS` entry of a test token: its digest, as the server is configured in production. */
export const apiToken = (t: TestToken): ApiToken => ({
  digest: tokenDigest(t.token),
  accountId: t.accountId,
  role: t.role,
  userId: t.userId,
  plain: false,
});

export interface ApiHarness {
  base: string;
  /** One JSON request; a body is sent (as JSON) only when given. */
  // biome-ignore lint/suspicious/noExplicitAny: response bodies are asserted field by field
  call(method: string, path: string, token?: string, body?: unknown): Promise<{ status: number; body: any }>;
  close(): Promise<void>;
}

/** The admin API of a world on a real socket, with the given tokens (configured by digest). */
export async function startApi(
  w: World,
  tokens: (TestToken | ApiToken)[],
  opts: Partial<Omit<ServerOptions, 'services' | 'tokens'>> = {},
): Promise<ApiHarness> {
  const server = buildServer({
    services: w.app.services,
    tokens: tokens.map((t) => ('digest' in t ? t : apiToken(t))),
    ...opts,
  });
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
