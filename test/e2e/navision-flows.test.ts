/**
 * NAV / Business Central flows end to end over real sockets (issue 8, "Sandbox, tests, benchmark"): the real app
 * (Redis, queue, worker) linked to the NAV/BC sandbox in each flavour a flow applies to. Expected amounts, keys and
 * counts are worked out here from the spec and SpinPanel's data, never taken from the code under test.
 * `it.fails` marks a bug found: its comment names the file and what is wrong.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { afterEach, describe, expect, it, onTestFinished, vi } from 'vitest';
import type { CustomerSeed } from '../../connectors/navision/sandbox/types.ts';
import {
  type Company,
  NAVISION_SANDBOX_DEFAULTS,
  type NavisionRequest,
  type NavisionSandbox,
  type SalesLine,
} from '../../connectors/navision/sandbox.ts';
import type { Subscription } from '../../src/domain/types.ts';
import { readLedger } from '../../src/links/ledger.ts';
import { RollingWindowPacer } from '../../src/net/pacer.ts';
import { NAV_COMPANY, type NavFlavour, type NavWorld, startNavWorld } from '../helpers/nav-world.ts';
import { admin } from '../helpers/world.ts';

const FLAVOURS: NavFlavour[] = ['nav-odata', 'bc-onprem', 'bc-online'];

// ---- the rules, written out from the spec (not imported from the code under test) ------------------------------

/** External Document No. of a customer's month: `SP-<12 hex of sha256(customer id)>-<YYYYMM>`, upper-case. */
const externalNo = (customerId: string, month: string) =>
  `SP-${createHash('sha256').update(customerId).digest('hex').slice(0, 12)}-${month.replace('-', '')}`.toUpperCase();

const daysIn = (month: string) => {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 0)).getUTCDate();
};
const nextMonth = (month: string) => {
  const [y, m] = month.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 7);
};
const cents = (n: number) => Math.round(n * 100) / 100;

/** Monthly lines SpinPanel bills for a customer: active, billed, monthly subscriptions, one per product and price. */
function monthlyLines(
  w: NavWorld,
  customerId: string,
): { productName: string; quantity: number; price: number }[] {
  const customer = w.sp.data.customers.find((c) => c.id === customerId)!;
  const out = new Map<string, { productName: string; quantity: number; price: number }>();
  for (const s of w.sp.data.subscriptions) {
    if (s.customerId !== customerId || s.status !== 'active' || s.offerType === 'perpetual') continue;
    if (!s.billingEnabled && !customer.billing.sendAllSubscriptions) continue;
    if (s.billingFrequency !== 'monthly') continue;
    const k = `${s.productId}|${Number(s.unitPrice.amount)}`;
    const line = out.get(k) ?? { productName: s.productName, quantity: 0, price: Number(s.unitPrice.amount) };
    line.quantity += s.quantity;
    out.set(k, line);
  }
  return [...out.values()];
}

const billedMonthly = (w: NavWorld, s: Subscription) => {
  const c = w.sp.data.customers.find((x) => x.id === s.customerId)!;
  return (
    s.status === 'active' &&
    s.offerType !== 'perpetual' &&
    s.billingFrequency === 'monthly' &&
    (s.billingEnabled || c.billing.sendAllSubscriptions)
  );
};

/** Every invoice (unposted and posted) of the company with this External Document No. */
const invoicesByExternal = (company: Company, external: string) => [
  ...[...company.invoices.values()].filter((i) => i.externalDocumentNo.toUpperCase() === external),
  ...[...company.posted.values()].filter((i) => i.externalDocumentNo.toUpperCase() === external),
];

const PRORATION = /[+-]\d+ from \d{4}-\d{2}-\d{2}/;
const itemLines = (lines: SalesLine[]) => lines.filter((l) => l.type === 'Item');

let w: NavWorld | undefined;
afterEach(async () => {
  await w?.close();
  w = undefined;
});

