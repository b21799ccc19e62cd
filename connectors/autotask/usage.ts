import { createHash } from 'node:crypto';
import type { DesiredCustomer, DesiredUsage, DesiredUsageLine, Notice, UsageReconLine } from '../types.ts';
import { cutName } from './mappers.ts';
import type { IdOrRef, PostChargeData } from './ops.ts';
import { microsToNumber, samePrice, usageInCurrency, usageMicros } from './pricing.ts';
import type { AutotaskSettings, ContractCharge } from './schemas.ts';

const hash = (text: string, n: number): string => createHash('sha256').update(text).digest('hex').slice(0, n);

/**
 * The stable key of a customer's usage month: `SP-<12 hex of the customer id>-<YYYY-MM>`. It goes in
 * purchaseOrderNumber (50 characters at most, hence the hash) and is looked up before anything is posted.
 */
export const usageKeyBase = (customerId: string, period: string): string =>
  `SP-${hash(customerId, 12)}-${period}`;

/**
 * Per-product charges add how many there are and which product: when the set of products changes after the
 * month was posted, no key matches and the month is reported instead of topped up.
 */
export const productChargeKey = (base: string, count: number, product: string): string =>
  `${base}-${count}-${hash(product, 8)}`;

const belongsTo = (key: string | null | undefined, base: string): boolean =>
  typeof key === 'string' && (key === base || key.startsWith(`${base}-`));

export interface PlannedCharge {
  key: string;
  name: string;
  description: string;
  price: number;
  cost: number;
}

const periodEnd = (period: string): string => {
  const [y, m] = period.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 0)).toISOString().slice(0, 10);
};

function group(lines: readonly DesiredUsageLine[], bundled: boolean): Map<string, DesiredUsageLine[]> {
  const out = new Map<string, DesiredUsageLine[]>();
  for (const line of lines) {
    const k = bundled ? '' : `${line.meterCategory} – ${line.productName}`;
    out.set(k, [...(out.get(k) ?? []), line]);
  }
  return out;
}

/** Pure: the charges a month should hold, one bundled or one per product, mark-up applied where unpriced. */
export function chargesFor(
  customer: Pick<DesiredCustomer, 'customerId' | 'name'>,
  usage: DesiredUsage,
  settings: Pick<AutotaskSettings, 'bundleUsage' | 'usageChargeName' | 'productMarkupPercent'>,
): PlannedCharge[] {
  const base = usageKeyBase(customer.customerId, usage.period);
  const groups = [...group(usage.lines, settings.bundleUsage)].sort(([a], [b]) => a.localeCompare(b));
  const out: PlannedCharge[] = [];
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
      key,
      name: cutName(
        settings.bundleUsage ? `${settings.usageChargeName} ${usage.period}` : `${product} ${usage.period}`,
      ),
      description: cutName(
        `SpinPanel Azure usage ${usage.period} for ${customer.name}: ${lines.length} usage line(s). Key ${key}.`,
        2000,
      ),
      price: microsToNumber(price),
      cost: microsToNumber(cost),
    });
  }
  return out.filter((c) => c.price !== 0 || c.cost !== 0);
}

const chargeTotal = (c: ContractCharge): number => (c.unitPrice ?? 0) * (c.unitQuantity ?? 1);

export interface UsagePlan {
  posts: PostChargeData[];
  recon: UsageReconLine;
  notice?: Notice;
}

/**
 * Pure: what to post for one customer's month, given the charges Autotask already holds under its key. A month
 * with nothing posted is posted; one whose posted charges are a matching part of the planned ones (a run
 * stopped half-way) is completed; any other difference is reported and nothing is posted.
 */
export function planUsageMonth(
  customer: Pick<DesiredCustomer, 'customerId' | 'name' | 'currency'>,
  usage: DesiredUsage,
  existing: readonly ContractCharge[],
  target: { contractId: IdOrRef; start: string; end: string },
  settings: Pick<
    AutotaskSettings,
    'bundleUsage' | 'usageChargeName' | 'productMarkupPercent' | 'azureBillingCodeId'
  >,
): UsagePlan | undefined {
  const billingCodeID = settings.azureBillingCodeId;
  if (billingCodeID === undefined) return undefined;
  const base = usageKeyBase(customer.customerId, usage.period);
  const posted = existing.filter((c) => belongsTo(c.purchaseOrderNumber, base));
  const postedTotal = posted.length > 0 ? round2(posted.reduce((s, c) => s + chargeTotal(c), 0)) : null;
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
  const planned = chargesFor(customer, usage, settings);
  const total = round2(planned.reduce((s, c) => s + c.price, 0));
  const byKey = new Map(posted.map((c) => [c.purchaseOrderNumber as string, c]));
  const partOfPlan = posted.every((c) => {
    const p = planned.find((x) => x.key === c.purchaseOrderNumber);
    return p !== undefined && samePrice(chargeTotal(c), p.price);
  });
  if (!partOfPlan) {
    return {
      posts: [],
      recon: line('changed-after-posting', total),
      notice: {
        customerId: customer.customerId,
        kind: 'usage-changed',
        message: `Azure usage ${usage.period} of ${customer.name} changed after it was posted (posted ${postedTotal}, now ${total} ${customer.currency}); not posted again — correct it in Autotask if needed`,
      },
    };
  }
  const datePurchased = clampDay(periodEnd(usage.period), target.start, target.end);
  const posts = planned
    .filter((c) => !byKey.has(c.key))
    .map(
      (c): PostChargeData => ({
        contractId: target.contractId,
        key: c.key,
        body: {
          name: c.name,
          description: c.description,
          datePurchased,
          unitQuantity: 1,
          unitPrice: c.price,
          unitCost: c.cost,
          billingCodeID,
          isBillableToCompany: true,
          purchaseOrderNumber: c.key,
        },
      }),
    );
  const action = posts.length === 0 ? 'posted' : posted.length === 0 ? 'post' : 'complete';
  return { posts, recon: line(action, total) };
}

const round2 = (n: number): number => Math.round(n * 100) / 100;
const clampDay = (day: string, min: string, max: string): string => (day < min ? min : day > max ? max : day);

/** The first day of the earliest month: charges are read from there on. */
export const firstDayOf = (periods: readonly string[]): string | undefined => {
  const first = [...periods].sort()[0];
  return first ? `${first}-01` : undefined;
};
