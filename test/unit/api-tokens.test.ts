import * as crypto from 'node:crypto';
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { type ApiToken, tokenDigest } from '../../src/config.ts';
import { bearerOf } from '../../src/http/auth/authenticate.ts';
import { formatDigest, matchToken, newToken, plainTokenWarning } from '../../src/http/auth/tokens.ts';

vi.mock('node:crypto', async (importOriginal) => {
  const actual = await importOriginal<typeof import('node:crypto')>();
  return { ...actual, timingSafeEqual: vi.fn(actual.timingSafeEqual) };
});

const entry = (token: string, accountId: string, plain = false): ApiToken => ({
  digest: tokenDigest(token),
  accountId,
  role: 'company_admin',
  userId: `u-${accountId}`,
  plain,
});

describe('API token checks', () => {
  const tokens = Array.from({ length: 8 }, (_, i) => entry(`token-${i}-0123456789abcdef`, `acct-${i}`));
  beforeEach(() => {
    vi.mocked(crypto.timingSafeEqual).mockClear();
  });

  it('compares fixed-length digests against every configured token, wherever the match is', () => {
    for (const presented of ['token-0-0123456789abcdef', 'token-7-0123456789abcdef', 'x', 'y'.repeat(5000)]) {
      vi.mocked(crypto.timingSafeEqual).mockClear();
      const found = matchToken(tokens, presented);
      expect(found?.accountId).toBe(/token-(\d)/.exec(presented) ? `acct-${presented[6]}` : undefined);
      const calls = vi.mocked(crypto.timingSafeEqual).mock.calls;
      expect(calls).toHaveLength(tokens.length);
      for (const [a, b] of calls) {
        expect((a as Buffer).length).toBe(32);
        expect((b as Buffer).length).toBe(32);
      }
    }
  });

  it('makes tokens of 256 random bits and digests that are sha256 hex of them', () => {
    const a = newToken();
    const b = newToken();
    expect(a.token).not.toBe(b.token);
    expect(Buffer.from(a.token, 'base64url')).toHaveLength(32);
    expect(a.digest).toBe(formatDigest(a.token));
    expect(a.digest).toBe(`sha256:${crypto.createHash('sha256').update(a.token).digest('hex')}`);
  });

  it('warns about plain tokens by position and identity, never by value', () => {
    expect(plainTokenWarning(tokens)).toBeUndefined();
    const warning = plainTokenWarning([tokens[0]!, entry('plain-secret-0123456789', 'acct-p', true)]);
    expect(warning).toMatch(/1 token\(s\) in plain text: entry 2 \(acct-p:company_admin:u-acct-p\)/);
    expect(warning).not.toContain('plain-secret');
  });

  it('reads the Bearer scheme case-insensitively and nothing else', () => {
    expect(bearerOf('Bearer abc')).toBe('abc');
    expect(bearerOf('bearer abc')).toBe('abc');
    expect(bearerOf('BEARER  abc ')).toBe('abc');
    expect(bearerOf('Bearer')).toBeUndefined();
    expect(bearerOf('Bearer a b')).toBeUndefined();
    expect(bearerOf('Basic abc')).toBeUndefined();
    expect(bearerOf('Bearerabc')).toBeUndefined();
    expect(bearerOf(undefined)).toBeUndefined();
  });
});
