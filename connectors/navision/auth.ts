import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import { createRequire } from 'node:module';
import axios, { type AxiosInstance } from 'axios';
import { isCancellation } from '../../src/net/http.ts';
import { NavisionError, toNavisionError } from './errors.ts';
import { type BasicAuth, type NavisionCredentials, type NtlmAuth, TokenResponse } from './schemas.ts';

/** What one try on the wire adds to the client's request: the Authorization header, and for NTLM its agents. */
export interface AuthAttempt {
  headers: Record<string, string>;
  httpAgent?: HttpAgent;
  httpsAgent?: HttpsAgent;
}

/** Sends the client's request once with `attempt` added; rejects with the raw axios error. */
export type Send<T> = (attempt: AuthAttempt) => Promise<T>;

/**
 * How a link's requests carry its credentials. Not in the contract: retries — the client's one retry loop owns
 * those; `authorize` only answers the 401s its own scheme defines (a token refresh, an NTLM challenge), once.
 */
export interface NavisionAuth {
  readonly scheme: 'basic' | 'ntlm' | 'bearer';
  /** Gets ready outside the request's concurrency slot (fetches a token when none is fresh). */
  prepare(): Promise<void>;
  authorize<T>(send: Send<T>): Promise<T>;
  /** Everything to cut out of messages and logs, a current token included. */
  secrets(): string[];
}

const statusOf = (err: unknown): number | undefined =>
  axios.isAxiosError(err) ? err.response?.status : undefined;

/** NavUserPassword: the user and its web service access key as HTTP Basic (UTF-8). */
export function basicAuth(c: Pick<BasicAuth, 'user' | 'accessKey'>): NavisionAuth {
  const header = `Basic ${Buffer.from(`${c.user}:${c.accessKey}`, 'utf8').toString('base64')}`;
  return {
    scheme: 'basic',
    prepare: async () => {},
    authorize: (send) => send({ headers: { Authorization: header } }),
    secrets: () => [c.accessKey, header.slice('Basic '.length)],
  };
}

/** The three functions of @ewsjs/ntlm-client (it ships no types). Messages come back as `NTLM <base64>`. */
interface NtlmLibrary {
  createType1Message(workstation?: string, target?: string): string;
  decodeType2Message(token: string): unknown;
  createType3Message(
    type2: unknown,
    username: string,
    password: string,
    workstation?: string,
    target?: string,
  ): string;
}
const ntlm = createRequire(import.meta.url)('@ewsjs/ntlm-client') as NtlmLibrary;

type NtlmScheme = 'NTLM' | 'Negotiate';
const base64Of = (message: string) => message.replace(/^NTLM\s+/, '');

/** Schemes a 401 offers, and the token of a challenge in `scheme`, from `WWW-Authenticate` (comma-joined). */
function challengeOf(err: unknown): { offers: NtlmScheme[]; token: (s: NtlmScheme) => string | undefined } {
  const raw = axios.isAxiosError(err) ? err.response?.headers?.['www-authenticate'] : undefined;
  const header = Array.isArray(raw) ? raw.join(', ') : typeof raw === 'string' ? raw : '';
  const offers = [...header.matchAll(/(?:^|,)\s*(NTLM|Negotiate)\b/gi)].map((m) =>
    m[1]!.toLowerCase() === 'ntlm' ? 'NTLM' : 'Negotiate',
  ) as NtlmScheme[];
  return {
    offers,
    token: (s) => new RegExp(`(?:^|,)\\s*${s}\\s+([A-Za-z0-9+/]+=*)`, 'i').exec(header)?.[1],
  };
}

/**
 * Windows authentication (NTLM, or NTLM inside Negotiate when that is all the server offers). NTLM
 * authenticates a connection: Type 1, the server's Type 2 challenge and Type 3 must travel on one TCP socket,
 * or NAV answers 400 (NOTES 13). Each request therefore gets its own keep-alive agent with a single socket for
 * its whole handshake, destroyed after. The messages are @ewsjs/ntlm-client's; every try goes through the
 * gate's axios instance like any other request.
 */
