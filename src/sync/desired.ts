import type {
  DesiredCustomer,
  DesiredLine,
  DesiredState,
  DesiredUsage,
  DesiredUsageLine,
} from '../../connectors/types.ts';
import type { Customer, Snapshot, Subscription, UsageLine } from '../domain/types.ts';

export type EffectiveDatePolicy = 'change-date' | 'next-period';

export interface DesiredOptions {
  effectiveDate: string;
  /** The run's date; defaults to `effectiveDate`. */
  today?: string;
  /** Which SpinPanel number is billed: purchased seats or assigned licences. */
  quantityBasis?: 'quantity' | 'assignedLicenses';
}

/**
 * When a quantity change seen on `today` takes effect: the same day (`change-date`, prorated by the target),
 * or the first day of the next month (`next-period`).
 */
export function effectiveDateFor(policy: EffectiveDatePolicy | undefined, today: string): string {
  if (policy !== 'next-period') return today;
  const [y, m] = today.split('-').map(Number) as [number, number];
  return new Date(Date.UTC(y, m, 1)).toISOString().slice(0, 10);
}

/** The options a link's (validated) settings give, read defensively: settings are stored as plain JSON. */
export function desiredOptions(settings: Record<string, unknown>, today: string): DesiredOptions {
  const policy = settings.effectiveDatePolicy === 'next-period' ? 'next-period' : 'change-date';
  return {
    today,
    effectiveDate: effectiveDateFor(policy, today),
    quantityBasis: settings.quantityBasis === 'assignedLicenses' ? 'assignedLicenses' : 'quantity',
  };
}

/** A subscription is billed when it is active and either flagged for billing or its customer sends all. */
export function isBilled(customer: Customer, sub: Subscription): boolean {
  return sub.status === 'active' && (sub.billingEnabled || customer.billing.sendAllSubscriptions);
}

function seats(sub: Subscription, basis: DesiredOptions['quantityBasis']): number {
  return basis === 'assignedLicenses' ? (sub.assignedLicenses ?? sub.quantity) : sub.quantity;
}

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
      lines: ls.map(
        (l): DesiredUsageLine => ({
          id: l.id,
          meterCategory: l.meterCategory,
          productName: l.productName,
          unit: l.unit,
          quantity: l.quantity,
          cost: l.cost,
          price: l.price,
        }),
      ),
    }));
}

/**
 * Pure: what the target should hold. One line per customer and product (the target bills per service, so two
 * subscriptions of one SKU add up). Customers with billing off are left out (the MSP bills them by hand);
 * an offboarded customer stays in with no lines, so what SpinPanel billed for it is retired.
 */
export function buildDesired(snapshot: Snapshot, opts: DesiredOptions): DesiredState {
  const subsByCustomer = groupBy(snapshot.subscriptions, (s) => s.customerId);
  const usageByCustomer = groupBy(snapshot.usage ?? [], (u) => u.customerId);
  // A month with a quarantined line would be posted short, and a posted month is never posted again.
  const badUsage = new Set(snapshot.quarantined.filter((q) => q.kind === 'usage').map((q) => q.customerId));
  const customers: DesiredCustomer[] = [];
  for (const customer of snapshot.customers) {
    if (!customer.billing.enabled) continue;
    const offboarded = customer.status === 'offboarded';
    const lines = new Map<string, DesiredLine>();
    for (const sub of offboarded ? [] : (subsByCustomer.get(customer.id) ?? [])) {
      if (!isBilled(customer, sub)) continue;
      const line = lines.get(sub.productId);
      if (line) {
        line.quantity += seats(sub, opts.quantityBasis);
        line.subscriptionIds.push(sub.id);
      } else {
        lines.set(sub.productId, {
          productId: sub.productId,
          productName: sub.productName,
          quantity: seats(sub, opts.quantityBasis),
          unitPrice: sub.unitPrice,
          unitCost: sub.unitCost,
          subscriptionIds: [sub.id],
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
      lines: [...lines.values()].sort((a, b) => a.productId.localeCompare(b.productId)),
      pricingSource: customer.billing.pricingSource,
      ...(offboarded ? { offboarded: true } : {}),
      ...(usage.length > 0 ? { usage } : {}),
    });
  }
  return {
    accountId: snapshot.account.id,
    effectiveDate: opts.effectiveDate,
    today: opts.today ?? opts.effectiveDate,
    customers,
  };
}
