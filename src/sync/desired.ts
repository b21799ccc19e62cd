import type { DesiredCustomer, DesiredLine, DesiredState } from '../../connectors/types.ts';
import type { Customer, Snapshot, Subscription } from '../domain/types.ts';

export interface DesiredOptions {
  effectiveDate: string;
  /** Which SpinPanel number is billed: purchased seats or assigned licences. */
  quantityBasis?: 'quantity' | 'assignedLicenses';
}

/** A subscription is billed when it is active and either flagged for billing or its customer sends all. */
export function isBilled(customer: Customer, sub: Subscription): boolean {
  return sub.status === 'active' && (sub.billingEnabled || customer.billing.sendAllSubscriptions);
}

function seats(sub: Subscription, basis: DesiredOptions['quantityBasis']): number {
  return basis === 'assignedLicenses' ? (sub.assignedLicenses ?? sub.quantity) : sub.quantity;
}

/**
 * Pure: what the target should hold. One line per customer and product (the target bills per service, so two
 * subscriptions of one SKU add up); customers that are offboarded or have billing off are left out.
 */
export function buildDesired(snapshot: Snapshot, opts: DesiredOptions): DesiredState {
  const subsByCustomer = new Map<string, Subscription[]>();
  for (const sub of snapshot.subscriptions) {
    const list = subsByCustomer.get(sub.customerId) ?? [];
    list.push(sub);
    subsByCustomer.set(sub.customerId, list);
  }
  const customers: DesiredCustomer[] = [];
  for (const customer of snapshot.customers) {
    if (customer.status === 'offboarded' || !customer.billing.enabled) continue;
    const lines = new Map<string, DesiredLine>();
    for (const sub of subsByCustomer.get(customer.id) ?? []) {
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
    customers.push({
      customerId: customer.id,
      name: customer.name,
      microsoftTenantId: customer.microsoftTenantId,
      currency: customer.currency,
      lines: [...lines.values()].sort((a, b) => a.productId.localeCompare(b.productId)),
    });
  }
  return { accountId: snapshot.account.id, effectiveDate: opts.effectiveDate, customers };
}