describe('NAV / BC: a month invoiced once, the next one prorating a seat change', () => {
  for (const flavour of FLAVOURS) {
    it(`${flavour}: invoices a month once across three runs; the next month prorates a seat change made after the first invoice`, async () => {
      w = await startNavWorld({ flavour });
      const company = w.nav.company(NAV_COMPANY);
      const month1 = w.day().slice(0, 7);
      expect(w.day().slice(8)).toBe('10');
      const runs = [await w.sync(), await w.sync()];
      w.advanceDays(1);
      runs.push(await w.sync());
      for (const r of runs) expect(r.status, JSON.stringify(r.errors)).toBe('succeeded');
      expect(runs[0]!.applied.createInvoice).toBe(w.sp.data.customers.length);
      expect(runs[1]!.applied).toEqual({});
      expect(runs[2]!.applied).toEqual({});
      for (const c of w.sp.data.customers) {
        const found = invoicesByExternal(company, externalNo(c.id, month1));
        expect(found, c.name).toHaveLength(1);
        const inv = found[0]!;
        expect(company.customers.get(inv.customerNo)?.name).toBe(c.name);
        const monthly = itemLines(inv.lines).filter((l) => l.description.endsWith(` ${month1}`));
        expect(monthly.map((l) => [l.quantity, l.unitPrice]).sort()).toEqual(
          monthlyLines(w, c.id)
            .map((l) => [l.quantity, l.price])
            .sort(),
        );
      }
      expect(company.invoices.size + company.posted.size).toBe(w.sp.data.customers.length);

      // On the 20th a customer buys 3 more seats of a monthly subscription: the month's invoice stays as it is.
      w.advanceDays(9);
      expect(w.day().slice(8)).toBe('20');
      const days = daysIn(month1);
      const held = days - 20 + 1;
      // Preferably one whose prorated price needs rounding to cents.
      const candidates = w.sp.data.subscriptions.filter((s) => billedMonthly(w!, s));
      const sub =
        candidates.find((s) => !Number.isInteger((Number(s.unitPrice.amount) * 100 * held) / days)) ??
        candidates[0]!;
      const customer = w.sp.data.customers.find((c) => c.id === sub.customerId)!;
      const before = monthlyLines(w, customer.id);
      const invoice1 = invoicesByExternal(company, externalNo(customer.id, month1))[0]!;
      const lines1 = JSON.stringify(invoice1.lines.map((l) => [l.no, l.quantity, l.unitPrice]));
      w.sp.setQuantity(sub.id, sub.quantity + 3);
      const seen = await w.sync();
      expect(seen.status).toBe('succeeded');
      expect(seen.applied).toEqual({});
      expect(JSON.stringify(invoice1.lines.map((l) => [l.no, l.quantity, l.unitPrice]))).toBe(lines1);
      expect(company.invoices.size + company.posted.size).toBe(w.sp.data.customers.length);

      // The next month's invoice day (the 5th).
      const month2 = nextMonth(month1);
      w.advanceDays(daysIn(month1) - 20 + 5);
      expect(w.day()).toBe(`${month2}-05`);
      const next = await w.sync();
      expect(next.status, JSON.stringify(next.errors)).toBe('succeeded');
      expect(next.applied.createInvoice).toBe(w.sp.data.customers.length);
      expect((await w.sync()).applied).toEqual({});

      const price = Number(sub.unitPrice.amount);
      for (const c of w.sp.data.customers) {
        const found = invoicesByExternal(company, externalNo(c.id, month2));
        expect(found, c.name).toHaveLength(1);
        const lines = itemLines(found[0]!.lines);
        const monthly = lines.filter((l) => l.description.endsWith(` ${month2}`));
        const wanted = monthlyLines(w, c.id);
        expect(monthly.map((l) => [l.quantity, l.unitPrice]).sort()).toEqual(
          wanted.map((l) => [l.quantity, l.price]).sort(),
        );
        const prorated = lines.filter((l) => PRORATION.test(l.description));
        if (c.id !== customer.id) {
          expect(prorated, c.name).toEqual([]);
          continue;
        }
        // +3 seats from the 20th: 3 × price × 11/30 (held days of the month), rounded to cents per seat.
        expect(prorated).toHaveLength(1);
        const p = prorated[0]!;
        expect(p.quantity).toBe(3);
        expect(p.unitPrice).toBe(cents((price * held) / days));
        expect(p.description.startsWith(`${sub.productName} +3 from ${month1}-20`)).toBe(true);
        const total = cents(
          wanted.reduce((s, l) => s + l.quantity * l.price, 0) + 3 * cents((price * held) / days),
        );
        const got = cents([...monthly, p].reduce((s, l) => s + l.quantity * l.unitPrice, 0));
        expect(got).toBe(total);
        // The new month bills the new seat count.
        expect(wanted.reduce((s, l) => s + l.quantity, 0)).toBe(
          before.reduce((s, l) => s + l.quantity, 0) + 3,
        );
      }
    });
  }
});

describe('NAV / BC: a seat change seen on the invoice day, after the invoice', () => {
  for (const flavour of FLAVOURS) {
    // Was a bug (prorations() skipped every change dated the invoice's own day): seats changed on the day the
    // month's invoice was made, after it, are prorated on the next invoice from that day.
    it(`${flavour}: +3 seats later on the invoice day are prorated on the next month's invoice`, async () => {
      w = await startNavWorld({ flavour });
      const company = w.nav.company(NAV_COMPANY);
      const month1 = w.day().slice(0, 7);
      expect((await w.sync()).applied.createInvoice).toBe(w.sp.data.customers.length);
      const sub = w.sp.data.subscriptions.find((s) => billedMonthly(w!, s))!;
      w.sp.setQuantity(sub.id, sub.quantity + 3);
      const seen = await w.sync();
      expect(seen.applied).toEqual({});
      expect(
        seen.recon.find((l) => l.customerId === sub.customerId && l.action === 'pending')?.reason,
      ).toMatch(/prorated on the next invoice/);
      const month2 = nextMonth(month1);
      w.advanceDays(daysIn(month1) - 10 + 5);
      expect((await w.sync()).applied.createInvoice).toBe(w.sp.data.customers.length);
      const lines = itemLines(invoicesByExternal(company, externalNo(sub.customerId, month2))[0]!.lines);
      const prorated = lines.filter((l) => PRORATION.test(l.description));
      expect(prorated).toHaveLength(1);
      const days = daysIn(month1);
      const price = Number(sub.unitPrice.amount);
      // From the 10th (21 of 30 days), or from the 11th if a change waits for the next day.
      expect(prorated[0]!.quantity).toBe(3);
      expect([cents((price * (days - 9)) / days), cents((price * (days - 10)) / days)]).toContain(
        prorated[0]!.unitPrice,
      );
    });
  }
});

