import { createHash } from 'node:crypto';
import { clampDay, periodEnd } from './dates.ts';
import { microsToNumber, samePrice } from './money.ts';
import type { Notice, UsageReconLine } from './plan.ts';
import { linePrice, usageInCurrency, usageMicros } from './pricing.ts';
import type { CommonSettings } from './settings.ts';
import type { DesiredCustomer, DesiredOneOff, DesiredUsage, DesiredUsageLine, Ledger } from './types.ts';

/** A one-off or usage charge to post; `key` is looked up in the target before anything is created. */
export interface ChargePost {
  kind: 'usage' | 'one-off';
  key: string;
  name: string;
  description: string;
  /** The day the charge is dated (inside the party's span). */
  date: string;
  quantity: number;
  unitPrice: number;
  unitCost: number;
  productId?: string;
}

/** A charge the target holds, by its stable key (Autotask: purchaseOrderNumber). */
export interface ViewCharge {
  key: string;
  quantity: number;
  unitPrice: number | null;
}

/** Text cut to `max` UTF-16 units without splitting a surrogate pair or leaving trailing blanks. */
export function cutText(text: string, max: number): string {
  const trimmed = text.trim();
  if (trimmed.length <= max) return trimmed;
  let cut = trimmed.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut.trimEnd();
}

const hash = (text: string, n: number): string => createHash('sha256').update(text).digest('hex').slice(0, n);
const round2 = (n: number): number => Math.round(n * 100) / 100;
const total = (c: ViewCharge): number => (c.unitPrice ?? 0) * c.quantity;

/** The stable key of a customer's usage month: `SP-<12 hex of the customer id>-<YYYY-MM>`. */
export const usageKeyBase = (customerId: string, period: string): string =>
  `SP-${hash(customerId, 12)}-${period}`;

/**
 * Per-product charges add how many there are and which product: when the set of products changes after the
 * month was posted, no key matches and the month is reported instead of topped up.
 */
export const productChargeKey = (base: string, count: number, product: string): string =>
  `${base}-${count}-${hash(product, 8)}`;

const belongsTo = (key: string, base: string): boolean => key === base || key.startsWith(`${base}-`);

type UsageSettings = Pick<CommonSettings, 'bundleUsage' | 'usageChargeName' | 'productMarkupPercent'>;

function group(lines: readonly DesiredUsageLine[], bundled: boolean): Map<string, DesiredUsageLine[]> {
  const out = new Map<string, DesiredUsageLine[]>();
  for (const line of lines) {
    const k = bundled ? '' : `${line.meterCategory} – ${line.productName}`;
    out.set(k, [...(out.get(k) ?? []), line]);
  }
  return out;
}

/** Pure: the charges a month should hold, one bundled or one per product, mark-up applied where unpriced. */
export function usageCharges(
  customer: Pick<DesiredCustomer, 'customerId' | 'name'>,
  usage: DesiredUsage,
  settings: UsageSettings,
  date: string,
): ChargePost[] {
  const base = usageKeyBase(customer.customerId, usage.period);
  const groups = [...group(usage.lines, settings.bundleUsage)].sort(([a], [b]) => a.localeCompare(b));
  const out: ChargePost[] = [];
  for (const [product, lines] of groups) {
    let price = 0n;
    let cost = 0n;
    for (const line of lines) {
      const m = usageMicros(line, settings);
      price += m.price;
      cost += m.cost;
    }
    const key = settings.bundleUsage ? base : productChargeKey(base, groups.length, product);
    out.push({
      kind: 'usage',
      key,
      name: cutText(
        settings.bundleUsage ? `${settings.usageChargeName} ${usage.period}` : `${product} ${usage.period}`,
        100,
      ),
      description: cutText(
        `SpinPanel Azure usage ${usage.period} for ${customer.name}: ${lines.length} usage line(s). Key ${key}.`,
        2000,
      ),
      date,
      quantity: 1,
      unitPrice: microsToNumber(price),
      unitCost: microsToNumber(cost),
    });
  }
  return out.filter((c) => c.unitPrice !== 0 || c.unitCost !== 0);
}

export interface UsagePlan {
  posts: ChargePost[];
  recon: UsageReconLine;
  notice?: Notice;
}

/**
 * Pure: what to post for one customer's month, given the charges the target holds under its key. A month with
 * nothing posted is posted; one whose posted charges are a matching part of the planned ones (a run stopped
 * half-way) is completed; any other difference is reported and nothing is posted.
 */
