import { describe, expect, it } from 'vitest';
import { parseCredentials } from '../../connectors/registry.ts';

describe('link credentials', () => {
  it('refuses an unknown (misspelt) credential field, naming it and never its value', () => {
    const at = () =>
      parseCredentials('autotask', {
        userName: 'u@x',
        secret: 'top-secret-value',
        integrationCode: 'I',
        impersonationResourceID: 7,
      });
    expect(at).toThrow(/impersonationResourceID/);
    expect(at).not.toThrow(/top-secret-value/);
    const nav = () =>
      parseCredentials('navision', {
        flavour: 'bc-onprem',
        baseUrl: 'https://bc.example.com',
        serverInstance: 'BC',
        company: 'CRONUS',
        auth: { type: 'basic', user: 'U', accessKey: 'k', acessKey: 'typo' },
      });
    expect(nav).toThrow(/acessKey/);
  });
});
