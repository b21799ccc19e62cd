import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { Redis } from 'ioredis';
import { startAutotaskSandbox } from '../connectors/autotask/sandbox.ts';
import { NAVISION_SANDBOX_DEFAULTS, startNavisionSandbox } from '../connectors/navision/sandbox.ts';
import { createApp } from './app.ts';
import { loadConfig } from './config.ts';
import type { Actor } from './consent/consents.ts';
import { createLogger } from './logger.ts';
import { startSpinPanelSandbox } from './spinpanel/sandbox.ts';
import { ensureRedis } from './store/local-redis.ts';
import type { RunRecord } from './sync/runs.ts';

const out = (line = ''): void => {
  process.stdout.write(`${line}\n`);
};

function printRun(title: string, run: RunRecord | undefined, target = 'Autotask'): void {
  out(`\n== ${title}`);
  if (!run) {
    out('   (no run record)');
    return;
  }
  const adj = run.applied.adjustUnits ?? 0;
  out(
    `   status ${run.status} · ${run.durationMs} ms · API calls ${run.apiCalls.total} · ` +
      `applied ${JSON.stringify(run.applied)} · quarantined ${run.quarantined.length} · unmapped ${run.unmapped.length}`,
  );
  let customer = '';
  for (const line of run.recon) {
    if (line.customerName !== customer) {
      customer = line.customerName;
      out(`   ${customer}`);
    }
    const before = line.targetUnitsBefore ?? 0;
    const delta = line.targetUnitsAfter - before;
    const change =
      line.action === 'pending' || line.action === 'held'
        ? `${line.action}: ${line.reason ?? ''}`
        : line.action === 'add' && line.targetUnitsBefore === null
          ? `added ${line.targetUnitsAfter}${line.effectiveDate ? ` from ${line.effectiveDate}` : ''}`
          : delta === 0
            ? 'in step'
            : `adjusted ${delta > 0 ? '+' : ''}${delta}${line.effectiveDate ? ` from ${line.effectiveDate}` : ''}`;
    const name = `${line.productName}${line.period === 'year' ? ' (yearly)' : ''}`;
    out(
      `     ${name.padEnd(42).slice(0, 42)} SpinPanel ${String(line.spinpanelSeats).padStart(4)} · ` +
        `${target} ${String(before).padStart(4)} → ${String(line.targetUnitsAfter).padStart(4)}  ${change}`,
    );
  }
  for (const e of run.errors) out(`   ! ${e.opKey ?? ''} ${e.message}`);
  if (adj === 0 && Object.keys(run.applied).length === 0 && run.status === 'succeeded')
    out('   nothing to write');
}

/** The billing system the demo links: its sandbox on this machine, the link's fields, its request count. */
interface DemoTarget {
  label: string;
  url: string;
  env: Record<string, string>;
  link: {
    target: 'autotask' | 'navision';
    credentials: Record<string, unknown>;
    settings: Record<string, unknown>;
  };
  requests(): { total: number; writes: number };
  close(): Promise<void>;
}