export function planUsageMonth(
  customer: Pick<DesiredCustomer, 'customerId' | 'name' | 'currency'>,
  usage: DesiredUsage,
  existing: readonly ViewCharge[],
  span: { start: string; end: string },
  settings: UsageSettings,
): UsagePlan {
  const base = usageKeyBase(customer.customerId, usage.period);
  const posted = existing.filter((c) => belongsTo(c.key, base));
  const postedTotal = posted.length > 0 ? round2(posted.reduce((s, c) => s + total(c), 0)) : null;
  const line = (action: UsageReconLine['action'], spinpanelTotal: number): UsageReconLine => ({
    customerId: customer.customerId,
    customerName: customer.name,
    period: usage.period,
    spinpanelTotal,
    postedTotal,
    action,
  });
  if (!usage.lines.every((l) => usageInCurrency(l, customer.currency))) {
    return {
      posts: [],
      recon: line('skipped', 0),
      notice: {
        customerId: customer.customerId,
        kind: 'usage-currency',
        message: `Azure usage ${usage.period} of ${customer.name} is not in the customer's currency ${customer.currency}: not posted`,
      },
    };
  }
  const date = clampDay(periodEnd(usage.period), span.start, span.end);
  const planned = usageCharges(customer, usage, settings, date);
  const sum = round2(planned.reduce((s, c) => s + c.unitPrice, 0));
  const byKey = new Set(posted.map((c) => c.key));
  const partOfPlan = posted.every((c) => {
    const p = planned.find((x) => x.key === c.key);
    return p !== undefined && samePrice(total(c), p.unitPrice);
  });
  if (!partOfPlan) {
    return {
      posts: [],
      recon: line('changed-after-posting', sum),
      notice: {
        customerId: customer.customerId,
        kind: 'usage-changed',
        message: `Azure usage ${usage.period} of ${customer.name} changed after it was posted (posted ${postedTotal}, now ${sum} ${customer.currency}); not posted again — correct it in the target if needed`,
      },
    };
  }
  const posts = planned.filter((c) => !byKey.has(c.key));
  const action = posts.length === 0 ? 'posted' : posted.length === 0 ? 'post' : 'complete';
  return { posts, recon: line(action, sum) };
}

export interface OneOffPlan {
  posts: ChargePost[];
  notices: Notice[];
}

/**
 * Pure: perpetual licences are charged once per seat: the seats the target (or the ledger) shows charged under
 * the purchase's key are subtracted, and only seats added since are charged, under a key of their own. Fewer
 * seats than charged is reported, never refunded by itself.
 */
export function planOneOffs(
  customer: Pick<DesiredCustomer, 'customerId' | 'name' | 'currency'>,
  oneOffs: readonly DesiredOneOff[],
  existing: readonly ViewCharge[],
  ledger: Pick<Ledger, 'charges'>,
  span: { start: string; end: string },
  today: string,
  settings: Pick<CommonSettings, 'serviceMarkupPercent'>,
): OneOffPlan {
  const posts: ChargePost[] = [];
  const notices: Notice[] = [];
  for (const o of oneOffs) {
    const held = existing.filter((c) => belongsTo(c.key, o.key));
    // A charge the ledger remembers but the read did not show (not readable yet) still counts.
    const seen = new Set(held.map((c) => c.key));
    const unseen = Object.keys(ledger.charges).filter((k) => belongsTo(k, o.key) && !seen.has(k));
    if (unseen.length > 0) {
      // Posted by the sync but not (yet) in the target's answer: counting on it or not would be a guess.
      notices.push({
        customerId: customer.customerId,
        kind: 'pending',
        message: `${o.productName} of ${customer.name}: charge ${unseen[0]} was posted but the target does not show it yet; checked again next run`,
      });
      continue;
    }
    const charged = held.reduce((s, c) => s + c.quantity, 0);
    if (o.quantity < charged) {
      notices.push({
        customerId: customer.customerId,
        kind: 'one-off-reduced',
        message: `${o.productName} of ${customer.name}: ${o.quantity} perpetual seat(s) now, ${charged} already charged; nothing is refunded by the sync`,
      });
      continue;
    }
    if (o.quantity === charged) continue;
    const price = linePrice(o, customer.currency, settings);
    if (price.unitPrice === null) {
      notices.push({
        customerId: customer.customerId,
        kind: 'currency',
        message: `${o.productName} of ${customer.name} is priced in ${o.unitPrice.currency}, not the customer's ${customer.currency}: not charged`,
      });
      continue;
    }
    const key = `${o.key}-${charged + 1}`;
    const first = charged === 0;
    posts.push({
      kind: 'one-off',
      key,
      name: cutText(`${o.productName} (perpetual)`, 100),
      description: cutText(
        `SpinPanel perpetual licence ${o.productName} for ${customer.name}: seats ${charged + 1}–${o.quantity}. Key ${key}.`,
        2000,
      ),
      date: clampDay(first ? o.startDate : today, span.start, span.end),
      quantity: o.quantity - charged,
      // Charged at SpinPanel's price even where recurring prices come from the target: a one-time purchase
      // has no price in the target to keep.
      unitPrice: price.unitPrice,
      unitCost: price.unitCost ?? 0,
      productId: o.productId,
    });
  }
  return { posts, notices };
}
