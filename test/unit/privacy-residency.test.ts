import { describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { assertResidency, ResidencyError } from '../../src/privacy/residency.ts';
import { keyEnv } from '../helpers/store.ts';

describe('data residency', () => {
  it('defaults to westeurope within westeurope,northeurope', () => {
    const config = loadConfig({ CREDENTIALS_KEYS: keyEnv() });
    expect(config.DATA_REGION).toBe('westeurope');
    expect(config.ALLOWED_REGIONS).toEqual(['westeurope', 'northeurope']);
    expect(() => assertResidency(config)).not.toThrow();
    expect(() => assertResidency({ ...config, DATA_REGION: 'northeurope' })).not.toThrow();
  });

  it('refuses a region outside the allowed list, naming both', () => {
    const config = loadConfig({ CREDENTIALS_KEYS: keyEnv(), DATA_REGION: 'eastus' });
    expect(() => assertResidency(config)).toThrow(ResidencyError);
    expect(() => assertResidency(config)).toThrow(
      /DATA_REGION "eastus".*ALLOWED_REGIONS \(westeurope, northeurope\)/,
    );
    const narrowed = loadConfig({ CREDENTIALS_KEYS: keyEnv(), ALLOWED_REGIONS: ' northeurope ' });
    expect(() => assertResidency(narrowed)).toThrow(/"westeurope" is not in ALLOWED_REGIONS \(northeurope\)/);
  });

  it('createApp refuses to start outside the allowed regions, before connecting to anything', async () => {
    const config = loadConfig({
      CREDENTIALS_KEYS: keyEnv(),
      DATA_REGION: 'eastus',
      // Nothing listens here: reaching Redis would fail differently (and slowly).
      REDIS_URL: 'redis://127.0.0.1:1',
    });
    await expect(createApp(config)).rejects.toThrow(/DATA_REGION "eastus" is not in ALLOWED_REGIONS/);
  });

  it('rejects a malformed region list naming the variable', () => {
    expect(() => loadConfig({ CREDENTIALS_KEYS: keyEnv(), ALLOWED_REGIONS: 'West Europe' })).toThrow(
      /ALLOWED_REGIONS/,
    );
  });
});
