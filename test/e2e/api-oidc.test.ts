import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, generateKeyPair, type JWK, type JWTPayload, SignJWT } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import type { OidcOptions } from '../../src/http/auth/oidc.ts';
import { type ApiHarness, startApi } from '../helpers/api.ts';
import { keyEnv } from '../helpers/store.ts';
import { AUTOTASK_CREDENTIALS, BILLING_CODE, startWorld, type World } from '../helpers/world.ts';

const ISSUER = 'https://idp.example/tenant-1';
const AUDIENCE = 'billing-sync-admin-api';
type Key = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

/** An IdP's JWKS endpoint on 127.0.0.1 that counts its fetches; its key set (or a failure) can be changed. */
async function startJwks() {
  const state = { keys: [] as JWK[], fetches: 0, failing: false };
  const server: Server = createServer((_req, res) => {
    state.fetches++;
    if (state.failing) {
      res.writeHead(500).end();
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
  return { state, url, close: () => new Promise<void>((r) => server.close(() => r())) };
}

async function signingKey(kid: string, alg = 'ES256') {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, alg, privateKey, jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

describe('OIDC / JWT bearer tokens against a JWKS served on 127.0.0.1', () => {
  let w: World;
  let jwks: Awaited<ReturnType<typeof startJwks>>;
  let api: ApiHarness | undefined;
  let k1: Awaited<ReturnType<typeof signingKey>>;

  beforeAll(async () => {
    w = await startWorld({ worker: false });
    jwks = await startJwks();
    k1 = await signingKey('k1');
  });
  afterEach(async () => {
    await api?.close();
    api = undefined;
    jwks.state.failing = false;
    jwks.state.keys = [k1.jwk];
    jwks.state.fetches = 0;
  });
  afterAll(async () => {
    await jwks.close();
    await w.close();
  });

  /** The server as `OIDC_*` configures it (defaults for algorithms and claim names). */
  const oidcOptions = (): OidcOptions => {
    const c = loadConfig({
      CREDENTIALS_KEYS: keyEnv(),
      OIDC_ISSUER: ISSUER,
      OIDC_AUDIENCE: AUDIENCE,
      OIDC_JWKS_URL: jwks.url,
    });
    return {
      issuer: c.OIDC_ISSUER!,
      audience: c.OIDC_AUDIENCE!,
      jwksUrl: c.OIDC_JWKS_URL!,
      algorithms: c.OIDC_ALGORITHMS,
      claims: { account: c.OIDC_ACCOUNT_CLAIM, role: c.OIDC_ROLE_CLAIM, user: c.OIDC_USER_CLAIM },
    };
  };
  const start = async (opts: Partial<Parameters<typeof startApi>[2]> = {}) => {
    jwks.state.keys = [k1.jwk];
    api = await startApi(w, [], { oidc: oidcOptions(), ...opts });
    return api;
  };
  const sign = async (
    claims: JWTPayload,
    o: {
      key?: { kid: string; alg: string; privateKey: Key };
      iss?: string;
      aud?: string;
      exp?: string | number;
    } = {},
  ) => {
    const key = o.key ?? k1;
    let jwt = new SignJWT(claims)
      .setProtectedHeader({ alg: key.alg, kid: key.kid })
      .setIssuer(o.iss ?? ISSUER)
      .setAudience(o.aud ?? AUDIENCE)
      .setIssuedAt();
    if (o.exp !== 0) jwt = jwt.setExpirationTime(o.exp ?? '5m');
    return jwt.sign(key.privateKey);
  };
  const admin = (extra: JWTPayload = {}) => ({
    sub: 'oidc-admin-1',
    billing_sync_account: w.accountId,
    billing_sync_role: 'company_admin',
    ...extra,
  });
  const consents = (token: string) => api!.call('GET', `/v1/accounts/${w.accountId}/consents`, token);

  it('accepts a signed token: the caller is the claims (account, role, user), not the body', async () => {
    await start();
    const token = await sign(admin());
    expect((await consents(token)).status).toBe(200);
    const claimed = await api!.call('POST', `/v1/accounts/${w.accountId}/consents`, token, {
      level: 'user',
      scopes: ['billing:read'],
      grantedBy: 'someone-else',
    });
    expect(claimed.status).toBe(400);
    expect(claimed.body.error.message).toMatch(/grantedBy: unknown key/);
    const granted = await api!.call('POST', `/v1/accounts/${w.accountId}/consents`, token, {
      level: 'user',
      scopes: ['billing:read'],
    });
    expect(granted.status).toBe(201);
    expect(granted.body.grantedBy).toEqual({ userId: 'oidc-admin-1', role: 'company_admin' });
    // The key set is fetched once and cached, not once per request.
    for (let i = 0; i < 5; i++) await consents(token);
    expect(jwks.state.fetches).toBe(1);
  });

  it('binds the token to its account and role: another account is 403, a user may not link', async () => {
    await start();
    const other = await sign(admin({ billing_sync_account: 'another-account' }));
    const res = await consents(other);
    expect(res.status).toBe(403);
    expect(res.body.error.message).toMatch(/another account/);
    const user = await sign(admin({ billing_sync_role: ['user'], sub: 'oidc-user-2' }));
    expect((await consents(user)).status).toBe(200);
    const link = await api!.call('POST', `/v1/accounts/${w.accountId}/links`, user, {
      target: 'autotask',
      credentials: AUTOTASK_CREDENTIALS,
      spinpanelApiKey: w.sp.apiKey,
      settings: { serviceBillingCodeId: BILLING_CODE },
    });
    expect(link.status).toBe(403);
    const ops = await sign(admin({ billing_sync_account: '*', billing_sync_role: 'operator', sub: 'ops-7' }));
    expect((await api!.call('GET', `/v1/accounts/${w.accountId}/audit`, ops)).status).toBe(200);
  });

  it('refuses wrong issuer, audience, expiry, signer, algorithm and claims with 401', async () => {
    await start({ authFailures: { max: 100, windowMs: 60_000 } });
    const stranger = await signingKey('k1');
    const rsa = await signingKey('k-rsa', 'PS256');
    jwks.state.keys = [k1.jwk, rsa.jwk];
    const cases: Record<string, string> = {
      issuer: await sign(admin(), { iss: 'https://evil.example/' }),
      audience: await sign(admin(), { aud: 'another-api' }),
      expired: await sign(admin(), { exp: Math.floor(Date.now() / 1000) - 120 }),
      'no exp': await sign(admin(), { exp: 0 }),
      'signed by a key not in the set (same kid)': await sign(admin(), { key: stranger }),
      'algorithm not allowed (PS256)': await sign(admin(), { key: rsa }),
      'no role': await sign(admin({ billing_sync_role: undefined })),
      'unknown role': await sign(admin({ billing_sync_role: 'king' })),
      'two roles': await sign(admin({ billing_sync_role: ['user', 'company_admin'] })),
      'no account': await sign(admin({ billing_sync_account: undefined })),
      'every account without operator': await sign(admin({ billing_sync_account: '*' })),
      'no user': await sign(admin({ sub: undefined })),
    };
    const good = await sign(admin());
    const [h, p] = good.split('.');
    cases['alg none'] = `${Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url')}.${p}.`;
    cases['payload swapped'] =
      `${h}.${Buffer.from(JSON.stringify(admin({ billing_sync_role: 'operator' }))).toString('base64url')}.${good.split('.')[2]}`;
    for (const [why, token] of Object.entries(cases)) {
      const res = await consents(token);
      expect({ why, status: res.status }).toEqual({ why, status: 401 });
      expect(JSON.stringify(res.body)).not.toMatch(/jwt|claim|signature/i);
    }
    expect((await consents(good)).status).toBe(200);
  });

  it('takes a new signing key the IdP publishes (the set is fetched again for an unknown kid)', async () => {
    await start();
    expect((await consents(await sign(admin()))).status).toBe(200);
    const k2 = await signingKey('k2');
    jwks.state.keys = [k1.jwk, k2.jwk];
    // Within jose's cooldown (30 s) after a fetch an unknown kid is refused; past it the set is fetched again.
    expect((await consents(await sign(admin(), { key: k2 }))).status).toBe(401);
    vi.useFakeTimers({ toFake: ['Date'] });
    try {
      vi.setSystemTime(Date.now() + 31_000);
      expect((await consents(await sign(admin(), { key: k2 }))).status).toBe(200);
      expect(jwks.state.fetches).toBe(2);
    } finally {
      vi.useRealTimers();
    }
  });

  it('answers 503 when the key set cannot be read, and does not count that against the caller', async () => {
    await start({ authFailures: { max: 1, windowMs: 60_000 } });
    jwks.state.failing = true;
    const token = await sign(admin());
    for (let i = 0; i < 3; i++) {
      const res = await consents(token);
      expect(res.status).toBe(503);
      expect(res.body.error.code).toBe('auth_unavailable');
    }
    jwks.state.failing = false;
    await api!.close();
    api = await startApi(w, [], { oidc: oidcOptions(), authFailures: { max: 1, windowMs: 60_000 } });
    expect((await consents(token)).status).toBe(200);
  });

  it('still takes static tokens beside OIDC, and a made-up JWT is a counted failure', async () => {
    jwks.state.keys = [k1.jwk];
    api = await startApi(
      w,
      [{ token: 'static-token-0123456789', accountId: w.accountId, role: 'reseller', userId: 'r-1' }],
      { oidc: oidcOptions(), authFailures: { max: 1, windowMs: 60_000 } },
    );
    expect((await consents('static-token-0123456789')).status).toBe(200);
    expect((await consents('aaa.bbb.ccc')).status).toBe(401);
    expect((await consents('aaa.bbb.ccc')).status).toBe(429);
  });

  it('refuses an incomplete or unsafe OIDC configuration at start-up', () => {
    const load = (env: Record<string, string>) => () => loadConfig({ CREDENTIALS_KEYS: keyEnv(), ...env });
    expect(load({ OIDC_ISSUER: ISSUER })).toThrow(
      /OIDC_AUDIENCE: is required[\s\S]*OIDC_JWKS_URL: is required/,
    );
    expect(
      load({ OIDC_ISSUER: ISSUER, OIDC_AUDIENCE: AUDIENCE, OIDC_JWKS_URL: 'http://idp.example/jwks' }),
    ).toThrow(/OIDC_JWKS_URL: must be an https:\/\/ URL/);
    expect(
      load({
        OIDC_ISSUER: ISSUER,
        OIDC_AUDIENCE: AUDIENCE,
        OIDC_JWKS_URL: 'https://idp.example/jwks',
        OIDC_ALGORITHMS: 'HS256',
      }),
    ).toThrow(/OIDC_ALGORITHMS/);
  });
});
