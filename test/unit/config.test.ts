import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config.ts';
import { keyEnv } from '../helpers/store.ts';

describe('config', () => {
  it('applies defaults and treats blank values as unset', () => {
    const config = loadConfig({ CREDENTIALS_KEYS: keyEnv(), API_PORT: '  ', REDIS_URL: '' });
    expect(config.API_PORT).toBe(8080);
    expect(config.REDIS_URL).toBe('redis://127.0.0.1:6379');
    expect(config.SYNC_INTERVAL_MINUTES).toBe(60);
  });

  it('names every bad variable at once', () => {
    let caught: unknown;
    try {
      loadConfig({ API_PORT: 'eighty', SYNC_ATTEMPTS: '0', REDIS_URL: 'not a url' });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(ConfigError);
    const problems = (caught as ConfigError).problems.join('\n');
    for (const name of ['API_PORT', 'SYNC_ATTEMPTS', 'REDIS_URL', 'CREDENTIALS_KEYS: is required']) {
      expect(problems).toContain(name);
    }
  });

  it('never echoes a secret variable back, even when malformed', () => {
    const secret = 'k1:c2VjcmV0LXRoYXQtaXMtdG9vLXNob3J0';
    expect(() => loadConfig({ CREDENTIALS_KEYS: secret })).toThrow(/CREDENTIALS_KEYS/);
    try {
      loadConfig({ CREDENTIALS_KEYS: secret, API_TOKENS: 'short=a:b:c' });
    } catch (error) {
      expect(String(error)).not.toContain('c2VjcmV0');
      expect(String(error)).not.toContain('short=');
    }
  });

  it('parses API tokens by digest, bound to an account, a role and a user', () => {
    const digest = createHash('sha256').update('abcdefghijklmnop1234').digest();
    const config = loadConfig({
      CREDENTIALS_KEYS: keyEnv(),
      API_TOKENS: `sha256:${digest.toString('hex')}=acct-1:company_admin:u1,ops-token-0123456789=*:operator:ops`,
    });
    expect(config.API_TOKENS).toEqual([
      { digest, accountId: 'acct-1', role: 'company_admin', userId: 'u1', plain: false },
      {
        digest: createHash('sha256').update('ops-token-0123456789').digest(),
        accountId: '*',
        role: 'operator',
        userId: 'ops',
        plain: true,
      },
    ]);
    expect(() =>
      loadConfig({ CREDENTIALS_KEYS: keyEnv(), API_TOKENS: 'abcdefghijklmnop1234=a:king:u1' }),
    ).toThrow(/API_TOKENS/);
  });
});