async function demoTarget(
  kind: 'autotask' | 'navision',
  customers: { name: string }[],
  today: () => string,
): Promise<DemoTarget> {
  if (kind === 'autotask') {
    const at = await startAutotaskSandbox({
      today,
      companies: customers.map((c) => ({ companyName: c.name, companyType: 1 })),
    });
    return {
      label: 'Autotask',
      url: at.url,
      // The local sandbox's plain-http host is allowed for the demo alone (README "Trust boundaries").
      env: { AUTOTASK_ZONE_LOOKUP_URL: at.zoneLookupUrl, AUTOTASK_ALLOWED_HOSTS: new URL(at.url).host },
      link: {
        target: 'autotask',
        credentials: {
          userName: 'sandbox@example.com',
          secret: 'sandbox-secret',
          integrationCode: 'SPINPANEL-SANDBOX',
        },
        settings: { serviceBillingCodeId: 29682801 },
      },
      requests: () => ({
        total: at.requests.length,
        writes: at.requests.filter((r) => r.method !== 'GET' && !r.path.endsWith('/query')).length,
      }),
      close: () => at.close(),
    };
  }
  const D = NAVISION_SANDBOX_DEFAULTS;
  const company = `Contoso's "Billing" & Co`;
  const nav = await startNavisionSandbox({
    today,
    companies: [
      { name: D.company },
      {
        name: company,
        customers: customers.map((c, i) => ({ no: `C${String(i + 1).padStart(5, '0')}`, name: c.name })),
      },
    ],
  });
  return {
    label: 'BC',
    url: nav.url,
    env: { NAVISION_ALLOWED_HOSTS: new URL(nav.url).host },
    link: {
      target: 'navision',
      // Business Central online: OAuth2 client credentials against the sandbox's own authority.
      credentials: {
        flavour: 'bc-online',
        tenantId: D.tenantId,
        environment: D.environment,
        company,
        clientId: D.client.clientId,
        clientSecret: D.client.clientSecret,
        authorityUrl: nav.url,
        apiUrl: nav.url,
      },
      settings: {},
    },
    requests: () => ({
      total: nav.requests.length,
      writes: nav.requests.filter((r) => r.method !== 'GET' && r.flavour !== 'token').length,
    }),
    close: () => nav.close(),
  };
}

/**
 * The story in one command: consent → link → sync → seats change → sync → revoke, against both sandboxes on
 * this machine, with a private Redis when none answers. `target`: Autotask (seat changes adjusted the next day)
 * or Business Central (one invoice per customer and month; a change is prorated on the next month's invoice).
 */
