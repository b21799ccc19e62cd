import { NAVISION_SANDBOX_DEFAULTS } from '../../connectors/navision/sandbox.ts';
import { NAV_COMPANY, type NavFlavour, startNavWorld } from '../helpers/nav-world.ts';
import { lineOf, type TargetDriver, type TargetWorld } from './driver.ts';

const D = NAVISION_SANDBOX_DEFAULTS;

function dupes<T>(rows: Iterable<T>, key: (r: T) => string, what: string): string[] {
  const n = new Map<string, number>();
  for (const r of rows) n.set(key(r), (n.get(key(r)) ?? 0) + 1);
  return [...n].filter(([, c]) => c > 1).map(([k, c]) => `${what} ${k} ×${c}`);
}

/**
 * The NAV / BC sandbox as a conformance target, one driver per flavour: a customer's lines are the item lines of
 * its sales invoice for the world's month (unposted or posted), read from the sandbox's tables.
 */
export const navisionDriver = (flavour: NavFlavour): TargetDriver => ({
  name: `navision (${flavour})`,
  kind: 'invoices',
  async start(opts = {}) {
    const w = await startNavWorld({
      flavour,
      settings: { ...opts.settings },
      ...(opts.now !== undefined ? { now: opts.now } : {}),
      ...(opts.faultRate
        ? {
            nav: { faults: { seed: 7, errorRate: opts.faultRate / 2, throttleRate: opts.faultRate / 2 } },
            env: { SYNC_ATTEMPTS: '3' },
          }
        : {}),
    });
    if (opts.accountTimeZone) w.sp.data.account.timeZone = opts.accountTimeZone;
    const co = () => w.nav.company(NAV_COMPANY)!;
    const month = () => w.day().slice(0, 7);
    const erpNo = (customerId: string) => {
      const name = w.sp.data.customers.find((c) => c.id === customerId)?.name;
      return [...co().customers.values()].find((c) => c.name === name)?.no;
    };
    const invoicesOf = (customerId: string) => {
      const no = erpNo(customerId);
      return [...co().invoices.values(), ...co().posted.values()].filter((i) => i.customerNo === no);
    };
    const thisMonth = (customerId: string) =>
      invoicesOf(customerId).filter((i) => i.externalDocumentNo.endsWith(month().replace('-', '')));
    /** Monthly lines read "<product> <YYYY-MM>", yearly ones "<product> <YYYY-MM>–<YYYY-MM>". */
    const matches = (description: string, lineName: string) => {
      const yearly = lineName.endsWith(' (yearly)');
      const base = yearly ? lineName.slice(0, -' (yearly)'.length) : lineName;
      return yearly ? description.startsWith(`${base} ${month()}–`) : description === `${base} ${month()}`;
    };
    const lines = (customerId: string, lineName: string) =>
      thisMonth(customerId).flatMap((i) =>
        i.lines.filter((l) => l.type === 'Item' && matches(l.description, lineName)),
      );
    const api = async (method: string, path: string, body?: unknown) => {
      const company = `Company('${encodeURIComponent(NAV_COMPANY.replaceAll("'", "''"))}')`;
      const res = await fetch(`${w.nav.navBaseUrl}/${company}/${path}`, {
        method,
        headers: {
          'Content-Type': 'application/json',
          Authorization: `Basic ${Buffer.from(`${D.navUser.userName}:${D.navUser.webServiceAccessKey}`).toString('base64')}`,
        },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.json()) as Record<string, unknown>;
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const tw: TargetWorld = {
      sp: w.sp,
      sync: (dryRun) => w.sync(dryRun),
      advanceDays: (n) => w.advanceDays(n),
      day: () => w.day(),
      nextBillingPoint() {
        const [y, m] = w.day().split('-').map(Number) as [number, number];
        w.advanceDays(Math.round((Date.UTC(y, m, 5) - Date.parse(w.day())) / 86_400_000));
      },
      expected() {
        const out = new Map<string, number>();
        for (const s of w.sp.data.subscriptions) {
          if (s.status !== 'active' || s.offerType === 'perpetual') continue;
          // A yearly line is invoiced in its subscription's anniversary month.
          if (s.billingFrequency !== 'monthly' && s.startDate.slice(5, 7) !== month().slice(5, 7)) continue;
          const k = `${s.customerId}|${lineOf(s)}`;
          out.set(k, (out.get(k) ?? 0) + s.quantity);
        }
        return out;
      },
      seats(customerId, lineName) {
        const found = lines(customerId, lineName);
        return found.length === 0 ? null : found.reduce((n, l) => n + l.quantity, 0);
      },
      price: (customerId, lineName) => lines(customerId, lineName)[0]?.unitPrice ?? null,
      linesOf: (customerId, lineName) =>
        lines(customerId, lineName).map((l) => ({ quantity: l.quantity, unitPrice: l.unitPrice })),
      writes: () =>
        w.nav.requests.filter(
          (r) => r.method !== 'GET' && r.flavour !== 'token' && r.status >= 200 && r.status < 300,
        ).length,
      itemCount: () => co().items.size,
      oneOffs: (customerId) =>
        invoicesOf(customerId).flatMap((i) =>
          i.lines
            .filter((l) => l.description.endsWith(' (perpetual)'))
            .map((l) => ({ key: `${i.no}/${l.lineNo}`, quantity: l.quantity, unitPrice: l.unitPrice })),
        ),
      changeDates: () => [],
      async handMadeLine(customerId, name, seats) {
        const item = await api('POST', 'Item', { Description: name, Type: 'Service' });
        const invoice = await api('POST', 'SalesInvoice', { Sell_to_Customer_No: erpNo(customerId) });
        const no = String(invoice.No);
        await api(
          'POST',
          `SalesInvoice(Document_Type='Invoice',No='${encodeURIComponent(no)}')/SalesInvoiceSalesLines`,
          {
            Type: 'Item',
            No: item.No,
            Quantity: seats,
            Unit_Price: 20,
          },
        );
        return {
          seats: () =>
            co()
              .invoices.get(no)
              ?.lines.find((l) => l.no === item.No)?.quantity ?? null,
        };
      },
      duplicates: () => [
        ...dupes(
          [...co().invoices.values(), ...co().posted.values()].filter((i) =>
            i.externalDocumentNo.startsWith('SP-'),
          ),
          (i) => i.externalDocumentNo,
          'invoice',
        ),
        ...dupes(co().items.values(), (i) => i.description.toLowerCase(), 'item'),
        ...dupes(co().customers.values(), (c) => c.name.toLowerCase(), 'customer'),
      ],
      calm: () => w.nav.configure({ faults: {} }),
      faultsInjected: () => Object.values(w.nav.faults.injected).reduce((a: number, b) => a + Number(b), 0),
      close: () => w.close(),
    };
    return tw;
  },
});
