import { createHash } from 'node:crypto';
import { usageCharges } from './charges.ts';
import { addMonths, daysInMonth, monthOf, monthStart, periodEnd } from './dates.ts';
import { samePrice } from './money.ts';
import type { Notice } from './plan.ts';
import { linePrice, periodPrice, usageInCurrency } from './pricing.ts';
import type { CommonSettings } from './settings.ts';
import type {
  DesiredCustomer,
  InvoiceLineRecord,
  InvoiceRecord,
  Ledger,
  LedgerEntry,
  SeenQuantities,
} from './types.ts';

/**
 * Invoicing targets (NAV / Business Central): one sales invoice per customer and billing period (the local
 * month), made on the first run from the link's invoice day. It bills the month's monthly lines in advance,
 * yearly lines in their anniversary month, perpetual seats not invoiced yet, the closed month's Azure usage,
 * and prorated lines for seat changes of the previous month after its invoice was made (by days, local).
 */

const hash = (text: string, n: number): string => createHash('sha256').update(text).digest('hex').slice(0, n);

/**
 * The invoice's External Document No.: `SP-<12 hex of the customer>-<YYYYMM>`, upper-case (ERPs store code
 * fields upper-cased) and 22 characters (the field takes 35). Looked up before anything is made.
 */
export const invoiceKey = (customerId: string, period: string): string =>
  `SP-${hash(customerId, 12)}-${period.replace('-', '')}`.toUpperCase();

export type InvoiceSettings = Pick<
  CommonSettings,
  'serviceMarkupPercent' | 'productMarkupPercent' | 'bundleUsage' | 'usageChargeName'
> & {
  /** Local day of the month from which the month's invoice is made (usage is final from the 5th). */
  invoiceDay: number;
};

export interface CustomerInvoicePlan {
  /** The month's invoice, when it is due (new) or was recorded (to be completed or checked). */
  invoice?: InvoiceRecord;
  /** True when `invoice` is new this run (not yet in the ledger). */
  fresh: boolean;
  notices: Notice[];
  /** What the ledger records after the run whatever its ops' outcomes (seat changes seen). */
  ledger: LedgerEntry[];
  /** What the ledger records once the invoice is made: the seats invoiced start afresh, perpetual seats invoiced. */
  onInvoiced: LedgerEntry[];
}

const monthlyQuantities = (c: DesiredCustomer): Record<string, number> =>
  Object.fromEntries(c.lines.filter((l) => l.period === 'month').map((l) => [l.key, l.quantity]));

const sameQuantities = (a: Record<string, number>, b: Record<string, number>): boolean => {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  return [...keys].every((k) => (a[k] ?? 0) === (b[k] ?? 0));
};

const round2 = (n: number): number => Math.round(n * 100) / 100;

/**
 * Pure: the customer's invoice of the current local month, and the seat changes to remember for the next one's
 * prorations. An invoice already recorded for the month is returned as recorded (never re-planned), so a
 * half-written one is completed with exactly its lines and a later change waits for the next invoice.
 */
