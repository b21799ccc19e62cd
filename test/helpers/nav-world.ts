import pino from 'pino';
import type { CustomerSeed, NavisionSandboxOptions } from '../../connectors/navision/sandbox/types.ts';
import {
  NAVISION_SANDBOX_DEFAULTS,
  type NavisionSandbox,
  startNavisionSandbox,
} from '../../connectors/navision/sandbox.ts';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Link } from '../../src/links/links.ts';
import {
  type SandboxOptions,
  type SpinPanelSandbox,
  startSpinPanelSandbox,
} from '../../src/spinpanel/sandbox.ts';
import { dropPrefix, freshPrefix, keyEnv, REDIS_URL } from './store.ts';
import { admin } from './world.ts';

export type NavFlavour = 'nav-odata' | 'bc-onprem' | 'bc-online';
/** The company the link names: specials that a wrong encoding would send to the default company. */
export const NAV_COMPANY = `A&B Co's "IT"`;

export interface NavWorld {
  app: App;
  sp: SpinPanelSandbox;
  nav: NavisionSandbox;
  flavour: NavFlavour;
  accountId: string;
  link: Link;
  env: Record<string, string>;
  advanceDays(n: number): void;
  day(): string;
  /** The world's clock (ms): what the app's runs take their day from. */
  now(): number;
  sync(dryRun?: boolean): Promise<NonNullable<Awaited<ReturnType<App['services']['syncNow']>>['run']>>;
  close(): Promise<void>;
}

export function navCredentials(nav: NavisionSandbox, flavour: NavFlavour, company = NAV_COMPANY) {
  const D = NAVISION_SANDBOX_DEFAULTS;
  switch (flavour) {
    case 'nav-odata':
      return {
        flavour,
        baseUrl: nav.url,
        serverInstance: D.navInstance,
        company,
        auth: { type: 'basic', user: D.navUser.userName, accessKey: D.navUser.webServiceAccessKey },
        // The sandbox is an on-premises server without TLS: said explicitly, as a link must.
        allowHttp: true,
      };
    case 'bc-onprem':
      return {
        flavour,
        baseUrl: nav.url,
        serverInstance: D.bcInstance,
        company,
        auth: { type: 'basic', user: D.bcUser.userName, accessKey: D.bcUser.webServiceAccessKey },
        allowHttp: true,
      };
    case 'bc-online':
      return {
        flavour,
        tenantId: D.tenantId,
        environment: D.environment,
        company,
        clientId: D.client.clientId,
        clientSecret: D.client.clientSecret,
        authorityUrl: nav.url,
        apiUrl: nav.url,
      };
  }
}

/**
 * The SpinPanel sandbox, a NAV / BC sandbox with the default company and `A&B Co's "IT"` (holding the SpinPanel
 * customers by name), and the real app linked to it in one flavour, on a fresh key prefix.
 */
export async function startNavWorld(opts: {
  flavour: NavFlavour;
  spinpanel?: SandboxOptions;
  nav?: Omit<NavisionSandboxOptions, 'companies' | 'today'>;
  settings?: Record<string, unknown>;
  /** The world's clock at start (ms). @defaultValue 10:00 UTC on the 10th of the current month */
  now?: number;
  env?: Record<string, string>;
  worker?: boolean;
  /** Link credentials over the flavour's defaults (e.g. `auth` for NTLM). */
  credentials?: Record<string, unknown>;
  /**
   * The ERP customers of the linked company. @defaultValue one per SpinPanel customer, by its name
   * (`C00001`, …); further ones may be added (names the sync must not confuse with SpinPanel's).
   */
  erpCustomers?: (seeded: CustomerSeed[]) => CustomerSeed[];
}): Promise<NavWorld> {
  const real = new Date();
  const start = opts.now ?? Date.UTC(real.getUTCFullYear(), real.getUTCMonth(), 10, 10);
  let offset = start - Date.now();
  const now = () => Date.now() + offset;
  const day = () => new Date(now()).toISOString().slice(0, 10);
  const sp = await startSpinPanelSandbox({
    seed: 3,
    customers: 3,
    subscriptionsPerCustomer: 3,
    ...opts.spinpanel,
  });
  const nav = await startNavisionSandbox({
    ...opts.nav,
    today: day,
    companies: [
      { name: NAVISION_SANDBOX_DEFAULTS.company },
      {
        name: NAV_COMPANY,
        customers: (opts.erpCustomers ?? ((x) => x))(
          sp.data.customers.map((c, i) => ({
            no: `C${String(i + 1).padStart(5, '0')}`,
            name: c.name,
          })),
        ),
      },
    ],
  });
  const prefix = freshPrefix();
  const env: Record<string, string> = {
    REDIS_URL,
    REDIS_PREFIX: prefix,
    CREDENTIALS_KEYS: keyEnv(),
    SPINPANEL_API_URL: sp.url,
    // BC online's authority and API are the sandbox's plain-http host here (its port alone).
    NAVISION_ALLOWED_HOSTS: new URL(nav.url).host,
    SYNC_BACKOFF_MS: '100',
    SYNC_LOCK_TTL_MS: '2000',
    LOG_LEVEL: 'silent',
    ...opts.env,
  };
  const app = await createApp(loadConfig(env), { logger: pino({ level: 'silent' }), now });
  if (opts.worker !== false) app.startWorker(2);
  const accountId = sp.data.account.id;
  await app.services.grantConsent(admin, accountId, {
    level: 'company',
    scopes: ['billing:read', 'billing:push'],
  });
  const link = await app.services.createLink(admin, accountId, {
    target: 'navision',
    credentials: { ...navCredentials(nav, opts.flavour), ...opts.credentials },
    spinpanelApiKey: sp.apiKey,
    settings: { ...opts.settings },
  });
  return {
    app,
    sp,
    nav,
    flavour: opts.flavour,
    accountId,
    link,
    env,
    advanceDays(n) {
      offset += n * 86_400_000;
    },
    day,
    now,
    async sync(dryRun = false) {
      const res = await app.services.syncNow(admin, accountId, link.id, { dryRun, waitMs: 60_000 });
      if (!res.run) throw new Error(`run ${res.runId} ended ${res.state} without a record`);
      return res.run;
    },
    async close() {
      await app.close();
      const r = app.redis.duplicate();
      await dropPrefix(r, prefix);
      r.disconnect();
      await Promise.all([sp.close(), nav.close()]);
    },
  };
}
