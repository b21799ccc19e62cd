import { execFile, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promisify } from 'node:util';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.ts';
import { type ApiHarness, apiToken, startApi } from '../helpers/api.ts';
import { keyEnv } from '../helpers/store.ts';
import { startWorld, type World } from '../helpers/world.ts';

const exec = promisify(execFile);
const ADMIN = 'admin-token-0123456789';
const OPS = 'ops-token-0123456789ab';

describe('admin API authentication: digests, the Bearer scheme, failed-token limit, headers', () => {
  let w: World;
  let api: ApiHarness | undefined;
  beforeAll(async () => {
    w = await startWorld({ worker: false });
  });
  afterEach(async () => {
    await api?.close();
    api = undefined;
  });
  afterAll(async () => {
    await w.close();
  });

  const tokens = () => [
    { token: ADMIN, accountId: w.accountId, role: 'company_admin' as const, userId: 'admin-9' },
    { token: OPS, accountId: '*', role: 'operator' as const, userId: 'ops-1' },
  ];
  const get = (authorization?: string, headers: Record<string, string> = {}) =>
    fetch(`${api!.base}/v1/accounts/${w.accountId}/consents`, {
      headers: { ...(authorization ? { authorization } : {}), ...headers },
    });

  it('accepts the Bearer scheme in any letter case (RFC 7235), and nothing but Bearer', async () => {
    api = await startApi(w, tokens());
    for (const scheme of ['Bearer', 'bearer', 'BEARER', 'bEaReR']) {
      expect((await get(`${scheme} ${ADMIN}`)).status).toBe(200);
    }
    expect((await get(`Bearer   ${ADMIN}`)).status).toBe(200);
    expect((await get(`Basic ${ADMIN}`)).status).toBe(401);
    expect((await get(`Bearer${ADMIN}`)).status).toBe(401);
    expect((await get(ADMIN)).status).toBe(401);
  });

  it('takes API_TOKENS as digests; a plain token still works; neither kind leaks through a prefix', async () => {
    const digest = `sha256:${createHash('sha256').update(ADMIN).digest('hex')}`;
    const config = loadConfig({
      CREDENTIALS_KEYS: keyEnv(),
      API_TOKENS: `${digest}=${w.accountId}:company_admin:admin-9,${OPS}=*:operator:ops-1`,
    });
    expect(config.API_TOKENS.map((t) => t.plain)).toEqual([false, true]);
    // Only digests are kept, even of a token configured in plain text.
    expect(JSON.stringify(config)).not.toContain(OPS);
    api = await startApi(w, config.API_TOKENS);
    expect((await api.call('GET', `/v1/accounts/${w.accountId}/consents`, ADMIN)).status).toBe(200);
    expect((await api.call('GET', `/v1/accounts/${w.accountId}/consents`, OPS)).status).toBe(200);
    // The digest itself is no token, nor is a token's prefix or a longer string starting with it.
    for (const wrong of [digest, ADMIN.slice(0, -1), `${ADMIN}x`, `${OPS}${OPS}`]) {
      expect((await api.call('GET', `/v1/accounts/${w.accountId}/consents`, wrong)).status).toBe(401);
    }
  });

  it('answers 401 with WWW-Authenticate, security headers and no-store, and says nothing of the account', async () => {
    api = await startApi(w, tokens());
    const none = await get();
    expect(none.status).toBe(401);
    expect(none.headers.get('www-authenticate')).toBe('Bearer realm="billing-sync"');
    const wrong = await get('Bearer wrong-token-0123456789');
    expect(wrong.headers.get('www-authenticate')).toMatch(/error="invalid_token"/);
    const body = await wrong.text();
    expect(body).not.toContain(w.accountId);
    for (const res of [none, wrong, await get(`Bearer ${ADMIN}`)]) {
      expect(res.headers.get('cache-control')).toBe('no-store');
      expect(res.headers.get('x-content-type-options')).toBe('nosniff');
      expect(res.headers.get('x-frame-options')).toBe('SAMEORIGIN');
      expect(res.headers.get('content-security-policy')).toBe("default-src 'none';frame-ancestors 'none'");
      expect(res.headers.get('strict-transport-security')).toMatch(/max-age=\d+/);
      expect(res.headers.get('x-powered-by')).toBeNull();
    }
  });

  it('refuses an address past N failed tokens with 429 and Retry-After, whatever it sends, until the window ends', async () => {
    api = await startApi(w, tokens(), { authFailures: { max: 5, windowMs: 1_500 } });
    // Successful requests are not counted.
    for (let i = 0; i < 30; i++) expect((await get(`Bearer ${ADMIN}`)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await get(`Bearer guess-${i}-0123456789abcdef`)).status).toBe(401);
    const limited = await get('Bearer guess-6-0123456789abcdef');
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    expect(Number(limited.headers.get('retry-after'))).toBeLessThanOrEqual(2);
    expect(((await limited.json()) as { error: { code: string } }).error.code).toBe('too_many_auth_failures');
    expect(limited.headers.get('cache-control')).toBe('no-store');
    // Once over the limit the token is not looked at: a right guess would otherwise still be told apart.
    expect((await get(`Bearer ${ADMIN}`)).status).toBe(429);
    expect((await get()).status).toBe(429);
    // Public routes are not behind the limit.
    expect((await fetch(`${api.base}/healthz`)).status).toBe(200);
    await new Promise((r) => setTimeout(r, 1_600));
    expect((await get(`Bearer ${ADMIN}`)).status).toBe(200);
    expect((await get('Bearer guess-7-0123456789abcdef')).status).toBe(401);
  });

  it('counts per client address: a forged X-Forwarded-For changes nothing unless the proxy is trusted', async () => {
    api = await startApi(w, tokens(), { authFailures: { max: 2, windowMs: 60_000 } });
    for (let i = 0; i < 2; i++)
      await get('Bearer wrong-token-0123456789', { 'x-forwarded-for': `10.0.0.${i}` });
    expect((await get('Bearer wrong-token-0123456789', { 'x-forwarded-for': '10.0.0.9' })).status).toBe(429);
    await api.close();

    api = await startApi(w, tokens(), {
      authFailures: { max: 2, windowMs: 60_000 },
      trustProxy: ['127.0.0.1'],
    });
    const from = (ip: string, auth = 'Bearer wrong-token-0123456789') => get(auth, { 'x-forwarded-for': ip });
    expect((await from('10.0.0.1')).status).toBe(401);
    expect((await from('10.0.0.1')).status).toBe(401);
    expect((await from('10.0.0.1')).status).toBe(429);
    expect((await from('10.0.0.1', `Bearer ${ADMIN}`)).status).toBe(429);
    expect((await from('10.0.0.2', `Bearer ${ADMIN}`)).status).toBe(200);
    expect((await from('10.0.0.2')).status).toBe(401);
  });

  it('shares the count through Redis across API processes', async () => {
    const redis = w.app.redis;
    const shared = { max: 3, windowMs: 60_000, redis, keyPrefix: `${w.env.REDIS_PREFIX}:auth-failures:` };
    api = await startApi(w, tokens(), { authFailures: shared });
    const other = await startApi(w, tokens(), { authFailures: shared });
    try {
      expect(
        (await api.call('GET', `/v1/accounts/${w.accountId}/consents`, 'wrong-token-0123456789a')).status,
      ).toBe(401);
      expect(
        (await other.call('GET', `/v1/accounts/${w.accountId}/consents`, 'wrong-token-0123456789b')).status,
      ).toBe(401);
      expect(
        (await api.call('GET', `/v1/accounts/${w.accountId}/consents`, 'wrong-token-0123456789c')).status,
      ).toBe(401);
      const fourth = await other.call(
        'GET',
        `/v1/accounts/${w.accountId}/consents`,
        'wrong-token-0123456789d',
      );
      expect(fourth.status).toBe(429);
      expect((await api.call('GET', `/v1/accounts/${w.accountId}/consents`, ADMIN)).status).toBe(429);
      expect(await redis.keys(`${w.env.REDIS_PREFIX}:auth-failures:*`)).toHaveLength(1);
    } finally {
      await other.close();
    }
  });

  it('billing-sync token prints a new token and the digest API_TOKENS takes; the server accepts the pair', async () => {
    const { stdout } = await exec(process.execPath, [
      'bin/billing-sync.js',
      'token',
      '--account',
      w.accountId,
      '--role',
      'company_admin',
      '--user',
      'admin-5',
    ]);
    const token = /^token: +(\S+)$/m.exec(stdout)?.[1];
    const digest = /^digest: +(\S+)$/m.exec(stdout)?.[1];
    const entry = /^entry: +(\S+)$/m.exec(stdout)?.[1];
    expect(token).toMatch(/^[\w-]{43}$/);
    expect(digest).toBe(`sha256:${createHash('sha256').update(token!).digest('hex')}`);
    expect(entry).toBe(`${digest}=${w.accountId}:company_admin:admin-5`);
    const again = await exec(process.execPath, ['bin/billing-sync.js', 'token']);
    expect(again.stdout).not.toContain(token!);

    const config = loadConfig({ CREDENTIALS_KEYS: keyEnv(), API_TOKENS: entry! });
    expect(config.API_TOKENS[0]).toMatchObject({ plain: false, accountId: w.accountId, userId: 'admin-5' });
    api = await startApi(w, config.API_TOKENS);
    const consent = await api.call('POST', `/v1/accounts/${w.accountId}/consents`, token, {
      level: 'user',
      scopes: ['billing:read'],
    });
    expect(consent.status).toBe(201);
    expect(consent.body.grantedBy).toEqual({ userId: 'admin-5', role: 'company_admin' });

    const child = execFile(process.execPath, ['bin/billing-sync.js', 'token', '--digest-stdin']);
    child.stdin!.end(`${token}\n`);
    const out = await new Promise<string>((resolve) => {
      let text = '';
      child.stdout!.on('data', (d) => {
        text += d;
      });
      child.on('close', () => resolve(text));
    });
    expect(out.trim()).toBe(digest);
  });

  it('the api command warns at start-up about plain tokens, naming where they are, never what they are', async () => {
    const child = spawn(process.execPath, ['bin/billing-sync.js', 'api'], {
      env: {
        ...process.env,
        ...w.env,
        LOG_LEVEL: 'info',
        API_PORT: '0',
        API_TOKENS: `sha256:${'ab'.repeat(32)}=${w.accountId}:company_admin:admin-9,${OPS}=*:operator:ops-1`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    try {
      const deadline = Date.now() + 20_000;
      while (!out.includes('admin API listening') && Date.now() < deadline && child.exitCode === null) {
        await new Promise((r) => setTimeout(r, 50));
      }
      expect(out).toContain('admin API listening');
      expect(out).toMatch(/1 token\(s\) in plain text: entry 2 \(\*:operator:ops-1\)/);
      expect(out).not.toContain(OPS);
    } finally {
      child.kill('SIGTERM');
      await new Promise((r) => child.once('exit', r));
    }
  });

  it('keeps API_TOKENS entries strict: digest length, * for operators only, one identity per token', () => {
    const env = (API_TOKENS: string) => () => loadConfig({ CREDENTIALS_KEYS: keyEnv(), API_TOKENS });
    expect(env(`sha256:${'ab'.repeat(31)}=a:user:u1`)).toThrow(
      /API_TOKENS: entry 1: a sha256: digest is 64 hex/,
    );
    expect(env(`sha256:${'ab'.repeat(32)}=*:company_admin:u1`)).toThrow(
      /only an operator may hold every account/,
    );
    const d = `sha256:${createHash('sha256').update(ADMIN).digest('hex')}`;
    expect(env(`${d}=a:user:u1,${ADMIN}=b:user:u2`)).toThrow(/entry 2: the same token is configured twice/);
    expect(apiToken(tokens()[0]!).digest).toHaveLength(32);
  });
});
