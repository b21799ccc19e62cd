import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import {
  NAVISION_SANDBOX_DEFAULTS,
  type NavisionSandbox,
  startNavisionSandbox,
} from '../../connectors/navision/sandbox.ts';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { type SpinPanelSandbox, startSpinPanelSandbox } from '../../src/spinpanel/sandbox.ts';
import { NAV_COMPANY, navCredentials } from '../helpers/nav-world.ts';
import { dropPrefix, freshPrefix, keyEnv, REDIS_URL } from '../helpers/store.ts';
import { admin } from '../helpers/world.ts';

/** Linking checks the credentials, the company and every entity set before anything is saved. */
describe('linking NAV / Business Central (real sockets)', () => {
  let sp: SpinPanelSandbox;
  let nav: NavisionSandbox;
  let app: App;
  let prefix: string;
  const start = async () => {
    sp = await startSpinPanelSandbox({ seed: 3, customers: 1, subscriptionsPerCustomer: 1 });
    nav = await startNavisionSandbox({
      companies: [{ name: NAVISION_SANDBOX_DEFAULTS.company }, { name: NAV_COMPANY }],
    });
    prefix = freshPrefix();
    app = await createApp(
      loadConfig({
        REDIS_URL,
        REDIS_PREFIX: prefix,
        CREDENTIALS_KEYS: keyEnv(),
        SPINPANEL_API_URL: sp.url,
        NAVISION_ALLOWED_HOSTS: new URL(nav.url).host,
        LOG_LEVEL: 'silent',
      }),
      { logger: pino({ level: 'silent' }) },
    );
    await app.services.grantConsent(admin, sp.data.account.id, {
      level: 'company',
      scopes: ['billing:read', 'billing:push'],
    });
  };
  afterEach(async () => {
    await app.close();
    const r = app.redis.duplicate();
    await dropPrefix(r, prefix);
    r.disconnect();
    await Promise.all([sp.close(), nav.close()]);
  });
  const link = (credentials: Record<string, unknown>) =>
    app.services.createLink(admin, sp.data.account.id, {
      target: 'navision',
      credentials,
      spinpanelApiKey: sp.apiKey,
      settings: {},
    });

  it('saves a link only once the target accepted it, naming the company it reached', async () => {
    await start();
    for (const flavour of ['nav-odata', 'bc-onprem', 'bc-online'] as const) {
      const made = await link(navCredentials(nav, flavour));
      expect(made.displayName).toBe(NAV_COMPANY);
    }
  });

  it('refuses wrong credentials, an unknown company and an unpublished service, saying which and why', async () => {
    await start();
    const nav1 = navCredentials(nav, 'nav-odata') as Record<string, unknown> & {
      auth: Record<string, unknown>;
    };
    await expect(link({ ...nav1, auth: { ...nav1.auth, accessKey: 'wrong-key' } })).rejects.toMatchObject({
      name: 'CredentialsRejectedError',
    });
    await expect(link({ ...navCredentials(nav, 'bc-onprem'), company: 'No Such Co' })).rejects.toThrow(
      /No Such Co/,
    );
    await expect(
      link({ ...navCredentials(nav, 'bc-online'), clientSecret: 'not-the-secret' }),
    ).rejects.toMatchObject({
      name: 'CredentialsRejectedError',
    });
    await expect(link({ ...nav1, services: { customer: 'Kunden' } })).rejects.toThrow(
      /customer service "Kunden"/,
    );
    // Nothing was saved for any of them.
    expect(await app.services.listLinks(sp.data.account.id)).toEqual([]);
  });
});