export async function runDemo(opts: { target?: 'autotask' | 'navision' } = {}): Promise<void> {
  const kind = opts.target ?? 'autotask';
  const env = { ...process.env };
  const redis = await ensureRedis(env.REDIS_URL ?? 'redis://127.0.0.1:6379', path.resolve('.data/redis'));
  if (redis.started) out(`(no Redis answered; started a private redis-server at ${redis.url})`);
  const spinpanel = await startSpinPanelSandbox({ seed: 7, customers: 3, subscriptionsPerCustomer: 3 });
  // The demo's clock: it starts on the 10th of this month and moves on for the second part of the story.
  const real = new Date();
  let offset = Date.UTC(real.getUTCFullYear(), real.getUTCMonth(), 10, 9) - Date.now();
  const now = () => Date.now() + offset;
  const day = () => new Date(now()).toISOString().slice(0, 10);
  const target = await demoTarget(kind, spinpanel.data.customers, day);
  const prefix = `demo-${randomBytes(4).toString('hex')}`;
  const config = loadConfig({
    ...env,
    ...target.env,
    REDIS_URL: redis.url,
    REDIS_PREFIX: prefix,
    CREDENTIALS_KEYS: env.CREDENTIALS_KEYS || `demo:${randomBytes(32).toString('base64')}`,
    SPINPANEL_API_URL: spinpanel.url,
    SYNC_BACKOFF_MS: '200',
    LOG_LEVEL: env.LOG_LEVEL ?? 'warn',
  });
  const app = await createApp(config, { logger: createLogger(config.LOG_LEVEL), now });
  app.startWorker(2);
  const accountId = spinpanel.data.account.id;
  const admin: Actor = { userId: 'admin-1', role: 'company_admin' };
  const L = target.label;
  try {
    out(
      `SpinPanel sandbox ${spinpanel.url} · ${L} sandbox ${target.url} · Redis ${redis.url} (prefix ${prefix})`,
    );
    const consent = await app.services.grantConsent(admin, accountId, {
      level: 'company',
      scopes: ['billing:read', 'billing:push'],
    });
    out(`consent ${consent.id}: company level, granted by ${admin.userId}, policy ${consent.policyVersion}`);
    const link = await app.services.createLink(admin, accountId, {
      ...target.link,
      spinpanelApiKey: spinpanel.apiKey,
    });
    out(`link ${link.id}: credentials verified against "${link.displayName}", stored encrypted`);

    const wait = { dryRun: false, waitMs: 60_000 };
    const dry = await app.services.syncNow(admin, accountId, link.id, { dryRun: true, waitMs: 60_000 });
    out(
      `\n== dry run: the plan an admin reviews before anything is pushed (${dry.run?.plan?.length ?? 0} operations)`,
    );
    for (const op of dry.run?.plan?.slice(0, 6) ?? []) out(`   ${op.kind.padEnd(20)} ${op.summary}`);
    if ((dry.run?.plan?.length ?? 0) > 6) out(`   … and ${(dry.run?.plan?.length ?? 0) - 6} more`);
    const first = await app.services.syncNow(admin, accountId, link.id, wait);
    printRun(
      kind === 'autotask'
        ? 'first sync: contracts, services and units created'
        : `first sync: items and this month's invoice per customer created`,
      first.run,
      L,
    );

    const subs = spinpanel.data.subscriptions;
    const [a, b] = [subs[0]!, subs[4]!];
    spinpanel.setQuantity(a.id, a.quantity + 3);
    spinpanel.setQuantity(b.id, Math.max(0, b.quantity - 2));
    if (kind === 'autotask') {
      offset += 86_400_000;
      out(`\nThe next day (${day()}), in SpinPanel: ${a.productName} +3 seats, ${b.productName} −2 seats`);
      const second = await app.services.syncNow(admin, accountId, link.id, wait);
      printRun('second sync: only the changed seats are adjusted', second.run, L);
    } else {
      out(`\nIn SpinPanel (${day()}): ${a.productName} +3 seats, ${b.productName} −2 seats`);
      const second = await app.services.syncNow(admin, accountId, link.id, wait);
      printRun('second sync: the month is invoiced; the change waits for the next invoice', second.run, L);
      const [y, m] = day().split('-').map(Number) as [number, number];
      offset += Date.UTC(y, m, 5, 9) - now();
      const next = await app.services.syncNow(admin, accountId, link.id, wait);
      printRun(`next month (${day()}): new invoices, last month's change prorated by days`, next.run, L);
    }

    const third = await app.services.syncNow(admin, accountId, link.id, wait);
    printRun('then: nothing changed, nothing written', third.run, L);

    const revoked = await app.services.revokeConsent(admin, accountId, consent.id, { waitForUnlink: true });
    out(
      `\nconsent revoked: gate closed for ${revoked.closedLinkIds.length} link(s), confirmed: ${revoked.confirmed}`,
    );
    for (const u of revoked.unlink) {
      const r = u.report;
      out(
        `   unlink ${u.state}: credentials destroyed ${r?.credentialsDestroyed ?? '?'}, schedule removed ` +
          `${revoked.unscheduled.includes(u.linkId) || (r?.schedulerRemoved ?? false)}, ${r?.keysDeleted ?? '?'} cached keys purged, ${r?.runsSummarised ?? '?'} runs kept as counts only`,
      );
    }
    const after = await app.services.getLink(accountId, link.id);
    out(`   link status now: ${after.status}`);
    await app.services.syncNow(admin, accountId, link.id, wait).then(
      () => out('!! a sync was accepted after revocation'),
      (e: Error) => out(`a new sync is refused: ${e.message}`),
    );
    const { total, writes } = target.requests();
    out(`\n${L} sandbox received ${total} requests, ${writes} of them writes.`);
    out(`Data already delivered to ${L} stays there: revocation is not retroactive.`);
  } finally {
    await app.close();
    const r = new Redis(redis.url);
    const stale = await r.keys(`${prefix}*`).then(async (k) => k.concat(await r.keys(`{${prefix}*`)));
    if (stale.length) await r.del(...stale);
    r.disconnect();
    await Promise.all([spinpanel.close(), target.close()]);
    await redis.stop();
  }
}