export function planCustomerInvoice(
  customer: DesiredCustomer,
  today: string,
  ledger: Pick<Ledger, 'invoices' | 'seen' | 'oneOffs'>,
  settings: InvoiceSettings,
): CustomerInvoicePlan {
  const period = monthOf(today);
  const notices: Notice[] = [];
  const entries: LedgerEntry[] = [];
  const last = ledger.invoices[customer.customerId];
  const seen = ledger.seen[customer.customerId] ?? [];
  const now = monthlyQuantities(customer);

  // Remember the seats when they change, so the next invoice can prorate what changed after this one.
  const latest = seen.at(-1)?.quantities ?? (last ? quantitiesOf(last) : undefined);
  const changed = !latest || !sameQuantities(latest, now);
  const list: SeenQuantities[] = changed ? [...seen, { day: today, quantities: now }] : seen;

  if (last?.period === period) {
    if (changed) entries.push({ kind: 'seen', customerId: customer.customerId, list });
    return { invoice: last, fresh: false, notices, ledger: entries, onInvoiced: [] };
  }
  if (Number(today.slice(8, 10)) < settings.invoiceDay || customer.offboarded) {
    if (changed) entries.push({ kind: 'seen', customerId: customer.customerId, list });
    return { fresh: false, notices, ledger: entries, onInvoiced: [] };
  }

  const lines: InvoiceLineRecord[] = [];
  for (const line of customer.lines) {
    const price = periodPrice(line, customer.currency, settings);
    if (price.unitPrice === null) {
      notices.push({
        customerId: customer.customerId,
        kind: 'currency',
        message: `${line.productName} of ${customer.name} is priced in ${line.unitPrice.currency}, not the customer's ${customer.currency}: not invoiced`,
      });
      continue;
    }
    if (line.period === 'month') {
      if (line.quantity === 0) continue;
      lines.push({
        key: `R|${line.key}`,
        kind: 'recurring',
        productId: line.productId,
        productName: line.productName,
        period: 'month',
        lineKey: line.key,
        description: `${line.productName} ${period}`,
        quantity: line.quantity,
        unitPrice: price.unitPrice,
        unitCost: price.unitCost,
      });
      continue;
    }
    // Yearly: the seats whose subscription year starts this month, invoiced a year at a time in advance.
    const due = (line.parts ?? [])
      .filter((p) => p.startDate.slice(5, 7) === period.slice(5, 7) && monthOf(p.startDate) <= period)
      .reduce((n, p) => n + p.quantity, 0);
    if (due > 0) {
      lines.push({
        key: `Y|${line.key}`,
        kind: 'yearly',
        productId: line.productId,
        productName: line.productName,
        period: 'year',
        lineKey: line.key,
        description: `${line.productName} ${period}–${monthOf(addMonths(`${period}-01`, 11))}`,
        quantity: due,
        unitPrice: price.unitPrice,
        unitCost: price.unitCost,
      });
    }
  }

  for (const o of customer.oneOffs ?? []) {
    const invoiced = ledger.oneOffs[o.key] ?? 0;
    if (o.quantity < invoiced) {
      notices.push({
        customerId: customer.customerId,
        kind: 'one-off-reduced',
        message: `${o.productName} of ${customer.name}: ${o.quantity} perpetual seat(s) now, ${invoiced} already invoiced; nothing is refunded by the sync`,
      });
      continue;
    }
    if (o.quantity === invoiced) continue;
    const price = linePrice(o, customer.currency, settings);
    if (price.unitPrice === null) continue;
    lines.push({
      key: `P|${o.key}-${invoiced + 1}`,
      kind: 'one-off',
      productId: o.productId,
      productName: o.productName,
      period: 'month',
      description: `${o.productName} (perpetual)`,
      quantity: o.quantity - invoiced,
      unitPrice: price.unitPrice,
      unitCost: price.unitCost,
    });
  }

  // The closed month's Azure usage (final: the invoice day is the 5th or later).
  const closed = monthOf(addMonths(`${period}-01`, -1));
  const usage = customer.usage?.find((u) => u.period === closed);
  if (usage?.lines.every((l) => usageInCurrency(l, customer.currency))) {
    for (const c of usageCharges(customer, usage, settings, periodEnd(closed))) {
      lines.push({
        key: `U|${c.key}`,
        kind: 'usage',
        description: c.name,
        quantity: 1,
        unitPrice: c.unitPrice,
        unitCost: c.unitCost,
      });
    }
  } else if (usage) {
    notices.push({
      customerId: customer.customerId,
      kind: 'usage-currency',
      message: `Azure usage ${closed} of ${customer.name} is not in the customer's currency ${customer.currency}: not invoiced`,
    });
  }

  if (last && last.period === closed) lines.push(...prorations(customer, last, list, settings));

  const invoice: InvoiceRecord = {
    period,
    externalDocumentNo: invoiceKey(customer.customerId, period),
    day: today,
    lines,
  };
  // Not noting today's seats here: the invoice bills them, and once it is made the list starts afresh.
  const onInvoiced: LedgerEntry[] = [
    // The seats invoiced now are the next invoice's starting point: only changes after today count.
    { kind: 'seen', customerId: customer.customerId, list: [] },
    ...(customer.oneOffs ?? [])
      .filter((o) => lines.some((l) => l.key.startsWith(`P|${o.key}-`)))
      .map((o): LedgerEntry => ({ kind: 'one-off', key: o.key, quantity: o.quantity })),
  ];
  if (lines.length === 0) return { fresh: false, notices, ledger: entries, onInvoiced: [] };
  return { invoice, fresh: true, notices, ledger: entries, onInvoiced };
}

