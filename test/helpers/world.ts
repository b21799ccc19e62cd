import pino from 'pino';
import {
  type AutotaskSandbox,
  type AutotaskSandboxOptions,
  startAutotaskSandbox,
} from '../../connectors/autotask/sandbox.ts';
import { type App, createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';
import type { Actor, Consent } from '../../src/consent/consents.ts';
import type { Subscription } from '../../src/domain/types.ts';
import type { Link } from '../../src/links/links.ts';
import {
  type SandboxOptions,
  type SpinPanelSandbox,
  startSpinPanelSandbox,
} from '../../src/spinpanel/sandbox.ts';
import type { SeedData } from '../../src/spinpanel/seed.ts';
import { dropPrefix, freshPrefix, keyEnv, REDIS_URL } from './store.ts';

export const admin: Actor = { userId: 'admin-1', role: 'company_admin' };
export const AUTOTASK_CREDENTIALS = {
  userName: 'sandbox@example.com',
  secret: 'sandbox-secret',
  integrationCode: 'SPINPANEL-SANDBOX',
};
export const BILLING_CODE = 29682801;

export interface World {
  app: App;
  sp: SpinPanelSandbox;
  at: AutotaskSandbox;
  env: Record<string, string>;
  accountId: string;
  consent: Consent;
  link: Link;
  /** Moves the clock of the app and the Autotask sandbox by whole days (the next day's first run…). */
  advanceDays(n: number): void;
  /** The world's day (UTC), after any advance. */
  day(): string;
  sync(dryRun?: boolean): Promise<NonNullable<Awaited<ReturnType<App['services']['syncNow']>>['run']>>;
  close(): Promise<void>;
}

/**
 * Both sandboxes on real sockets, the real app (config → Redis → queue → worker) on a fresh key prefix, a
 * company-level consent and an Autotask link whose companies carry the SpinPanel customers' names.
 */
export async function startWorld(
  opts: {
    spinpanel?: SandboxOptions;
    autotaskLatencyMs?: number;
    /** More Autotask sandbox options (faults, thresholds); companies are always SpinPanel's customers. */
    autotask?: Omit<AutotaskSandboxOptions, 'companies'>;
    /** Autotask companies made from SpinPanel's customers; default: one per customer, by its name. */
    companies?: (customers: SeedData['customers']) => NonNullable<AutotaskSandboxOptions['companies']>;
    /** Link settings besides the service billing code. */
    settings?: Record<string, unknown>;
    worker?: boolean;
    env?: Record<string, string>;
    /** The world's clock at start (ms); it runs on from there. @defaultValue the real time */
    now?: number;
  } = {},
): Promise<World> {
  const sp = await startSpinPanelSandbox({
    seed: 3,
    customers: 3,
    subscriptionsPerCustomer: 3,
    ...opts.spinpanel,
  });
  let offset = opts.now === undefined ? 0 : opts.now - Date.now();
  const now = () => Date.now() + offset;
  const day = () => new Date(now()).toISOString().slice(0, 10);
  const at = await startAutotaskSandbox({
    today: day,
    ...opts.autotask,
    latencyMs: opts.autotaskLatencyMs ?? opts.autotask?.latencyMs ?? 0,
    companies:
      opts.companies?.(sp.data.customers) ??
      sp.data.customers.map((c) => ({ companyName: c.name, companyType: 1 })),
  });
  const prefix = freshPrefix();
  const env: Record<string, string> = {
    REDIS_URL,
    REDIS_PREFIX: prefix,
    CREDENTIALS_KEYS: keyEnv(),
    AUDIT_KEYS: keyEnv(),
    SPINPANEL_API_URL: sp.url,
    AUTOTASK_ZONE_LOOKUP_URL: at.zoneLookupUrl,
    // The sandbox's zone is plain http on 127.0.0.1: allowed for it alone (its port), never off Autotask's hosts.
    AUTOTASK_ALLOWED_HOSTS: new URL(at.url).host,
    SYNC_BACKOFF_MS: '100',
    SYNC_LOCK_TTL_MS: '2000',
    LOG_LEVEL: 'silent',
    ...opts.env,
  };
  const app = await createApp(loadConfig(env), { logger: pino({ level: 'silent' }), now });
  if (opts.worker !== false) app.startWorker(2);
  const accountId = sp.data.account.id;
  const consent = await app.services.grantConsent(admin, accountId, {
    level: 'company',
    scopes: ['billing:read', 'billing:push'],
  });
  const link = await app.services.createLink(admin, accountId, {
    target: 'autotask',
    credentials: AUTOTASK_CREDENTIALS,
    spinpanelApiKey: sp.apiKey,
    settings: { serviceBillingCodeId: BILLING_CODE, ...opts.settings },
  });
  return {
    app,
    sp,
    at,
    env,
    accountId,
    consent,
    link,
    advanceDays(n) {
      offset += n * 86_400_000;
    },
    day,
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
      await Promise.all([sp.close(), at.close()]);
    },
  };
}

export const today = () => new Date().toISOString().slice(0, 10);

/** Units in Autotask for one SpinPanel customer and product, found the way an auditor would: by contract and name. */
/**
 * The Autotask service a subscription's seats land on, as the spec says (not as the code computes it):
 * monthly-invoiced ones on the product's service, annual and triennial ones on its yearly service.
 */
export const serviceNameOf = (s: Pick<Subscription, 'productName' | 'billingFrequency'>): string =>
  s.billingFrequency === 'monthly' ? s.productName : `${s.productName} (yearly)`;

/** Seats SpinPanel bills per customer and Autotask service (recurring subscriptions of one line add up). */
export function expectedSeats(w: World): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of w.sp.data.subscriptions) {
    if (s.offerType === 'perpetual' || s.status !== 'active') continue;
    const k = `${s.customerId}|${serviceNameOf(s)}`;
    out.set(k, (out.get(k) ?? 0) + s.quantity);
  }
  return out;
}

export function autotaskUnits(
  w: World,
  customerId: string,
  productName: string,
  date = today(),
): number | null {
  const contract = [...w.at.db.contracts.values()].find((c) => c.contractNumber === `SP-${customerId}`);
  const service = [...w.at.db.services.values()].find((s) => s.name === productName);
  if (!contract || !service) return null;
  const cs = [...w.at.db.contractServices.values()].find(
    (x) => x.contractID === contract.id && x.serviceID === service.id,
  );
  return cs ? w.at.unitsAt(cs.id, date) : null;
}

export const isWrite = (r: { method: string; path: string }) =>
  r.method !== 'GET' && !/\/query(\/count)?(\?|$)/i.test(r.path);
