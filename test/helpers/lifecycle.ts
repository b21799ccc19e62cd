import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { type Actor, type Consent, grantConsent } from '../../src/consent/consents.ts';
import { type CreateLinkDeps, createLink, type Link } from '../../src/links/links.ts';
import type { StoreContext } from '../../src/store/context.ts';

export const admin: Actor = { userId: 'admin-1', role: 'company_admin' };
export const ACCT = 'acct-1';

/** A fake verify that names the target account by API user, as the Autotask connector does. */
export const fakeDeps: CreateLinkDeps = {
  // Every key is the account's own (what SpinPanel's /account would say).
  spinpanelAccount: async (_key, under) => under.accountId,
  verify: async (_t, credentials) => ({
    displayName: 'Sandbox DB',
    details: { zoneUrl: 'https://ww1.example/', userName: String(credentials.userName) },
  }),
  parseSettings: (_t, s) => s,
  defaultEveryMinutes: 30,
};

export const SECRET = 'TopSecret-42';
export const SP_KEY = 'sp-key-123456';

export async function consentAndLink(
  ctx: StoreContext,
  opts: { userName?: string; accountId?: string } = {},
): Promise<{ consent: Consent; link: Link }> {
  const accountId = opts.accountId ?? ACCT;
  const consent = await grantConsent(
    ctx,
    admin,
    accountId,
    { level: 'company', scopes: ['billing:read', 'billing:push'] },
    'p1',
  );
  const link = await createLink(ctx, fakeDeps, admin, accountId, {
    target: 'autotask',
    consentId: consent.id,
    credentials: { userName: opts.userName ?? 'api@msp.example', secret: SECRET, integrationCode: 'X' },
    spinpanelApiKey: SP_KEY,
    settings: {},
  });
  return { consent, link };
}

export interface HeldServer {
  url: string;
  /** Arrival and answer times (Date.now()) of every request, in arrival order. */
  log: { path: string; arrived: number; answered?: number }[];
  /** How long the server takes before answering; `status` of its answers. */
  set(opts: { delayMs?: number; status?: number }): void;
  close(): Promise<void>;
}

/** A target whose answers take a set time, recording when each request arrived and when it was answered. */
export async function heldServer(delayMs = 0): Promise<HeldServer> {
  let delay = delayMs;
  let status = 200;
  const log: HeldServer['log'] = [];
  const timers = new Set<NodeJS.Timeout>();
  const server: Server = createServer((req, res) => {
    const entry: HeldServer['log'][number] = { path: req.url ?? '/', arrived: Date.now() };
    log.push(entry);
    const t = setTimeout(() => {
      timers.delete(t);
      entry.answered = Date.now();
      res.statusCode = status;
      res.end('{}');
    }, delay);
    timers.add(t);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    log,
    set(o) {
      if (o.delayMs !== undefined) delay = o.delayMs;
      if (o.status !== undefined) status = o.status;
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    },
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export async function waitFor(cond: () => boolean | Promise<boolean>, timeoutMs = 10_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting for condition');
    await sleep(10);
  }
}