export function ntlmAuth(c: Pick<NtlmAuth, 'user' | 'password' | 'domain' | 'workstation'>): NavisionAuth {
  // `DOMAIN\user` is how Windows users are often written; NTLM carries the two apart.
  const [domain, user] =
    c.domain === undefined && c.user.includes('\\')
      ? (c.user.split('\\', 2) as [string, string])
      : [c.domain, c.user];
  let scheme: NtlmScheme = 'NTLM';
  return {
    scheme: 'ntlm',
    prepare: async () => {},
    async authorize<T>(send: Send<T>): Promise<T> {
      const agents = {
        httpAgent: new HttpAgent({ keepAlive: true, maxSockets: 1 }),
        httpsAgent: new HttpsAgent({ keepAlive: true, maxSockets: 1 }),
      };
      try {
        for (let round = 0; ; round++) {
          const type1 = base64Of(ntlm.createType1Message(c.workstation, domain));
          let challenge: string | undefined;
          try {
            return await send({ headers: { Authorization: `${scheme} ${type1}` }, ...agents });
          } catch (err) {
            if (statusOf(err) !== 401) throw err;
            const { offers, token } = challengeOf(err);
            challenge = token(scheme);
            if (challenge === undefined) {
              // The server offers only the other scheme (NAV may offer just Negotiate): start over with it.
              const other = offers.find((s) => s !== scheme);
              if (round > 0 || other === undefined) throw err;
              scheme = other;
              continue;
            }
          }
          let type3: string;
          try {
            const type2 = ntlm.decodeType2Message(challenge);
            type3 = base64Of(ntlm.createType3Message(type2, user, c.password, c.workstation, domain));
          } catch (cause) {
            throw new NavisionError(
              `the server's ${scheme} challenge is not an NTLM challenge (Kerberos-only Windows authentication is not supported)`,
              401,
              [],
              'permanent',
              undefined,
              undefined,
              undefined,
              { cause },
            );
          }
          return await send({ headers: { Authorization: `${scheme} ${type3}` }, ...agents });
        }
      } finally {
        agents.httpAgent.destroy();
        agents.httpsAgent.destroy();
      }
    },
    secrets: () => [c.password],
  };
}

/**
 * Business Central's resource, whatever host serves the API (a sandbox, another cloud's endpoint): Entra ID
 * issues tokens for the resource's App ID URI, not for the URL the requests go to.
 */
export const BC_SCOPE = 'https://api.businesscentral.dynamics.com/.default';

export interface TokenOptions {
  /** The gate's instance: the token request is a request of the link like any other. */
  http: AxiosInstance;
  authorityUrl: string;
  tenantId: string;
  clientId: string;
  clientSecret: string;
  /** The resource's `.default` scope (BC_SCOPE). */
  scope: string;
  /** A token is renewed this long before it expires. @defaultValue 300000 (5 min) */
  refreshMarginMs?: number;
  signal?: AbortSignal;
  timeoutMs?: number;
  now?: () => number;
}

/** When Entra ID does not say (it always does), a token is taken to last this long. */
const DEFAULT_LIFETIME_MS = 3_599_000;

/**
 * OAuth2 client-credentials tokens from Entra ID (`{authority}/{tenant}/oauth2/v2.0/token`), cached and
 * renewed `refreshMarginMs` before they expire (at most half-way through a short-lived one). Concurrent
 * callers share one token request.
 */
export class ClientCredentialsTokens {
  private cached: { token: string; refreshAt: number } | undefined;
  private pending: Promise<string> | undefined;
  private fetched = 0;
  private readonly now: () => number;

  constructor(private readonly o: TokenOptions) {
    this.now = o.now ?? Date.now;
  }

  /** Token requests sent so far. */
  get fetches(): number {
    return this.fetched;
  }

  /** The cached token while it is fresh, else a new one. */
  get(): Promise<string> {
    if (this.cached && this.now() < this.cached.refreshAt) return Promise.resolve(this.cached.token);
    return this.fetch();
  }