const waitFor = async (cond: () => boolean, timeoutMs = 20_000) => {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting for condition');
    await new Promise((r) => setTimeout(r, 5));
  }
};

/** Each customer's month: one invoice, its monthly lines SpinPanel's, no line twice. */
function expectOneCompleteInvoiceEach(w: NavWorld, company: Company, month: string) {
  for (const c of w.sp.data.customers) {
    const found = invoicesByExternal(company, externalNo(c.id, month));
    expect(found, c.name).toHaveLength(1);
    const lines = itemLines(found[0]!.lines);
    const monthly = lines.filter((l) => l.description.endsWith(` ${month}`));
    expect(monthly.map((l) => [l.quantity, l.unitPrice]).sort(), c.name).toEqual(
      monthlyLines(w, c.id)
        .map((l) => [l.quantity, l.price])
        .sort(),
    );
    const signatures = lines.map((l) => `${l.no}|${l.description}|${l.quantity}|${l.unitPrice}`);
    expect(new Set(signatures).size, `${c.name}: a line twice`).toBe(signatures.length);
  }
}

describe('NAV: a half-written invoice (header without all its lines) is completed, never duplicated', () => {
  const headerPosts = (w: NavWorld) =>
    w.nav.requests.filter((r) => r.method === 'POST' && r.entity === 'SalesInvoice');
  const linePosts = (w: NavWorld) =>
    w.nav.requests.filter((r) => r.method === 'POST' && r.entity === 'SalesInvoiceSalesLines');

  it('nav-odata: a lost answer to a line POST (committed) converges to one complete invoice', async () => {
    w = await startNavWorld({
      flavour: 'nav-odata',
      spinpanel: { customers: 3, subscriptionsPerCustomer: 4 },
    });
    const company = w.nav.company(NAV_COMPANY);
    const month = w.day().slice(0, 7);
    // The first line is added and committed, then the connection is cut before the answer.
    w.nav.faults.inject({ kind: 'drop', entity: 'SalesInvoiceSalesLines', method: 'POST' });
    const run = await w.sync();
    expect(w.nav.faults.injected.drop).toBe(1);
    const lost = linePosts(w).filter((r) => r.status === -1);
    expect(lost).toHaveLength(1);
    // The first attempt lost the answer (a transient failure ends the run); the queue's next attempt completed it.
    expect(run.attempt).toBe(2);
    const cut = /No='(\w+)'/.exec(decodeURIComponent(lost[0]!.path))?.[1];
    const halfWritten = company.invoices.get(cut ?? '');
    expect(halfWritten).toBeDefined();
    // Completed by the retry, unless the lost line was its only one (then there was nothing left to add).
    expect(run.applied).toEqual(itemLines(halfWritten!.lines).length > 1 ? { completeInvoice: 1 } : {});
    expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
    expectOneCompleteInvoiceEach(w, company, month);
    // One header per customer was ever sent: the retry found the half-written one by External Document No.
    expect(headerPosts(w)).toHaveLength(w.sp.data.customers.length);
    // The lost line was not sent again (its twin would be a duplicate line).
    const body = JSON.stringify(lost[0]!.body);
    expect(linePosts(w).filter((r) => JSON.stringify(r.body) === body)).toHaveLength(1);
    expect((await w.sync()).applied).toEqual({});
  });

  it('nav-odata: a worker process SIGKILLed after the header and before its lines converges to one complete invoice', async () => {
    w = await startNavWorld({
      flavour: 'nav-odata',
      worker: false,
      spinpanel: { customers: 3, subscriptionsPerCustomer: 4 },
      // The header is made, then its answer is held: the worker waits for it, holding no invoice number.
      nav: { faults: { timeoutMs: 30_000 } },
    });
    const world = w;
    const company = w.nav.company(NAV_COMPANY);
    const month = w.day().slice(0, 7);
    w.nav.faults.inject({ kind: 'timeout', entity: 'SalesInvoice', method: 'POST' });
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/helpers/nav-worker-child.ts'], {
      env: { ...process.env, ...w.env, WORLD_CLOCK_OFFSET_MS: String(w.now() - Date.now()) },
      stdio: 'ignore',
    });
    const exited = new Promise((r) => child.once('exit', r));
    try {
      await w.app.services.syncNow(admin, w.accountId, w.link.id, { dryRun: false });
      await waitFor(() => headerPosts(world).some((r) => r.fault === 'timeout'), 30_000);
    } finally {
      child.kill('SIGKILL');
      await exited;
    }
    const held = headerPosts(w).find((r) => r.fault === 'timeout')!;
    const orphan = [...company.invoices.values()].find(
      (i) => i.externalDocumentNo === (held.body as { External_Document_No: string }).External_Document_No,
    );
    // Half-written: the header is there, without a single line.
    expect(orphan).toBeDefined();
    expect(orphan!.lines).toEqual([]);

    w.app.startWorker(1);
    const run = await w.sync();
    expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
    expectOneCompleteInvoiceEach(w, company, month);
    expect(orphan!.lines.length).toBeGreaterThan(0);
    expect(headerPosts(w)).toHaveLength(w.sp.data.customers.length);
    expect((await w.sync()).applied).toEqual({});
  }, 60_000);
});

