/**
 * NAV / Business Central: requests per invoiced customer against the minimum, for each flavour, and invoices per
 * second under Business Central's 5-concurrent cap at 100 ms latency. Everything runs in one process against the
 * local SpinPanel and NAV / BC sandboxes (test/helpers/nav-world.ts). Prints JSON.
 *
 *   node --import tsx bench/navision.ts            (REDIS_URL as for the tests)
 *
 * 1. Economy: a first sync of BENCH_CUSTOMERS (200) customers × 3 subscriptions into a company that holds the
 *    customers (matched by name) and no items or invoices, then a no-change resync, per flavour; requests as the
 *    sandbox logged them, by kind and entity, against a minimum computed from what was made.
 * 2. Throughput: Business Central online with 100 ms per request and 5 processed at once. A first sync (no
 *    latency) makes the items and the month's invoices; a month later every customer is due again, and that run
 *    is measured at 100 ms: its write phase, from the first invoice POST's arrival to the last invoice's answer.
 *    Once with the app's default SYNC_APPLY_CONCURRENCY and once with a higher one, side by side.
 */
import type { NavisionRequest } from '../connectors/navision/sandbox.ts';
import { loadConfig } from '../src/config.ts';
import { NAV_COMPANY, type NavFlavour, type NavWorld, startNavWorld } from '../test/helpers/nav-world.ts';

const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 200);
const SUBSCRIPTIONS = 3;
const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 100);
const MAX_CONCURRENT = 5;
const THROUGHPUT_CUSTOMERS = Number(process.env.BENCH_THROUGHPUT_CUSTOMERS ?? 200);
const HIGH_CONCURRENCY = Number(process.env.BENCH_APPLY_CONCURRENCY ?? 16);
const FLAVOURS: NavFlavour[] = ['nav-odata', 'bc-onprem', 'bc-online'];
/** Business Central (the flavour with the 5-concurrent limit): `bc-online` or `bc-onprem`. */
const THROUGHPUT_FLAVOUR = (process.env.BENCH_THROUGHPUT_FLAVOUR ?? 'bc-online') as NavFlavour;
if (THROUGHPUT_FLAVOUR !== 'bc-online' && THROUGHPUT_FLAVOUR !== 'bc-onprem')
  throw new Error('BENCH_THROUGHPUT_FLAVOUR must be bc-online or bc-onprem');
/** Server-driven page sizes: NAV's default ODataServicesMaxPageSize, BC's fixed maximum. */
const PAGE_SIZE: Record<NavFlavour, number> = { 'nav-odata': 1000, 'bc-onprem': 20_000, 'bc-online': 20_000 };
/** Values the connector puts in one `or` filter (connectors/navision/read.ts, to keep URLs short). */
const CHUNK = 25;

const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const pages = (n: number, size: number) => Math.max(1, Math.ceil(n / size));
const isToken = (r: NavisionRequest) => r.entity === 'token';
const isRead = (r: NavisionRequest) => !isToken(r) && r.method === 'GET';
const isWrite = (r: NavisionRequest) => !isToken(r) && r.method !== 'GET';
const decoded = (r: NavisionRequest) => {
  try {
    return decodeURIComponent(r.path);
  } catch {
    return r.path;
  }
};

/** Requests between two points, split into reads, writes and token requests, and by entity. */
function tally(reqs: NavisionRequest[]) {
  const byEntity: Record<string, { reads: number; writes: number }> = {};
  for (const r of reqs) {
    if (isToken(r)) continue;
    const name = r.entity || '(none)';
    byEntity[name] ??= { reads: 0, writes: 0 };
    const e = byEntity[name];
    if (isRead(r)) e.reads++;
    else e.writes++;
  }
  return {
    total: reqs.length,
    reads: reqs.filter(isRead).length,
    writes: reqs.filter(isWrite).length,
    tokenRequests: reqs.filter(isToken).length,
    refused429: reqs.filter((r) => r.status === 429).length,
    byEntity: Object.fromEntries(Object.entries(byEntity).sort(([a], [b]) => a.localeCompare(b))),
  };
}

/** The sets of a flavour, as the sandbox logs them. */
const setsOf = (flavour: NavFlavour) =>
  flavour === 'nav-odata'
    ? {
        customer: 'Customer',
        item: 'Item',
        invoice: 'SalesInvoice',
        lines: 'SalesInvoiceSalesLines',
        posted: 'PostedSalesInvoice',
      }
    : {
        customer: 'customers',
        item: 'items',
        invoice: 'salesInvoices',
        lines: 'salesInvoiceLines',
        posted: undefined,
      };