  /**
   * A new token because `stale` was refused. When another request already replaced it, that newer token is
   * the answer: several requests refused at once cause one token request, not one each.
   */
  refresh(stale: string): Promise<string> {
    if (this.pending) return this.pending;
    if (this.cached && this.cached.token !== stale && this.now() < this.cached.refreshAt) {
      return Promise.resolve(this.cached.token);
    }
    this.cached = undefined;
    return this.fetch();
  }

  /** The current token and the client secret, for redaction. */
  secrets(): string[] {
    return [this.o.clientSecret, ...(this.cached ? [this.cached.token] : [])];
  }

  private fetch(): Promise<string> {
    this.pending ??= this.request().finally(() => {
      this.pending = undefined;
    });
    return this.pending;
  }

  private async request(): Promise<string> {
    const { o } = this;
    const url = `${o.authorityUrl}/${encodeURIComponent(o.tenantId)}/oauth2/v2.0/token`;
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: o.clientId,
      client_secret: o.clientSecret,
      scope: o.scope,
    });
    const asked = this.now();
    this.fetched++;
    let data: unknown;
    try {
      const res = await o.http.post(url, form.toString(), {
        headers: { 'Content-Type': 'application/x-www-form-urlencoded', Accept: 'application/json' },
        signal: o.signal,
        ...(o.timeoutMs ? { timeout: o.timeoutMs } : {}),
      });
      data = res.data;
    } catch (err) {
      if (isCancellation(err) || !axios.isAxiosError(err)) throw err;
      throw toNavisionError(err, 'POST', `${o.authorityUrl} token`, [o.clientSecret]);
    }
    const parsed = TokenResponse.safeParse(data);
    if (!parsed.success) {
      throw new NavisionError(
        'Entra ID answered the token request without an access token',
        200,
        [],
        'permanent',
      );
    }
    const lifetime = parsed.data.expires_in ? parsed.data.expires_in * 1000 : DEFAULT_LIFETIME_MS;
    const margin = Math.min(o.refreshMarginMs ?? 300_000, lifetime / 2);
    // Counted from when it was asked for: the answer's travel time is already part of the token's life.
    this.cached = { token: parsed.data.access_token, refreshAt: asked + lifetime - margin };
    return parsed.data.access_token;
  }
}

/**
 * Bearer tokens on Business Central online. BC's 401 headers are undocumented (NOTES 12), so any 401 on a
 * bearer call — `WWW-Authenticate: … error="invalid_token"` or not — is answered by exactly one new token and
 * one more try; a second 401 is the caller's (permanent). A 401 is refused before the request is processed,
 * so even a POST may go once more.
 */
export function bearerAuth(tokens: ClientCredentialsTokens): NavisionAuth {
  return {
    scheme: 'bearer',
    prepare: async () => {
      await tokens.get();
    },
    async authorize<T>(send: Send<T>): Promise<T> {
      const token = await tokens.get();
      try {
        return await send({ headers: { Authorization: `Bearer ${token}` } });
      } catch (err) {
        if (statusOf(err) !== 401) throw err;
        const fresh = await tokens.refresh(token);
        return send({ headers: { Authorization: `Bearer ${fresh}` } });
      }
    },
    secrets: () => tokens.secrets(),
  };
}

/** The scheme a link's credentials call for. */
export function createAuth(
  c: NavisionCredentials,
  o: {
    http: AxiosInstance;
    signal?: AbortSignal;
    timeoutMs?: number;
    now?: () => number;
    refreshMarginMs?: number;
  },
): NavisionAuth {
  switch (c.flavour) {
    case 'nav-odata':
      return c.auth.type === 'basic' ? basicAuth(c.auth) : ntlmAuth(c.auth);
    case 'bc-onprem':
      return basicAuth(c.auth);
    case 'bc-online':
      return bearerAuth(
        new ClientCredentialsTokens({
          http: o.http,
          authorityUrl: c.authorityUrl,
          tenantId: c.tenantId,
          clientId: c.clientId,
          clientSecret: c.clientSecret,
          scope: BC_SCOPE,
          signal: o.signal,
          timeoutMs: o.timeoutMs,
          now: o.now,
          refreshMarginMs: o.refreshMarginMs,
        }),
      );
  }
}