describe('BC: a lost answer to the deep insert', () => {
  for (const flavour of ['bc-onprem', 'bc-online'] as const) {
    it(`${flavour}: the invoice made with its lines but never answered is found, not made again`, async () => {
      w = await startNavWorld({ flavour, spinpanel: { customers: 3, subscriptionsPerCustomer: 4 } });
      const company = w.nav.company(NAV_COMPANY);
      w.nav.faults.inject({ kind: 'drop', entity: 'salesInvoices', method: 'POST' });
      const run = await w.sync();
      expect(w.nav.faults.injected.drop).toBe(1);
      expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
      expect(run.attempt).toBe(2);
      expectOneCompleteInvoiceEach(w, company, w.day().slice(0, 7));
      const posts = w.nav.requests.filter((r) => r.method === 'POST' && r.entity === 'salesInvoices');
      expect(posts).toHaveLength(w.sp.data.customers.length);
      expect(company.invoices.size).toBe(w.sp.data.customers.length);
    });
  }
});

describe('NAV: 2,500 customers, read page by page', () => {
  const CUSTOMERS = Number(process.env.NAV_FLOWS_CUSTOMERS ?? 2500);
  it(`nav-odata: ${CUSTOMERS} customers invoiced exactly once each; the reads follow @odata.nextLink at 1,000; a resync writes nothing`, async () => {
    // SpinPanel's side reads 2 pages per customer (see the it.fails below), which its client paces at 600 a
    // minute: 8+ minutes for 2,500 customers. Lifted here (the sandbox does not enforce it) to test NAV's side.
    const paced = vi.spyOn(RollingWindowPacer.prototype, 'take').mockResolvedValue(undefined);
    onTestFinished(() => paced.mockRestore());
    let missing: { no: string; name: string; of: string } | undefined;
    const t0 = Date.now();
    w = await startNavWorld({
      flavour: 'nav-odata',
      spinpanel: { customers: CUSTOMERS, subscriptionsPerCustomer: 1 },
      // App, worker and both sandboxes share this one process: a 2-second run lock would lapse under its load.
      env: { SYNC_LOCK_TTL_MS: '30000' },
      // One SpinPanel customer is not in the ERP; its closest ERP name (the one suggestion that matters) is
      // numbered last, and 1,200 more ERP customers share its first word: the look-up for names like it returns
      // more than one page of 1,000, the suggestion on the second.
      erpCustomers: (seeded) => {
        const gone = seeded.find((c) => c.name.startsWith('Northwind '))!;
        missing = { no: 'Z99999', name: `${gone.name} (old)`, of: gone.name };
        return [
          ...seeded.filter((c) => c !== gone),
          ...Array.from({ length: 1200 }, (_, i) => ({
            no: `X${String(i + 1).padStart(5, '0')}`,
            name: `Northwind Archive ${i + 1}`,
          })),
          { no: missing.no, name: missing.name },
        ];
      },
    });
    const company = w.nav.company(NAV_COMPANY);
    const month = w.day().slice(0, 7);
    const t1 = Date.now();
    const lag = monitorEventLoopDelay({ resolution: 20 });
    lag.enable();
    const first = await w.sync();
    lag.disable();
    const t2 = Date.now();
    expect(first.status, JSON.stringify(first.errors.slice(0, 3))).toBe('succeeded');
    // The customer the ERP lacks is reported, its closest name (from the second page) suggested first.
    const lacking = w.sp.data.customers.find((c) => c.name === missing!.of)!;
    expect(first.unmapped.map((u) => u.customerId)).toEqual([lacking.id]);
    expect(first.unmapped[0]!.suggestions?.[0]).toMatchObject({ id: missing!.no, name: missing!.name });
    // Exactly once: no customer twice, every customer with monthly seats once (but the lacking one), nothing
    // for anyone else.
    const byExternal = new Map(
      w.sp.data.customers.filter((c) => c !== lacking).map((c) => [externalNo(c.id, month), c]),
    );
    const invoices = [...company.invoices.values()];
    expect(invoices).toHaveLength(first.applied.createInvoice ?? 0);
    expect(new Set(invoices.map((i) => i.externalDocumentNo)).size).toBe(invoices.length);
    expect(invoices.filter((i) => !byExternal.has(i.externalDocumentNo))).toEqual([]);
    for (const i of invoices)
      expect(company.customers.get(i.customerNo)?.name).toBe(byExternal.get(i.externalDocumentNo)?.name);
    const monthly = w.sp.data.customers.filter((c) => c !== lacking && monthlyLines(w!, c.id).length > 0);
    expect(monthly.length).toBeGreaterThan(CUSTOMERS / 2);
    for (const c of monthly)
      expect(invoicesByExternal(company, externalNo(c.id, month)), c.name).toHaveLength(1);
    // Pages of 1,000 at most, the rest by nextLink ($skiptoken), each page once.
    const gets = w.nav.requests.filter((r) => r.method === 'GET');
    const followed = gets.filter((r) => r.path.includes('skiptoken'));
    expect(followed.length).toBeGreaterThan(0);
    expect(followed.every((r) => r.status === 200)).toBe(true);
    expect(new Set(followed.map((r) => r.path)).size).toBe(followed.length);
    expect(gets.every((r) => !/[?&]\$top=/.test(decodeURIComponent(r.path)))).toBe(true);

    const before = w.nav.requests.length;
    const again = await w.sync();
    const t3 = Date.now();
    expect(again.status).toBe('succeeded');
    expect(again.applied).toEqual({});
    expect(again.unmapped.map((u) => u.customerId)).toEqual([lacking.id]);
    expect(w.nav.requests.slice(before).filter((r) => r.method !== 'GET')).toEqual([]);
    expect(company.invoices.size).toBe(invoices.length);
    console.info(
      `${CUSTOMERS} customers: setup ${t1 - t0} ms, first run ${t2 - t1} ms (${before} NAV requests), resync ${t3 - t2} ms (${w.nav.requests.length - before} NAV requests); event loop blocked up to ${Math.round(lag.max / 1e6)} ms`,
    );
  }, 120_000);
});

