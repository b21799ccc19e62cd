import type { Money } from '../domain/types.ts';

/** How often a line bills: monthly, or once a year (annual and triennial subscriptions by default). */
export type Period = 'month' | 'year';

/** Ids as targets give them: numbers for Autotask, strings (codes, GUIDs) for NAV / Business Central. */
export type TargetId = number | string;

/** One line a customer should be billed for: one product, one billing period, one price. */
export interface DesiredLine {
  /** `<productId>|<period>|<monthly price>`: the same subscriptions give the same key in any order. */
  key: string;
  productId: string;
  productName: string;
  period: Period;
  quantity: number;
  /** SpinPanel's price and cost per seat per month (its monthly equivalent, whatever the period). */
  unitPrice: Money;
  unitCost: Money;
  subscriptionIds: string[];
  /** The subscriptions behind the line: seats and start (a yearly line is invoiced in its anniversary month). */
  parts?: { subscriptionId: string; quantity: number; startDate: string }[];
}

/** A perpetual licence: a one-time purchase, charged once per seat (and again only for seats added later). */
export interface DesiredOneOff {
  /** Stable key of the subscription's purchase (`SPP-…`); each charge adds the first seat number it covers. */
  key: string;
  productId: string;
  productName: string;
  subscriptionId: string;
  /** Seats bought in all. */
  quantity: number;
  /** One-time price and cost per seat. */
  unitPrice: Money;
  unitCost: Money;
  startDate: string;
}

export interface DesiredCustomer {
  customerId: string;
  name: string;
  microsoftTenantId: string;
  currency: string;
  lines: DesiredLine[];
  oneOffs?: DesiredOneOff[];
  /** Who sets prices: `spinpanel` pushes SpinPanel's prices and costs, `target` leaves the target's alone. */
  pricingSource?: 'spinpanel' | 'target';
  /** Offboarded in SpinPanel: nothing is billed any more, so what the sync owns for it is retired. */
  offboarded?: boolean;
  /** Azure usage of closed months (final, billed in arrears), one entry per month. */
  usage?: DesiredUsage[];
}

/** One customer's Azure usage of one closed month. */
export interface DesiredUsage {
  /** YYYY-MM */
  period: string;
  lines: DesiredUsageLine[];
}

export interface DesiredUsageLine {
  id: string;
  meterCategory: string;
  productName: string;
  unit: string;
  /** Decimal string. */
  quantity: string;
  cost: Money;
  /** Null: the link's Azure mark-up is applied to `cost`. */
  price: Money | null;
}

export type EffectiveDatePolicy = 'change-date' | 'next-period';

/** What the target should hold for one account, built purely from a snapshot and the link's settings. */
export interface DesiredState {
  accountId: string;
  /** The local day of the run in `timeZone`. */
  today: string;
  timeZone: string;
  policy: EffectiveDatePolicy;
  /**
   * The day quantity changes seen now take effect when posted: today (`change-date`) or the 1st of the
   * current month (`next-period`, posted by the month's first run). Never after `today`.
   */
  effectiveDate: string;
  customers: DesiredCustomer[];
}

/** Admin-set mappings of one link. Target ids are numbers for Autotask, strings for NAV. */
export interface LinkMapping {
  customers: Record<string, { companyId?: number | string; contractId?: number | string }>;
  products: Record<string, { serviceId?: number | string }>;
}

/**
 * Per link, what the sync made or adjusted in the target: the only proof of ownership. Kept in Redis under the
 * link's keys (purged on unlink, included in export), written after each operation that went through.
 */
export interface Ledger {
  /** `<productId>|<period>` → the catalogue item (Autotask service) the sync made or used for it. */
  items: Record<string, TargetId>;
  /** customerId → the billing party (Autotask company) the customer was matched to. */
  parties: Record<string, TargetId>;
  /** customerId → the container the sync made for the customer (Autotask managed contract). */
  containers: Record<string, TargetId>;
  /** Target line id → whose it is. Only these lines are ever retired. */
  lines: Record<string, LedgerLine>;
  /** Target line id → the last day the sync posted a quantity change on it. */
  adjustments: Record<string, string>;
  /** Charge key → target id: one-off and usage charges the sync posted. */
  charges: Record<string, TargetId>;
  /** `<lineKey>@<customerId>` → the desired quantity and the month it was first seen (`next-period`). */
  observed: Record<string, { quantity: number; month: string }>;
  /** customerId → the last invoice the sync made for the customer (invoicing targets). */
  invoices: Record<string, InvoiceRecord>;
  /** customerId → the customer's monthly line quantities each time they changed since its last invoice. */
  seen: Record<string, SeenQuantities[]>;
  /** Perpetual purchase key → seats already invoiced (invoicing targets). */
  oneOffs: Record<string, number>;
}

/** One invoice as planned and sent: kept so a half-written one is completed with the same lines. */
export interface InvoiceRecord {
  period: string;
  externalDocumentNo: string;
  /** The local day it was planned. */
  day: string;
  lines: InvoiceLineRecord[];
  /** The target's id of the invoice once it was made (BC keeps it across posting). */
  id?: TargetId;
  posted?: boolean;
}

export interface InvoiceLineRecord {
  key: string;
  kind: 'recurring' | 'yearly' | 'one-off' | 'usage' | 'proration';
  productId?: string;
  productName?: string;
  period?: Period;
  /** The desired line it bills (recurring lines): its quantity is the invoiced seats. */
  lineKey?: string;
  description: string;
  quantity: number;
  unitPrice: number;
  unitCost: number | null;
}

export interface SeenQuantities {
  day: string;
  /** Desired line key → seats (monthly lines). */
  quantities: Record<string, number>;
}

export interface LedgerLine {
  customerId: string;
  productId: string;
  period: Period;
  container: TargetId;
}

export const emptyLedger = (): Ledger => ({
  items: {},
  parties: {},
  containers: {},
  lines: {},
  adjustments: {},
  charges: {},
  observed: {},
  invoices: {},
  seen: {},
  oneOffs: {},
});

/** A not-yet-created record: its id is the result of the operation with this key. */
export interface Ref {
  ref: string;
}
export type IdOrRef = TargetId | Ref;
export const isRef = (v: IdOrRef | undefined): v is Ref => typeof v === 'object' && v !== null;
export const refKeys = (...ids: (IdOrRef | undefined)[]): string[] => ids.filter(isRef).map((r) => r.ref);

/** What an operation records in the ledger once it went through (refs resolved from the run's results). */
export type LedgerEntry =
  | { kind: 'item'; productId: string; period: Period; id: IdOrRef }
  | { kind: 'party'; customerId: string; id: IdOrRef }
  | { kind: 'container'; customerId: string; id: IdOrRef }
  | { kind: 'line'; id: IdOrRef; line: Omit<LedgerLine, 'container'> & { container: IdOrRef } }
  | { kind: 'adjustment'; lineId: IdOrRef; day: string }
  /** A noted change that was certainly not sent (refused, throttled, deferred before sending). */
  | { kind: 'forget-adjustment'; lineId: IdOrRef }
  | { kind: 'charge'; key: string; id: IdOrRef }
  | { kind: 'observed'; key: string; quantity: number; month: string }
  | { kind: 'invoice'; customerId: string; record: Omit<InvoiceRecord, 'id'> & { id?: IdOrRef } }
  | { kind: 'seen'; customerId: string; list: SeenQuantities[] }
  | { kind: 'one-off'; key: string; quantity: number }
  | { kind: 'forget-observed'; key: string };
