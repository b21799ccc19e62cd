import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { type AutotaskSandbox, startAutotaskSandbox } from '../../connectors/autotask/sandbox.ts';
import {
  NAVISION_SANDBOX_DEFAULTS,
  type NavisionSandbox,
  startNavisionSandbox,
} from '../../connectors/navision/sandbox.ts';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import { type SpinPanelSandbox, startSpinPanelSandbox } from '../../src/spinpanel/sandbox.ts';
import { readAudit } from '../../src/store/audit.ts';
import { type Stub, startCanary, startRedirector, startStub, startZoneLookup } from '../helpers/canary.ts';
import { NAV_COMPANY, navCredentials } from '../helpers/nav-world.ts';
import { dropPrefix, freshPrefix, keyEnv, REDIS_URL } from '../helpers/store.ts';
import { AUTOTASK_CREDENTIALS, admin, BILLING_CODE, startWorld, type World } from '../helpers/world.ts';

/**
 * The boundaries a multi-tenant connector holding other companies' billing credentials keeps, tried as a hostile
 * tenant or a careless admin would: one account's key reads one account's data, credentials go only to the
 * target's own hosts, and no redirect carries them anywhere else. A canary server counts what reaches it.
 */
describe('trust boundaries (real app, real Redis, sandboxes and a canary on real sockets)', () => {
  const cleanup: (() => Promise<unknown>)[] = [];
  afterEach(async () => {
    for (const done of cleanup.splice(0).reverse()) await done();
  });
  const keep = <T extends { close(): Promise<unknown> }>(thing: T): T => {
    cleanup.push(() => thing.close());
    return thing;
  };

  const world = async (opts: Parameters<typeof startWorld>[0] = {}): Promise<World> =>
    keep(await startWorld(opts));
  const canary = async () => keep(await startCanary());
  const spinpanel = async (): Promise<SpinPanelSandbox> =>
    keep(await startSpinPanelSandbox({ seed: 3, customers: 2, subscriptionsPerCustomer: 1 }));

  /** The real app on a fresh prefix, linking nothing yet. */
  async function bareApp(env: Record<string, string>, worker = false): Promise<App> {
    const prefix = freshPrefix();
    const app = await createApp(
      loadConfig({
        REDIS_URL,
        REDIS_PREFIX: prefix,
        CREDENTIALS_KEYS: keyEnv(),
        SYNC_BACKOFF_MS: '100',
        SYNC_LOCK_TTL_MS: '2000',
        LOG_LEVEL: 'silent',
        ...env,
      }),
      { logger: pino({ level: 'silent' }) },
    );
    cleanup.push(async () => {
      await app.close();
      const r = app.redis.duplicate();
      await dropPrefix(r, prefix);
      r.disconnect();
    });
    if (worker) app.startWorker(1);
    return app;
  }

  const consentTo = (app: App, accountId: string) =>
    app.services.grantConsent(admin, accountId, {
      level: 'company',
      scopes: ['billing:read', 'billing:push'],
    });

  const linkAutotask = (app: App, accountId: string, spinpanelApiKey: string) =>
    app.services.createLink(admin, accountId, {
      target: 'autotask',
      credentials: AUTOTASK_CREDENTIALS,
      spinpanelApiKey,
      settings: { serviceBillingCodeId: BILLING_CODE },
    });

  const lookupUrl = (lookup: Stub) => `${lookup.url}/atservicesrest/v1.0/zoneInformation`;
  const autotaskSandbox = async (sp: SpinPanelSandbox): Promise<AutotaskSandbox> =>
    keep(
      await startAutotaskSandbox({
        companies: sp.data.customers.map((c) => ({ companyName: c.name, companyType: 1 })),
      }),
    );

  describe('account binding', () => {
    it("linking another account's SpinPanel key answers 403 and saves nothing", async () => {
      const w = await world();
      // A hostile tenant (or a careless admin) links the sandbox account's key under its own account.
      const other = 'acct-hostile';
      await consentTo(w.app, other);
      const autotaskBefore = w.at.requests.length;
      const refused = await linkAutotask(w.app, other, w.sp.apiKey).catch((e: unknown) => e);

      expect(refused).toMatchObject({ status: 403, code: 'account_mismatch' });
      const message = (refused as Error).message;
      expect(message).toMatch(/another SpinPanel account/);
      expect(message).toContain(other);
      expect(message).not.toContain(w.sp.apiKey);
      expect(await w.app.services.listLinks(other)).toEqual([]);
      const audit = await readAudit(w.app.redis, w.app.store.keys, other);
      expect(audit.map((e) => e.type)).toEqual(['consent.granted']);
      // Refused on SpinPanel's word alone: the target's credentials were not even tried.
      expect(w.at.requests.length).toBe(autotaskBefore);
      expect(w.sp.requests.at(-1)).toMatchObject({ path: '/v1/account', status: 200 });
    });

    it('a run whose key now belongs to another account fails after one attempt, having read nothing else', async () => {
      const w = await world();
      expect(w.app.config.SYNC_ATTEMPTS).toBe(5);
      // SpinPanel moved the key to another account after the link was made (the sandbox's data is live).
      w.sp.data.account.id = 'acct-somebody-else';
      const [spBefore, atBefore] = [w.sp.requests.length, w.at.requests.length];
      const res = await w.app.services.syncNow(admin, w.accountId, w.link.id, {
        dryRun: false,
        waitMs: 30_000,
      });

      expect(res.state).toBe('failed');
      const job = await w.app.queue.getJob(res.runId);
      expect(job?.attemptsMade).toBe(1);
      expect(job?.failedReason).toMatch(/another SpinPanel account/);
      expect(res.run?.status).toBe('failed');
      expect(res.run?.errors.map((e) => e.message).join(' ')).toMatch(/another SpinPanel account/);
      // Only /account was read; nothing went to the target.
      expect(w.sp.requests.slice(spBefore).map((r) => r.path)).toEqual(['/v1/account']);
      expect(w.at.requests.length).toBe(atBefore);
    });
  });

  describe('Autotask zone host policy', () => {
    it('a zone lookup naming a host off the policy: linking is refused, saying why, and that host gets nothing', async () => {
      const bird = await canary();
      const lookup = keep(await startZoneLookup(() => `${bird.url}/ATServicesRest/`));
      const sp = await spinpanel();
      const app = await bareApp({ SPINPANEL_API_URL: sp.url, AUTOTASK_ZONE_LOOKUP_URL: lookupUrl(lookup) });
      const accountId = sp.data.account.id;
      await consentTo(app, accountId);
      const refused = await linkAutotask(app, accountId, sp.apiKey).catch((e: unknown) => e);

      expect(refused).toMatchObject({ status: 422, code: 'host_not_allowed' });
      expect((refused as Error).message).toContain(bird.host);
      expect((refused as Error).message).toMatch(/\*\.autotask\.net/);
      expect(bird.hits).toEqual([]);
      expect(lookup.hits).toHaveLength(1);
      expect(await app.services.listLinks(accountId)).toEqual([]);
    });

    it('a run whose zone lookup now names an off-policy host fails after one attempt; that host gets nothing', async () => {
      const bird = await canary();
      const sp = await spinpanel();
      const at = await autotaskSandbox(sp);
      let zone = at.apiBaseUrl;
      const lookup = keep(await startZoneLookup(() => zone));
      const app = await bareApp(
        {
          SPINPANEL_API_URL: sp.url,
          AUTOTASK_ZONE_LOOKUP_URL: lookupUrl(lookup),
          // The sandbox's own host and port only: the canary shares its address, not its port.
          AUTOTASK_ALLOWED_HOSTS: new URL(at.url).host,
        },
        true,
      );
      const accountId = sp.data.account.id;
      await consentTo(app, accountId);
      const link = await linkAutotask(app, accountId, sp.apiKey);
      zone = `${bird.url}/ATServicesRest/`;
      const res = await app.services.syncNow(admin, accountId, link.id, { dryRun: true, waitMs: 30_000 });

      expect(res.state).toBe('failed');
      const job = await app.queue.getJob(res.runId);
      expect(job?.attemptsMade).toBe(1);
      expect(job?.failedReason).toContain(bird.host);
      expect(res.run?.errors.map((e) => e.message).join(' ')).toMatch(/not a host of Autotask/);
      expect(bird.hits).toEqual([]);
    });
  });

  describe('no redirects on any gated client', () => {
    it("an Autotask endpoint answering 302 to another host: Autotask's secret headers stay home, the error names it", async () => {
      const bird = await canary();
      const mover = keep(await startRedirector(() => bird.url));
      const lookup = keep(await startZoneLookup(() => `${mover.url}/ATServicesRest/`));
      const sp = await spinpanel();
      const app = await bareApp({
        SPINPANEL_API_URL: sp.url,
        AUTOTASK_ZONE_LOOKUP_URL: lookupUrl(lookup),
        AUTOTASK_ALLOWED_HOSTS: mover.host,
      });
      const accountId = sp.data.account.id;
      await consentTo(app, accountId);
      const refused = await linkAutotask(app, accountId, sp.apiKey).catch((e: unknown) => e);

      expect(refused).toMatchObject({ status: 422, code: 'redirect_refused' });
      expect((refused as Error).message).toContain(bird.host);
      expect((refused as Error).message).not.toContain(AUTOTASK_CREDENTIALS.secret);
      expect(bird.hits).toEqual([]);
      // One request reached the redirecting host, carrying the secret it was meant for; it was not repeated.
      expect(mover.hits).toHaveLength(1);
      expect(await app.services.listLinks(accountId)).toEqual([]);
    });

    it('a run whose Autotask zone starts redirecting fails after one attempt, naming the host; nothing follows', async () => {
      const bird = await canary();
      const mover = keep(await startRedirector(() => bird.url));
      const sp = await spinpanel();
      const at = await autotaskSandbox(sp);
      let zone = at.apiBaseUrl;
      const lookup = keep(await startZoneLookup(() => zone));
      const app = await bareApp(
        {
          SPINPANEL_API_URL: sp.url,
          AUTOTASK_ZONE_LOOKUP_URL: lookupUrl(lookup),
          AUTOTASK_ALLOWED_HOSTS: `${new URL(at.url).host},${mover.host}`,
        },
        true,
      );
      const accountId = sp.data.account.id;
      await consentTo(app, accountId);
      const link = await linkAutotask(app, accountId, sp.apiKey);
      zone = `${mover.url}/ATServicesRest/`;
      const res = await app.services.syncNow(admin, accountId, link.id, { dryRun: true, waitMs: 30_000 });

      expect(res.state).toBe('failed');
      const job = await app.queue.getJob(res.runId);
      expect(job?.attemptsMade).toBe(1);
      expect(job?.failedReason).toContain(bird.host);
      expect(bird.hits).toEqual([]);
      expect(mover.hits.length).toBeGreaterThan(0);
    });

    it('a SpinPanel endpoint answering 302: the API key never reaches the other host, linking says which host', async () => {
      const bird = await canary();
      const mover = keep(await startRedirector(() => bird.url));
      const sp = await spinpanel();
      const at = await autotaskSandbox(sp);
      const app = await bareApp({
        SPINPANEL_API_URL: `${mover.url}/v1`,
        AUTOTASK_ZONE_LOOKUP_URL: at.zoneLookupUrl,
        AUTOTASK_ALLOWED_HOSTS: new URL(at.url).host,
      });
      const accountId = sp.data.account.id;
      await consentTo(app, accountId);
      const refused = await linkAutotask(app, accountId, sp.apiKey).catch((e: unknown) => e);

      expect(refused).toMatchObject({ status: 422, code: 'redirect_refused' });
      expect((refused as Error).message).toContain(bird.host);
      expect(bird.hits).toEqual([]);
      expect(await app.services.listLinks(accountId)).toEqual([]);
    });

    it('the gate itself follows no redirect, even when a request asks it to', async () => {
      const w = await world();
      const bird = await canary();
      const mover = keep(await startRedirector(() => bird.url, 307));
      const http = w.app.gate.client(
        { accountId: w.accountId, linkId: w.link.id, epoch: w.link.epoch },
        { timeoutMs: 5000, headers: { Secret: 'shh' } },
      );
      const refused = await http.get(`${mover.url}/anything`, { maxRedirects: 5 }).catch((e: unknown) => e);

      expect(refused).toMatchObject({ name: 'TargetError', code: 'redirect_refused', status: 307 });
      expect((refused as Error).message).toContain(bird.host);
      expect(bird.hits).toEqual([]);
      expect(mover.hits).toHaveLength(1);
    });
  });

  describe('NAV / Business Central URL policy', () => {
    const navApp = async (env: Record<string, string> = {}) => {
      const sp = await spinpanel();
      const nav: NavisionSandbox = keep(
        await startNavisionSandbox({
          companies: [{ name: NAVISION_SANDBOX_DEFAULTS.company }, { name: NAV_COMPANY }],
        }),
      );
      const app = await bareApp({ SPINPANEL_API_URL: sp.url, ...env });
      const accountId = sp.data.account.id;
      await consentTo(app, accountId);
      const link = (credentials: Record<string, unknown>) =>
        app.services.createLink(admin, accountId, {
          target: 'navision',
          credentials,
          spinpanelApiKey: sp.apiKey,
          settings: {},
        });
      return { sp, nav, app, accountId, link };
    };

    it("BC online: an authority off Microsoft's hosts never receives the client secret", async () => {
      const bird = await canary();
      const { nav, app, accountId, link } = await navApp();
      const refused = await link({ ...navCredentials(nav, 'bc-online'), authorityUrl: bird.url }).catch(
        (e: unknown) => e,
      );

      expect(refused).toMatchObject({ status: 422, code: 'host_not_allowed' });
      expect((refused as Error).message).toContain(bird.host);
      expect((refused as Error).message).toMatch(/login\.microsoftonline\.com/);
      expect((refused as Error).message).not.toContain(NAVISION_SANDBOX_DEFAULTS.client.clientSecret);
      expect(bird.hits).toEqual([]);
      expect(nav.requests).toEqual([]);
      expect(await app.services.listLinks(accountId)).toEqual([]);
    });

    it('NAV on-premises over http is refused unless the link allows http; allowed, the link says so in the audit', async () => {
      const { nav, app, accountId, link } = await navApp();
      const plain = navCredentials(nav, 'nav-odata') as Record<string, unknown>;
      const { allowHttp: _, ...without } = plain;
      const refused = await link(without).catch((e: unknown) => e);

      expect(refused).toMatchObject({ status: 422, code: 'host_not_allowed' });
      expect((refused as Error).message).toContain(`the on-premises server ${nav.url} is refused`);
      expect((refused as Error).message).toMatch(/allowHttp: true/);
      expect(nav.requests).toEqual([]);

      const made = await link({ ...without, allowHttp: true });
      const audit = await readAudit(app.redis, app.store.keys, accountId);
      expect(audit.find((e) => e.type === 'link.created')).toMatchObject({
        subject: { linkId: made.id },
        data: { target: 'navision', allowHttp: true },
      });
    });

    it('BC online over http to a host not on NAVISION_ALLOWED_HOSTS is refused before the token request', async () => {
      const { nav, link } = await navApp({ NAVISION_ALLOWED_HOSTS: 'bc-sandbox.internal' });
      const refused = await link(navCredentials(nav, 'bc-online')).catch((e: unknown) => e);
      expect(refused).toMatchObject({ status: 422, code: 'host_not_allowed' });
      expect(nav.requests).toEqual([]);
    });
  });

  it('a stub answers what it is told and counts every request (the canary is honest)', async () => {
    const bird = await canary();
    const res = await fetch(`${bird.url}/x`, { headers: { Secret: 'seen' } });
    expect(res.status).toBe(200);
    expect(bird.hits).toEqual([
      expect.objectContaining({ url: '/x', headers: expect.objectContaining({ secret: 'seen' }) }),
    ]);
    const quiet = keep(await startStub((_q, r) => r.end()));
    expect(quiet.hits).toEqual([]);
  });
});