describe('NAV / BC: credentials refused during a run (401)', () => {
  for (const flavour of FLAVOURS) {
    it(`${flavour}: the run stops after one attempt, in the target's words`, async () => {
      const D = NAVISION_SANDBOX_DEFAULTS;
      const navUser: { userName: string; webServiceAccessKey: string } = { ...D.navUser };
      const bcUser: { userName: string; webServiceAccessKey: string } = { ...D.bcUser };
      const client: { clientId: string; clientSecret: string } = { ...D.client };
      w = await startNavWorld({
        flavour,
        nav: { nav: { users: [navUser] }, bcOnPrem: { users: [bcUser] }, bcOnline: { clients: [client] } },
      });
      expect(w.app.config.SYNC_ATTEMPTS).toBe(5);
      // After the link was made, the key is regenerated in NAV / BC (the client secret rotated in Entra ID).
      navUser.webServiceAccessKey = 'regenerated-in-nav-000000000000000000000000';
      bcUser.webServiceAccessKey = 'regenerated-in-bc-0000000000000000000000000';
      client.clientSecret = 'rotated~in~entra';
      const before = w.nav.requests.length;
      const res = await w.app.services.syncNow(admin, w.accountId, w.link.id, {
        dryRun: false,
        waitMs: 30_000,
      });

      expect(res.state).toBe('failed');
      const job = await w.app.queue.getJob(res.runId);
      expect(job?.attemptsMade).toBe(1);
      const words =
        flavour === 'bc-online'
          ? /AADSTS7000215: Invalid client secret provided/
          : /Authentication_InvalidCredentials: The server has rejected the client credentials/;
      expect(job?.failedReason).toMatch(words);
      expect(res.run?.status).toBe('failed');
      expect(res.run?.errors.map((e) => e.message).join(' ')).toMatch(words);
      // One refusal, asked once: nothing was sent twice and nothing was written.
      const after = w.nav.requests.slice(before);
      expect(after.filter((r) => r.status === 401)).toHaveLength(1);
      expect(after.filter((r) => r.method !== 'GET' && r.flavour !== 'token')).toEqual([]);
      // No secret in what the run shows.
      const shown = JSON.stringify([res.run, job?.failedReason]);
      for (const secret of [navUser.webServiceAccessKey, bcUser.webServiceAccessKey, client.clientSecret])
        expect(shown).not.toContain(secret);
    });
  }
});

describe('BC online: a token refreshed mid-run', () => {
  it('bc-online: tokens expired in the middle of a run: one 401 wave, exactly one more token, the run succeeds', async () => {
    w = await startNavWorld({
      flavour: 'bc-online',
      spinpanel: { customers: 8, subscriptionsPerCustomer: 3 },
      nav: { latencyMs: 40 },
    });
    const world = w;
    const tokens = () => world.nav.requests.filter((r) => r.flavour === 'token');
    const before = w.nav.requests.length;
    const tokensBefore = tokens().length;
    const running = w.sync();
    // Once the run is writing (some invoices made, several requests in flight), every token issued dies.
    await waitFor(() => world.nav.company(NAV_COMPANY).invoices.size >= 2, 30_000);
    w.nav.expireTokens();
    const run = await running;
    expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
    const during = w.nav.requests.slice(before);
    // The run's first token, and one more for the refused ones (however many were refused at once).
    expect(tokens().length - tokensBefore).toBe(2);
    const refused = during.filter((r) => r.status === 401);
    expect(refused.length).toBeGreaterThanOrEqual(1);
    // Refused only while the new token was on its way: at most the link's 5 slots, not every later request.
    expect(refused.length).toBeLessThanOrEqual(5);
    // Each refused request went once more (with the new token) and was served.
    const key = (r: NavisionRequest) => `${r.method} ${r.path}`;
    for (const k of new Set(refused.map(key))) {
      const first = refused.find((r) => key(r) === k)!;
      const served = during.filter(
        (x) => x.seq > first.seq && key(x) === k && x.status > 0 && x.status < 300,
      );
      expect(served.length, k).toBeGreaterThanOrEqual(refused.filter((r) => key(r) === k).length);
    }
    // Every invoice is there once.
    expectOneCompleteInvoiceEach(w, w.nav.company(NAV_COMPANY), w.day().slice(0, 7));
    const posts = during.filter(
      (r) => r.method === 'POST' && r.entity === 'salesInvoices' && r.status === 201,
    );
    expect(posts).toHaveLength(w.sp.data.customers.length);
  });

  it('bc-online: tokens expired between runs: the next run asks for one token and is never refused', async () => {
    w = await startNavWorld({ flavour: 'bc-online' });
    await w.sync();
    w.nav.expireTokens();
    const before = w.nav.requests.length;
    const run = await w.sync();
    expect(run.status).toBe('succeeded');
    const during = w.nav.requests.slice(before);
    expect(during.filter((r) => r.flavour === 'token')).toHaveLength(1);
    expect(during.filter((r) => r.status === 401)).toEqual([]);
  });
});

