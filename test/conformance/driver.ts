import type { Subscription } from '../../src/domain/types.ts';
import type { SpinPanelSandbox } from '../../src/spinpanel/sandbox.ts';
import type { RunRecord } from '../../src/sync/runs.ts';

/**
 * What the billing core's conformance scenarios need from a target, whatever it is: start a world (SpinPanel
 * sandbox, the app, the target's sandbox on real sockets), sync it, and read back what the target bills.
 * Every read goes to the target sandbox's own records, never to the sync's.
 *
 * Two kinds of target: `quantities` (Autotask: a contract line's units change the day a change is seen) and
 * `invoices` (NAV / BC: one invoice per customer and month; a change shows on the next month's invoice).
 */
export interface TargetDriver {
  name: string;
  kind: 'quantities' | 'invoices';
  start(opts?: {
    settings?: Record<string, unknown>;
    now?: number;
    accountTimeZone?: string;
    /** Answer this share of the target's requests with 5xx and throttling (seeded). */
    faultRate?: number;
  }): Promise<TargetWorld>;
}

/** The line a subscription bills on, by name, as the spec says: annual and triennial ones on a yearly line. */
export const lineOf = (s: Pick<Subscription, 'productName' | 'billingFrequency'>): string =>
  s.billingFrequency === 'monthly' ? s.productName : `${s.productName} (yearly)`;

export interface TargetWorld {
  sp: SpinPanelSandbox;
  sync(dryRun?: boolean): Promise<RunRecord>;
  advanceDays(n: number): void;
  /** The world's day (UTC). */
  day(): string;
  /** Moves to where the target bills a change: the next day (quantities), the next month's invoice day (invoices). */
  nextBillingPoint(): void;
  /** What SpinPanel's subscriptions should bill now, by `customerId|line name`, as the spec says. */
  expected(): Map<string, number>;
  /** Seats the target bills on the customer's line now (units today; this month's invoice); null: none. */
  seats(customerId: string, lineName: string): number | null;
  /** The per-period unit price of that line; null: none. */
  price(customerId: string, lineName: string): number | null;
  /** Every line the target bills the customer for `lineName` now, with its quantity and price. */
  linesOf(customerId: string, lineName: string): { quantity: number; unitPrice: number }[];
  /** Every write request the target has received (creates, updates, adjustments, charges, invoices). */
  writes(): number;
  /** Catalogue items (services, items) the target holds. */
  itemCount(): number;
  /** One-off charges the target holds for a customer, all periods. */
  oneOffs(customerId: string): { key: string; quantity: number; unitPrice: number }[];
  /** The dates of the quantity changes the target holds for the customer's line (quantities targets). */
  changeDates(customerId: string, lineName: string): string[];
  /** A line the MSP bills `customerId` by hand, outside what the sync made. */
  handMadeLine(customerId: string, name: string, seats: number): Promise<{ seats(): number | null }>;
  /** Records the target holds twice (contracts, services, lines, same-day changes, charges, invoices). */
  duplicates(): string[];
  /** Stop injecting faults (to read the final state). */
  calm(): void;
  /** Faults the target's sandbox injected so far (a storm that injected none proves nothing). */
  faultsInjected(): number;
  close(): Promise<void>;
}