/**
 * Where the reads above the paging minimum come from, by what their URLs ask: lookups by a list of values
 * (`or` filters of up to 25 values each), `startswith` suggestion queries, one invoice's lines at a time,
 * and setup (company, `$metadata`).
 */
function readsByPurpose(flavour: NavFlavour, reqs: NavisionRequest[]) {
  const s = setsOf(flavour);
  const reads = reqs.filter(isRead);
  const of = (pred: (r: NavisionRequest) => boolean) => reads.filter(pred).length;
  const sw = (r: NavisionRequest) => /startswith\(/i.test(decoded(r));
  return {
    customersByValue: of((r) => r.entity === s.customer && !sw(r)),
    customerSuggestions: of((r) => r.entity === s.customer && sw(r)),
    itemsByValue: of((r) => r.entity === s.item),
    invoicesByExternalNo: of(
      (r) => r.entity === s.invoice || (s.posted !== undefined && r.entity === s.posted),
    ),
    invoiceLinesOneInvoiceAtATime: of((r) => r.entity === s.lines),
    setup: of((r) => ![s.customer, s.item, s.invoice, s.lines, s.posted].includes(r.entity)),
  };
}

async function economy(flavour: NavFlavour) {
  const w = await startNavWorld({
    flavour,
    spinpanel: { seed: 8, customers: CUSTOMERS, subscriptionsPerCustomer: SUBSCRIPTIONS },
  });
  try {
    const s = setsOf(flavour);
    const ps = PAGE_SIZE[flavour];
    let from = w.nav.requests.length;
    const t0 = Date.now();
    const first = await w.sync();
    const firstMs = Date.now() - t0;
    const firstReqs = w.nav.requests.slice(from);
    const company = w.nav.company(NAV_COMPANY);
    const invoices = [...company.invoices.values()];
    const invoiced = invoices.length;
    const lines = invoices.reduce((n, i) => n + i.lines.length, 0);
    const itemsMade = firstReqs.filter((r) => r.method === 'POST' && r.entity === s.item).length;
    const customers = w.sp.data.customers.length;
    const nav = flavour === 'nav-odata';

    // The least any client could send: each set the plan needs read once, page by page at the server's page
    // size (customers, items, invoices; NAV: posted invoices too), then one write per record made.
    const readsMin =
      pages(customers, ps) + pages(itemsMade, ps) + pages(invoiced, ps) + (nav ? pages(invoiced, ps) : 0);
    const writesMin = itemsMade + (nav ? invoiced + lines : invoiced);
    // The connector looks records up by value, 25 values to an `or` filter: its own floor for those lookups.
    const lookupFloor = (values: number) =>
      Math.ceil(customers / CHUNK) + Math.ceil(values / CHUNK) + Math.ceil(customers / CHUNK) * (nav ? 2 : 1);
    const firstCalls = tally(firstReqs);

    from = w.nav.requests.length;
    const resync = await w.sync();
    const resyncReqs = w.nav.requests.slice(from);
    const resyncCalls = tally(resyncReqs);
    const resyncPurpose = readsByPurpose(flavour, resyncReqs);

    return {
      flavour,
      customers,
      invoiced,
      invoiceLines: lines,
      itemsCreated: itemsMade,
      firstSync: {
        status: first.status,
        seconds: round(firstMs / 1000),
        requests: firstCalls,
        readsByPurpose: readsByPurpose(flavour, firstReqs),
        perInvoicedCustomer: round(firstCalls.total / invoiced),
        invoiceWritesPerInvoice: round(
          firstReqs.filter((r) => isWrite(r) && (r.entity === s.invoice || r.entity === s.lines)).length /
            invoiced,
        ),
        minimum: {
          reads: readsMin,
          writes: writesMin,
          perInvoicedCustomer: round((readsMin + writesMin) / invoiced),
        },
        ratioToMinimum: round(firstCalls.total / (readsMin + writesMin)),
        writesAboveMinimum: firstCalls.writes - writesMin,
        readsAboveMinimum: firstCalls.reads - readsMin,
        lookupChunkFloor: lookupFloor(itemsMade),
      },
      noChangeResync: {
        status: resync.status,
        applied: resync.applied,
        requests: resyncCalls,
        readsByPurpose: resyncPurpose,
        perInvoicedCustomer: round(resyncCalls.total / invoiced, 3),
        pagingMinimum: readsMin,
        readsAboveMinimum: resyncCalls.reads - readsMin,
        lookupChunkFloor: lookupFloor(itemsMade),
        readsOnly: resyncCalls.writes === 0,
        // Flat: nothing read one invoice (or one customer) at a time.
        flat: resyncPurpose.invoiceLinesOneInvoiceAtATime === 0 && resyncPurpose.customerSuggestions === 0,
      },
    };
  } finally {
    await w.close();
  }
}

/** Stamps each logged request with the time its answer was sent (the sandbox sets `status` just before). */
function stampAnswers(w: NavWorld): Map<NavisionRequest, number> {
  const answered = new Map<NavisionRequest, number>();
  const log = w.nav.requests;
  log.push = (...items: NavisionRequest[]) => {
    for (const r of items) {
      let status = r.status;
      Object.defineProperty(r, 'status', {
        enumerable: true,
        configurable: true,
        get: () => status,
        set: (v: number) => {
          status = v;
          if (v !== 0 && !answered.has(r)) answered.set(r, Date.now());
        },
      });
    }
    return Array.prototype.push.apply(log, items);
  };
  return answered;
}

async function throughput(concurrency: number | undefined) {
  const w = await startNavWorld({
    flavour: THROUGHPUT_FLAVOUR,
    spinpanel: { seed: 11, customers: THROUGHPUT_CUSTOMERS, subscriptionsPerCustomer: SUBSCRIPTIONS },
    nav: { limits: { maxConcurrent: MAX_CONCURRENT } },
    ...(concurrency !== undefined ? { env: { SYNC_APPLY_CONCURRENCY: String(concurrency) } } : {}),
  });
  try {
    const applyConcurrency = loadConfig(w.env).SYNC_APPLY_CONCURRENCY;
    const first = await w.sync();
    if (first.status !== 'succeeded') throw new Error(`first sync ${first.status}`);
    // A month later every customer is due again; items and customers are known (the monthly run).
    w.advanceDays(31);
    w.nav.configure({ latencyMs: LATENCY_MS });
    const answered = stampAnswers(w);
    const from = w.nav.requests.length;
    const t0 = Date.now();
    const run = await w.sync();
    const runMs = Date.now() - t0;
    const reqs = w.nav.requests.slice(from);
    const posts = reqs.filter((r) => r.method === 'POST' && r.entity === 'salesInvoices');
    if (posts.length === 0) throw new Error(`no invoice was made (${run.status})`);
    const start = posts[0]!.at;
    const end = Math.max(...posts.map((r) => answered.get(r) ?? r.at));
    const span = (end - start) / 1000;
    const inWindow = reqs.filter((r) => r.at >= start && r.at <= end);
    const perInvoice = inWindow.filter((r) => !isToken(r)).length / posts.length;
    const cap = MAX_CONCURRENT / (LATENCY_MS / 1000) / perInvoice;
    const rate = posts.length / span;
    // Average requests in flight at the sandbox over the write phase (5 = every slot busy all the time).
    const busy = inWindow.reduce((ms, r) => ms + ((answered.get(r) ?? end) - r.at), 0);
    // The reads before it: how many, and how many were in flight on average (1 = one after another).
    const readPhase = reqs.filter((r) => r.at < start && !isToken(r));
    const readStart = readPhase[0]?.at ?? start;
    const readEnd = Math.max(start, ...readPhase.map((r) => answered.get(r) ?? start));
    const readBusy = readPhase.reduce((ms, r) => ms + ((answered.get(r) ?? start) - r.at), 0);
    // A slot idle at the sandbox: from an answer to the arrival of the request that takes its place (the i-th
    // arrival after the first five reuses the slot of the (i-5)-th answer).
    const arrivals = inWindow.map((r) => r.at).sort((a, b) => a - b);
    const answers = inWindow.map((r) => answered.get(r) ?? end).sort((a, b) => a - b);
    const idle = arrivals
      .slice(MAX_CONCURRENT)
      .map((at, i) => Math.max(0, at - answers[i]!))
      .sort((a, b) => a - b);
    const pct = (p: number) => idle[Math.min(idle.length - 1, Math.floor(p * idle.length))] ?? 0;
    // Most requests in flight at the sandbox at once (more than 5 would queue there).
    const events = inWindow.flatMap((r) => [
      [r.at, 1],
      [answered.get(r) ?? end, -1],
    ]);
    events.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]!);
    let inFlight = 0;
    let maxInFlight = 0;
    for (const [, d] of events) {
      inFlight += d!;
      maxInFlight = Math.max(maxInFlight, inFlight);
    }
    return {
      applyConcurrency,
      status: run.status,
      invoices: posts.length,
      runSeconds: round(runMs / 1000),
      requests: tally(reqs),
      requestsPerInvoicedCustomer: round(reqs.length / posts.length, 3),
      readPhase: {
        requests: readPhase.length,
        seconds: round((start - readStart) / 1000),
        meanInFlight: round(readBusy / Math.max(1, readEnd - readStart), 2),
      },
      writePhaseSeconds: round(span),
      requestsInWritePhase: inWindow.length,
      writePhaseRequestsPerInvoice: round(perInvoice, 3),
      invoicesPerSecond: round(rate, 1),
      // The whole run at the target, reads included: from its first request to the last invoice's answer.
      invoicesPerSecondWholeRun: round(posts.length / ((end - (reqs[0]?.at ?? start)) / 1000), 1),
      capInvoicesPerSecond: round(cap, 1),
      ratioToCap: round(rate / cap, 3),
      meanInFlight: round(busy / (end - start), 2),
      maxInFlight,
      slotIdleMs: {
        mean: round(idle.reduce((a, b) => a + b, 0) / Math.max(1, idle.length), 1),
        p50: pct(0.5),
        p90: pct(0.9),
        max: idle.at(-1) ?? 0,
      },
      answered429: reqs.filter((r) => r.status === 429).length,
      answered503: reqs.filter((r) => r.status === 503).length,
    };
  } finally {
    await w.close();
  }
}