describe('NAV with Windows authentication (NTLM)', () => {
  it('nav-odata: links and syncs with NTLM on one socket per handshake', async () => {
    const W = NAVISION_SANDBOX_DEFAULTS.windowsUser;
    w = await startNavWorld({
      flavour: 'nav-odata',
      nav: { nav: { auth: 'windows' } },
      credentials: { auth: { type: 'ntlm', user: W.userName, password: W.password, domain: W.domain } },
    });
    const company = w.nav.company(NAV_COMPANY);
    const run = await w.sync();
    expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
    expectOneCompleteInvoiceEach(w, company, w.day().slice(0, 7));
    const nav = w.nav.requests.filter((r) => r.flavour === 'nav');
    // Every request was authenticated as the Windows user; no Type 3 ever arrived on a socket without its
    // challenge (NAV's 400); at most one challenge (401) per request served.
    const served = nav.filter((r) => r.status !== 401);
    expect(served.length).toBeGreaterThan(0);
    expect(served.every((r) => r.user === `${W.domain}\\${W.userName}`)).toBe(true);
    expect(nav.filter((r) => r.status === 400)).toEqual([]);
    const challenges = nav.filter((r) => r.status === 401).length;
    expect(challenges).toBeGreaterThan(0);
    expect(challenges).toBeLessThanOrEqual(served.length);
    const before = w.nav.requests.length;
    const again = await w.sync();
    expect(again.applied).toEqual({});
    expect(w.nav.requests.slice(before).filter((r) => r.method !== 'GET')).toEqual([]);
  });

  it('nav-odata: a wrong Windows password is refused when the link is made, saying so', async () => {
    const W = NAVISION_SANDBOX_DEFAULTS.windowsUser;
    await expect(
      startNavWorld({
        flavour: 'nav-odata',
        nav: { nav: { auth: 'windows' } },
        credentials: {
          auth: { type: 'ntlm', user: W.userName, password: 'not-the-password', domain: W.domain },
        },
      }),
    ).rejects.toThrow(/401|credentials|rejected/i);
  });
});

describe('NAV / BC: postInvoices', () => {
  for (const flavour of FLAVOURS) {
    it(`${flavour}: each invoice is posted once complete, and a later run makes no second invoice for the month`, async () => {
      w = await startNavWorld({
        flavour,
        // NAV pages apply no templates: the items the sync makes need their posting groups from the settings.
        settings: {
          postInvoices: true,
          ...(flavour === 'nav-odata'
            ? { genProdPostingGroup: 'SERVICES', vatProdPostingGroup: 'VAT25' }
            : {}),
        },
      });
      const company = w.nav.company(NAV_COMPANY);
      const month = w.day().slice(0, 7);
      const n = w.sp.data.customers.length;
      const run = await w.sync();
      expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
      expect(run.applied.createInvoice).toBe(n);
      expect(run.applied.postInvoice).toBe(n);
      // Posted: nothing is left unposted, each month's invoice is a posted one with its lines.
      expect(company.invoices.size).toBe(0);
      expect(company.posted.size).toBe(n);
      expectOneCompleteInvoiceEach(w, company, month);
      const ledger = await readLedger(w.app.store, w.accountId, w.link.id);
      for (const c of w.sp.data.customers) {
        const posted = [...company.posted.values()].find(
          (p) => p.externalDocumentNo === externalNo(c.id, month),
        )!;
        expect(posted.status).toBe('Open');
        const remembered = ledger.invoices[c.id]!;
        expect(remembered.period).toBe(month);
        expect(remembered.posted).toBe(true);
        if (flavour === 'nav-odata') {
          // NAV: moved to the posted invoices under a posted number; the draft's number is its Pre-Assigned No.
          expect(posted.no).not.toBe(posted.preAssignedNo);
          expect(String(remembered.id)).toBe(posted.preAssignedNo);
        } else {
          // BC: the same id across posting (the API's salesInvoices shows it with status Open).
          expect(String(remembered.id)).toBe(posted.id);
        }
      }
      if (flavour !== 'nav-odata') {
        const api = w.nav.requests.filter((r) => r.entity === 'Microsoft.NAV.post');
        expect(api).toHaveLength(n);
      } else {
        expect(w.nav.requests.filter((r) => r.entity === 'NAV.Post')).toHaveLength(n);
      }

      const before = w.nav.requests.length;
      const again = await w.sync();
      w.advanceDays(1);
      const later = await w.sync();
      for (const r of [again, later]) {
        expect(r.status).toBe('succeeded');
        expect(r.applied).toEqual({});
      }
      expect(w.nav.requests.slice(before).filter((r) => r.method !== 'GET' && r.flavour !== 'token')).toEqual(
        [],
      );
      expect(company.invoices.size).toBe(0);
      expect(company.posted.size).toBe(n);
    });
  }
});