/** The monthly seats an invoice billed, by desired line key. */
export function quantitiesOf(invoice: InvoiceRecord): Record<string, number> {
  const out: Record<string, number> = {};
  for (const l of invoice.lines) if (l.kind === 'recurring' && l.lineKey) out[l.lineKey] = l.quantity;
  return out;
}

/**
 * Seat changes of the previous month after its invoice was made, each prorated by the days it held for: +2 seats
 * from the 21st of a 30-day month at 12.60 is 2 × 12.60 × 10/30. A line whose price changed is a new line (its key
 * carries the price): the old one is credited and the new one charged for the same days.
 */
function prorations(
  customer: DesiredCustomer,
  last: InvoiceRecord,
  seen: SeenQuantities[],
  settings: InvoiceSettings,
): InvoiceLineRecord[] {
  const end = periodEnd(last.period);
  const days = daysInMonth(monthStart(end));
  const priceOf = new Map<string, { price: number; cost: number | null; name: string; productId?: string }>();
  for (const l of last.lines) {
    if (l.kind === 'recurring' && l.lineKey) {
      priceOf.set(l.lineKey, {
        price: l.unitPrice,
        cost: l.unitCost,
        name: l.description.replace(/ \d{4}-\d{2}$/, ''),
        ...(l.productId ? { productId: l.productId } : {}),
      });
    }
  }
  for (const line of customer.lines) {
    if (line.period !== 'month' || priceOf.has(line.key)) continue;
    const p = periodPrice(line, customer.currency, settings);
    if (p.unitPrice !== null) {
      priceOf.set(line.key, {
        price: p.unitPrice,
        cost: p.unitCost,
        name: line.productName,
        productId: line.productId,
      });
    }
  }
  const out: InvoiceLineRecord[] = [];
  let current = quantitiesOf(last);
  for (const snap of [...seen].sort((a, b) => a.day.localeCompare(b.day))) {
    // A change noted on the invoice's own day came after it (the list starts afresh when an invoice is made).
    if (snap.day < last.day || snap.day > end) continue;
    const held = Number(end.slice(8, 10)) - Number(snap.day.slice(8, 10)) + 1;
    const keys = new Set([...Object.keys(current), ...Object.keys(snap.quantities)]);
    for (const key of [...keys].sort()) {
      const delta = (snap.quantities[key] ?? 0) - (current[key] ?? 0);
      const p = priceOf.get(key);
      if (delta === 0 || !p) continue;
      const unitPrice = round2((p.price * held) / days);
      if (samePrice(unitPrice, 0)) continue;
      out.push({
        key: `X|${key}|${snap.day}`,
        kind: 'proration',
        ...(p.productId ? { productId: p.productId } : {}),
        productName: p.name,
        period: 'month',
        lineKey: key,
        description: `${p.name} ${delta > 0 ? '+' : ''}${delta} from ${snap.day} (${held}/${days} days)`,
        quantity: delta,
        unitPrice,
        unitCost: p.cost === null ? null : round2((p.cost * held) / days),
      });
    }
    current = snap.quantities;
  }
  return out;
}