const economies = [];
for (const f of FLAVOURS) economies.push(await economy(f));
const byDefault = await throughput(undefined);
const higher = await throughput(HIGH_CONCURRENCY);

process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'navision',
      economy: {
        account: { customers: CUSTOMERS, subscriptionsPerCustomer: SUBSCRIPTIONS },
        flavours: economies,
      },
      throughput: {
        flavour: THROUGHPUT_FLAVOUR,
        customers: THROUGHPUT_CUSTOMERS,
        latencyMs: LATENCY_MS,
        maxConcurrent: MAX_CONCURRENT,
        capInvoicesPerSecond: byDefault.capInvoicesPerSecond,
        defaultConcurrency: byDefault,
        higherConcurrency: higher,
        speedupOfHigher: round(higher.invoicesPerSecond / byDefault.invoicesPerSecond),
        any429: byDefault.answered429 + higher.answered429 > 0,
        targetMet: byDefault.ratioToCap >= 0.9,
      },
      definitions: {
        minimum:
          'reads: each set the plan needs read once, page by page at the server page size (NAV 1,000, BC 20,000): customers, items, sales invoices, on NAV posted sales invoices too (one page each here); writes: one POST per item made and per invoice one deep insert (BC) or the header then each line (NAV)',
        lookupChunkFloor:
          'the reads of the connector’s own lookup scheme (records looked up by value, 25 values per `or` filter): customers, items, invoices (NAV: and posted invoices) — what its reads cost without suggestions, per-invoice line reads and setup',
        readsByPurpose:
          'customersByValue / itemsByValue / invoicesByExternalNo: `or`-filtered lookups; customerSuggestions: one `startswith` query per distinct first word of every customer not yet in the mapping or ledger; invoiceLinesOneInvoiceAtATime: NAV reads each found invoice’s lines on their own; setup: BC companies (the id by name), NAV $metadata (field lengths) and Company (the name check before the first write)',
        flat: 'the resync sends no read per invoice or per customer (only lookups 25 values at a time)',
        capInvoicesPerSecond:
          '5 requests in flight ÷ latency ÷ requests per invoice in the write phase (5 / 0.1 s / 1 = 50 on BC, deep insert)',
        writePhase:
          'from the arrival of the first invoice POST at the sandbox to the answer of the last one; invoicesPerSecond = invoices ÷ that span',
        meanInFlight: 'time-weighted requests in flight at the sandbox over the phase (5 = every slot busy)',
        slotIdleMs:
          'from an answer to the arrival of the request that takes its slot: the client-side time per request on a held slot (gate admission and release in Redis, HTTP on localhost, the shared event loop)',
      },
    },
    null,
    2,
  )}\n`,
);