describe('NAV / BC: a lost answer to the posting', () => {
  for (const flavour of FLAVOURS) {
    it(`${flavour}: an invoice posted whose answer was lost is neither posted again nor made twice`, async () => {
      w = await startNavWorld({
        flavour,
        settings: {
          postInvoices: true,
          ...(flavour === 'nav-odata'
            ? { genProdPostingGroup: 'SERVICES', vatProdPostingGroup: 'VAT25' }
            : {}),
        },
      });
      const company = w.nav.company(NAV_COMPANY);
      const action = flavour === 'nav-odata' ? 'NAV.Post' : 'Microsoft.NAV.post';
      w.nav.faults.inject({ kind: 'drop', entity: action, method: 'POST' });
      const run = await w.sync();
      expect(w.nav.faults.injected.drop).toBe(1);
      expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
      const n = w.sp.data.customers.length;
      expect(company.posted.size).toBe(n);
      expect(company.invoices.size).toBe(0);
      expect(w.nav.requests.filter((r) => r.entity === action)).toHaveLength(n);
      expectOneCompleteInvoiceEach(w, company, w.day().slice(0, 7));
      expect((await w.sync()).applied).toEqual({});
    });
  }
});

describe('NAV / BC: a SpinPanel customer the ERP lacks', () => {
  const lackFirst = (gone: { name?: string }) => (seeded: CustomerSeed[]) => {
    const first = seeded[0]!;
    gone.name = first.name;
    // What the ERP has instead: a customer whose name begins like it (a suggestion, never applied).
    return [...seeded.slice(1), { no: 'C09999', name: `${first.name} (old)` }];
  };

  for (const flavour of FLAVOURS) {
    it(`${flavour}: createMissingCustomers makes the ERP customer once (posting groups as configured)`, async () => {
      const gone: { name?: string } = {};
      w = await startNavWorld({
        flavour,
        erpCustomers: lackFirst(gone),
        settings: {
          createMissingCustomers: true,
          // NAV pages take the customer's posting groups; BC's API has no such fields (its templates fill them).
          ...(flavour === 'nav-odata'
            ? { customerPostingGroup: 'EU', genBusPostingGroup: 'EU', vatBusPostingGroup: 'EU' }
            : {}),
        },
      });
      const company = w.nav.company(NAV_COMPANY);
      const customer = w.sp.data.customers.find((c) => c.name === gone.name)!;
      const before = company.customers.size;
      const run = await w.sync();
      expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
      expect(run.unmapped).toEqual([]);
      expect(run.applied.createCustomer).toBe(1);
      expect(company.customers.size).toBe(before + 1);
      const made = [...company.customers.values()].filter((c) => c.name === customer.name);
      expect(made).toHaveLength(1);
      const groups = flavour === 'nav-odata' ? 'EU' : 'DOMESTIC';
      expect(made[0]).toMatchObject({
        customerPostingGroup: groups,
        genBusPostingGroup: groups,
        vatBusPostingGroup: groups,
      });
      const invoice = invoicesByExternal(company, externalNo(customer.id, w.day().slice(0, 7)));
      expect(invoice).toHaveLength(1);
      expect(invoice[0]!.customerNo).toBe(made[0]!.no);
      expect(company.customers.get('C09999')).toBeDefined();

      w.advanceDays(1);
      const again = await w.sync();
      expect(again.applied).toEqual({});
      expect(company.customers.size).toBe(before + 1);
    });

    it(`${flavour}: by default the customer is reported with suggestions, and nothing is made for it`, async () => {
      const gone: { name?: string } = {};
      w = await startNavWorld({ flavour, erpCustomers: lackFirst(gone) });
      const company = w.nav.company(NAV_COMPANY);
      const customer = w.sp.data.customers.find((c) => c.name === gone.name)!;
      const before = company.customers.size;
      const run = await w.sync();
      expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
      expect(run.unmapped).toHaveLength(1);
      expect(run.unmapped[0]).toMatchObject({ customerId: customer.id });
      expect(run.unmapped[0]!.suggestions?.[0]).toMatchObject({
        id: 'C09999',
        name: `${customer.name} (old)`,
      });
      expect(company.customers.size).toBe(before);
      expect(invoicesByExternal(company, externalNo(customer.id, w.day().slice(0, 7)))).toEqual([]);
      expect(company.invoices.size).toBe(w.sp.data.customers.length - 1);
    });
  }

  for (const flavour of ['bc-onprem', 'bc-online'] as const) {
    // Was a bug (the setting was sent as BC's `taxGroupCode`, the US sales-tax group): on BC posting groups are
    // not sent at all — API v2.0 items have no such fields; the company's item template sets them.
    it(`${flavour}: vatProdPostingGroup set: items are still made and the month invoiced`, async () => {
      try {
        w = await startNavWorld({ flavour, settings: { vatProdPostingGroup: 'VAT10' } });
      } catch (err) {
        // Refused when the link is made: a fix too.
        expect(String(err)).toMatch(/vatProdPostingGroup/);
        return;
      }
      const run = await w.sync();
      expect(run.errors).toEqual([]);
      expect(w.nav.company(NAV_COMPANY).invoices.size).toBe(w.sp.data.customers.length);
    });
  }

  for (const flavour of ['bc-onprem', 'bc-online'] as const) {
    // Was a bug (the settings were sent as fields API v2.0 customers do not have, and BC refused the create): on
    // BC posting groups are not sent; the company's customer template applies.
    it(`${flavour}: createMissingCustomers with posting group settings still makes the customer`, async () => {
      const gone: { name?: string } = {};
      w = await startNavWorld({
        flavour,
        erpCustomers: lackFirst(gone),
        settings: {
          createMissingCustomers: true,
          customerPostingGroup: 'EU',
          genBusPostingGroup: 'EU',
          vatBusPostingGroup: 'EU',
        },
      });
      const company = w.nav.company(NAV_COMPANY);
      const run = await w.sync();
      expect(run.errors).toEqual([]);
      expect([...company.customers.values()].filter((c) => c.name === gone.name)).toHaveLength(1);
    });
  }
});

