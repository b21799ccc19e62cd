import type { SpinPanelSandbox } from '../../src/spinpanel/sandbox.ts';
import type { RunRecord } from '../../src/sync/runs.ts';

/**
 * What the billing core's conformance scenarios need from a target, whatever it is: start a world (SpinPanel
 * sandbox, the app, the target's sandbox on real sockets), sync it, and read back what the target bills.
 * Every read goes to the target sandbox's own records, never to the sync's.
 */
export interface TargetDriver {
  name: string;
  start(opts?: {
    settings?: Record<string, unknown>;
    now?: number;
    accountTimeZone?: string;
    /** Answer this share of the target's requests with 5xx and throttling (seeded). */
    faultRate?: number;
  }): Promise<TargetWorld>;
}

export interface TargetWorld {
  sp: SpinPanelSandbox;
  sync(dryRun?: boolean): Promise<RunRecord>;
  advanceDays(n: number): void;
  /** Seats the target bills on the customer's line for `lineName` today (the line's item name); null: none. */
  seats(customerId: string, lineName: string): number | null;
  /** The per-period unit price of that line; null: none. */
  price(customerId: string, lineName: string): number | null;
  /** Every write request the target has received (creates, updates, adjustments, charges). */
  writes(): number;
  /** One-off charges the target holds for a customer: quantity and unit price by key. */
  oneOffs(customerId: string): { key: string; quantity: number; unitPrice: number }[];
  /** The dates of the quantity changes the target holds for the customer's line, in order. */
  changeDates(customerId: string, lineName: string): string[];
  /** A line the MSP sells `customerId` by hand, on a billing party the customer is mapped to. */
  handMadeLine(customerId: string, name: string, seats: number): Promise<{ seats(): number | null }>;
  /** Records the target holds twice (contracts, services, lines, same-day changes, charges). */
  duplicates(): string[];
  /** Stop injecting faults (to read the final state). */
  calm(): void;
  close(): Promise<void>;
}
