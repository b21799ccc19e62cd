import { createHash } from 'node:crypto';
import type { Customer, Snapshot, Subscription, UsageLine } from '../domain/types.ts';
import { monthStart } from './dates.ts';
import { normalAmount } from './money.ts';
import type {
  DesiredCustomer,
  DesiredLine,
  DesiredOneOff,
  DesiredState,
  DesiredUsage,
  EffectiveDatePolicy,
  Period,
} from './types.ts';

export interface DesiredOptions {
  /** The local day of the run. */
  today: string;
  timeZone: string;
  policy?: EffectiveDatePolicy;
  /** Which SpinPanel number is billed: purchased seats or assigned licences. */
  quantityBasis?: 'quantity' | 'assignedLicenses';
  /** `monthly` bills annual and triennial subscriptions on monthly lines too. */
  termBilling?: 'subscription' | 'monthly';
}

/** A subscription is billed when it is active and either flagged for billing or its customer sends all. */
export function isBilled(customer: Customer, sub: Subscription): boolean {
  return sub.status === 'active' && (sub.billingEnabled || customer.billing.sendAllSubscriptions);
}

function seats(sub: Subscription, basis: DesiredOptions['quantityBasis']): number {
  return basis === 'assignedLicenses' ? (sub.assignedLicenses ?? sub.quantity) : sub.quantity;
}

/** Annual and triennial subscriptions are invoiced a year at a time (triennial: per year of the term). */
export function periodOf(
  sub: Pick<Subscription, 'billingFrequency'>,
  opts: Pick<DesiredOptions, 'termBilling'>,
): Period {
  if (opts.termBilling === 'monthly') return 'month';
  return sub.billingFrequency === 'monthly' ? 'month' : 'year';
}

export const lineKey = (productId: string, period: Period, monthlyPrice: string): string =>
  `${productId}|${period}|${normalAmount(monthlyPrice)}`;

const hash = (text: string, n: number): string => createHash('sha256').update(text).digest('hex').slice(0, n);

/**
 * The stable key of a perpetual purchase: `SPP-<12 hex of the customer>-<10 hex of the subscription>`. Each
 * charge appends the number of the first seat it covers, so seats added later get a key of their own and a
 * re-run finds what it posted (≤ 50 characters: it travels in Autotask's purchaseOrderNumber).
 */
export const oneOffKeyBase = (customerId: string, subscriptionId: string): string =>
  `SPP-${hash(customerId, 12)}-${hash(subscriptionId, 10)}`;

const groupBy = <T>(items: readonly T[], key: (t: T) => string): Map<string, T[]> => {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const list = out.get(key(item)) ?? [];
    list.push(item);
    out.set(key(item), list);
  }
  return out;
};

function usageOf(lines: readonly UsageLine[]): DesiredUsage[] {
  return [...groupBy(lines, (l) => l.period)]
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([period, ls]) => ({
      period,
      lines: [...ls]
        .sort((a, b) => a.id.localeCompare(b.id))
        .map((l) => ({
          id: l.id,
          meterCategory: l.meterCategory,
          productName: l.productName,
          unit: l.unit,
          quantity: l.quantity,
          cost: l.cost,
          price: l.price,
        })),
    }));
}

/**
 * Pure: what the target should hold. One line per customer, product, billing period and price: two
 * subscriptions of one product at different prices (or one annual, one monthly) are two lines, never one at
 * the first one's price. Perpetual licences are one-time purchases, never a recurring line. Customers with
 * billing off are left out (the MSP bills them by hand); an offboarded customer stays in with no lines, so
 * what the sync owns for it is retired. Everything is sorted, so the listing order of SpinPanel changes nothing.
 */
export function buildDesired(snapshot: Snapshot, opts: DesiredOptions): DesiredState {
  const subsByCustomer = groupBy(snapshot.subscriptions, (s) => s.customerId);
  const usageByCustomer = groupBy(snapshot.usage ?? [], (u) => u.customerId);
  // A month with a quarantined line would be posted short, and a posted month is never posted again.
  const badUsage = new Set(snapshot.quarantined.filter((q) => q.kind === 'usage').map((q) => q.customerId));
  const customers: DesiredCustomer[] = [];
  const byId = [...snapshot.customers].sort((a, b) => a.id.localeCompare(b.id));
  for (const customer of byId) {
    if (!customer.billing.enabled) continue;
    const offboarded = customer.status === 'offboarded';
    const subs = (offboarded ? [] : (subsByCustomer.get(customer.id) ?? []))
      .filter((s) => isBilled(customer, s))
      .sort((a, b) => a.id.localeCompare(b.id));
    const lines = new Map<string, DesiredLine>();
    const oneOffs: DesiredOneOff[] = [];
    for (const sub of subs) {
      if (sub.offerType === 'perpetual') {
        oneOffs.push({
          key: oneOffKeyBase(customer.id, sub.id),
          productId: sub.productId,
          productName: sub.productName,
          subscriptionId: sub.id,
          quantity: seats(sub, opts.quantityBasis),
          unitPrice: sub.unitPrice,
          unitCost: sub.unitCost,
          startDate: sub.startDate,
        });
        continue;
      }
      const period = periodOf(sub, opts);
      const key = lineKey(sub.productId, period, sub.unitPrice.amount);
      const line = lines.get(key);
      if (line) {
        line.quantity += seats(sub, opts.quantityBasis);
        line.subscriptionIds.push(sub.id);
        line.parts?.push({
          subscriptionId: sub.id,
          quantity: seats(sub, opts.quantityBasis),
          startDate: sub.startDate,
        });
      } else {
        lines.set(key, {
          key,
          productId: sub.productId,
          productName: sub.productName,
          period,
          quantity: seats(sub, opts.quantityBasis),
          unitPrice: sub.unitPrice,
          unitCost: sub.unitCost,
          subscriptionIds: [sub.id],
          parts: [
            { subscriptionId: sub.id, quantity: seats(sub, opts.quantityBasis), startDate: sub.startDate },
          ],
        });
      }
    }
    const usage =
      offboarded || badUsage.has(customer.id) ? [] : usageOf(usageByCustomer.get(customer.id) ?? []);
    customers.push({
      customerId: customer.id,
      name: customer.name,
      microsoftTenantId: customer.microsoftTenantId,
      currency: customer.currency,
      lines: [...lines.values()].sort((a, b) => a.key.localeCompare(b.key)),
      ...(oneOffs.length > 0 ? { oneOffs } : {}),
      pricingSource: customer.billing.pricingSource,
      ...(offboarded ? { offboarded: true } : {}),
      ...(usage.length > 0 ? { usage } : {}),
    });
  }
  const policy = opts.policy ?? 'change-date';
  return {
    accountId: snapshot.account.id,
    today: opts.today,
    timeZone: opts.timeZone,
    policy,
    effectiveDate: policy === 'next-period' ? monthStart(opts.today) : opts.today,
    customers,
  };
}

/** The options a link's (validated) settings give, read defensively: settings are stored as plain JSON. */
export function desiredOptions(
  settings: Record<string, unknown>,
  clock: { today: string; timeZone: string },
): DesiredOptions {
  return {
    today: clock.today,
    timeZone: clock.timeZone,
    policy: settings.effectiveDatePolicy === 'next-period' ? 'next-period' : 'change-date',
    quantityBasis: settings.quantityBasis === 'assignedLicenses' ? 'assignedLicenses' : 'quantity',
    termBilling: settings.termBilling === 'monthly' ? 'monthly' : 'subscription',
  };
}