/**
 * Requests the sandbox is working on at once (received, not yet answered), counted from its request log: a
 * record is pushed when a request arrives and gets its status when the answer goes out.
 */
function trackInFlight(nav: NavisionSandbox, counts: (r: NavisionRequest) => boolean) {
  let now = 0;
  let max = 0;
  const push = nav.requests.push.bind(nav.requests);
  nav.requests.push = (...records: NavisionRequest[]) => {
    for (const r of records) {
      let status = r.status;
      const mine = counts(r);
      if (mine && status === 0) max = Math.max(max, ++now);
      Object.defineProperty(r, 'status', {
        enumerable: true,
        get: () => status,
        set: (v: number) => {
          if (mine && status === 0 && v !== 0) now--;
          status = v;
        },
      });
    }
    return push(...records);
  };
  return { max: () => max, now: () => now };
}

describe('NAV / BC: 5 requests in flight at most', () => {
  for (const flavour of FLAVOURS) {
    it(`${flavour}: with latency and 12 operations at once, the sandbox never sees more than 5 at a time, and no 429`, async () => {
      w = await startNavWorld({
        flavour,
        spinpanel: { customers: 20, subscriptionsPerCustomer: 3 },
        env: { SYNC_APPLY_CONCURRENCY: '12' },
        // BC's limits with no queue: a sixth request at once is refused with 429 at once.
        nav: { latencyMs: 30, limits: { maxConcurrent: 5, maxQueue: 0 } },
      });
      const flight = trackInFlight(w.nav, (r) => r.flavour !== 'token');
      const before = w.nav.requests.length;
      const run = await w.sync();
      expect(run.status, JSON.stringify(run.errors)).toBe('succeeded');
      expectOneCompleteInvoiceEach(w, w.nav.company(NAV_COMPANY), w.day().slice(0, 7));
      const during = w.nav.requests.slice(before);
      expect(during.filter((r) => r.status === 429)).toEqual([]);
      expect(flight.max()).toBeLessThanOrEqual(5);
      // …and the cap is used, not merely respected.
      expect(flight.max()).toBe(5);
      expect(flight.now()).toBe(0);
    });
  }
});

describe('SpinPanel side of a large account', () => {
  // BUG (src/spinpanel/snapshot.ts pullSnapshot and addUsage, src/spinpanel/client.ts listSubscriptions/listUsage;
  // the SpinPanel sandbox serves only the per-customer lists too): every run reads
  // `/customers/{id}/subscriptions` and `/customers/{id}/usage` for each customer — 2 requests per customer,
  // paced at SpinPanel's 600 a minute — although the contract (shared/specs/spinpanel-api.md) offers the
  // account-wide `GET /subscriptions` and `GET /usage?period=` and says to prefer them past a handful of
  // customers. A 2,500-customer account takes 5,003 requests, over 8 minutes of pacing per run (measured: a
  // 300-customer run is still waiting on SpinPanel after 60 s), before NAV / BC sees a request. Should be: a
  // few pages (500 records each) per run, whatever the number of customers.
  it.fails('nav-odata: a run of a 100-customer account reads SpinPanel in a few pages, not 2 requests per customer', async () => {
    w = await startNavWorld({
      flavour: 'nav-odata',
      spinpanel: { customers: 100, subscriptionsPerCustomer: 1 },
    });
    const before = w.sp.requests.length;
    const run = await w.sync();
    expect(run.status).toBe('succeeded');
    // account, customers, subscriptions, the closed month's usage: one page of 500 each.
    expect(w.sp.requests.length - before).toBeLessThanOrEqual(10);
  });
});
