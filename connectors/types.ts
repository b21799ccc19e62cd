import type { AxiosInstance } from 'axios';
import type { Money } from '../src/domain/types.ts';

export type TargetKind = 'autotask' | 'navision';

/** One product line a customer should be billed for, aggregated per product. */
export interface DesiredLine {
  productId: string;
  productName: string;
  quantity: number;
  unitPrice: Money;
  unitCost: Money;
  subscriptionIds: string[];
}

export interface DesiredCustomer {
  customerId: string;
  name: string;
  microsoftTenantId: string;
  currency: string;
  lines: DesiredLine[];
  /** Who sets prices: `spinpanel` pushes SpinPanel's prices and costs, `target` leaves the target's alone. */
  pricingSource?: 'spinpanel' | 'target';
  /** Offboarded in SpinPanel: nothing is billed any more, so what is on its contract is retired. */
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

/** What the target should look like for one account, built purely from a snapshot and link settings. */
export interface DesiredState {
  accountId: string;
  /** The date quantity changes take effect (YYYY-MM-DD). */
  effectiveDate: string;
  /** The run's own date (YYYY-MM-DD); `effectiveDate` may lie after it (e.g. from the next period). */
  today?: string;
  customers: DesiredCustomer[];
}

/** Admin-set and discovered mappings of one link. Target ids are numbers for Autotask, strings for NAV. */
export interface LinkMapping {
  customers: Record<string, { companyId?: number | string; contractId?: number | string }>;
  products: Record<string, { serviceId?: number | string }>;
}

/**
 * One step of a plan. `key` is stable across runs for the same intent, so a plan can be compared and an
 * operation's effect looked up. `needs` names keys of earlier operations whose results this one uses.
 */
export interface PlanOp<K extends string = string, D = unknown> {
  key: string;
  kind: K;
  customerId?: string;
  summary: string;
  needs?: string[];
  /**
   * Ops sharing a lane are applied one at a time, in plan order (e.g. every op on one contract service).
   * Unset: the op's customer is its lane, so a customer's ops keep their order. Ops in different lanes
   * may run at the same time once their `needs` are done.
   */
  lane?: string;
  data: D;
}

/** Per customer and product: SpinPanel seats against target units, before and after the plan. */
export interface ReconLine {
  customerId: string;
  customerName: string;
  productId: string;
  productName: string;
  spinpanelSeats: number;
  targetUnitsBefore: number | null;
  targetUnitsAfter: number;
  /** The target record the customer maps to, with its name as the target shows it. */
  targetCompany?: { id: number | string; name: string };
  /** What the plan does to this line. */
  action?: ReconAction;
  /** Unit price in the customer's currency before and after, when the plan sets prices. */
  unitPriceBefore?: number | null;
  unitPriceAfter?: number | null;
  /** The operations behind `action`; after a run, `outcome` says whether they all went through. */
  opKeys?: string[];
  outcome?: 'applied' | 'failed';
}

export type ReconAction = 'unchanged' | 'add' | 'increase' | 'decrease' | 'retire' | 'price';

/** Per customer and closed month: SpinPanel's usage total against what the target holds for it. */
export interface UsageReconLine {
  customerId: string;
  customerName: string;
  period: string;
  /** Total price of the month in the customer's currency, mark-up applied. */
  spinpanelTotal: number;
  /** What the target already holds for the month; null when nothing was posted yet. */
  postedTotal: number | null;
  /** `complete`: a run stopped half-way had posted part of the month; `skipped`: see the run's notices. */
  action: 'post' | 'complete' | 'posted' | 'changed-after-posting' | 'skipped';
  opKeys?: string[];
  outcome?: 'applied' | 'failed';
}

/** Something a run noticed that is neither an operation nor a failure (e.g. usage changed after posting). */
export interface Notice {
  customerId?: string;
  kind: string;
  message: string;
}

export interface Plan {
  ops: PlanOp[];
  /** Customers that could not be mapped to a target record: reported, not failed. */
  unmapped: { customerId: string; name: string; reason: string }[];
  recon: ReconLine[];
  /** Usage months per customer (targets that post usage). */
  usage?: UsageReconLine[];
  notices?: Notice[];
}

/** Results of earlier operations in this run, by op key (e.g. the id of a created contract). */
export type ApplyResults = Map<string, unknown>;

export interface VerifyResult {
  /** A human-readable name of what the credentials reach (database, company). */
  displayName: string;
  details?: Record<string, unknown>;
}

export type FailureKind = 'transient' | 'throttled' | 'permanent';
export interface Classified {
  kind: FailureKind;
  waitMs?: number;
  message: string;
}

/**
 * The contract both billing connectors implement. Not in the contract: scheduling, consent, retries of a
 * whole run — the sync engine and the gate own those. Connectors only ever talk through `http`, which the
 * gate hands them already bound to one link.
 */
export interface Connector {
  readonly kind: TargetKind;
  /** Check the credentials against the target; rejects with CredentialsRejectedError quoting the target. */
  verify(): Promise<VerifyResult>;
  /** Read the target state the plan needs, in as few calls as paging allows. Opaque to the engine. */
  readState(desired: DesiredState, mapping: LinkMapping): Promise<unknown>;
  /** Pure: the smallest list of operations that makes the target match `desired`. */
  plan(desired: DesiredState, state: unknown, mapping: LinkMapping): Plan;
  /** Carry out one operation; returns its result (e.g. a created id) for later ops. */
  apply(op: PlanOp, results: ApplyResults): Promise<unknown>;
  /** Decide once how a failure is handled. */
  classify(error: unknown): Classified;
  /** How many closed months of Azure usage this link posts (and so needs in the snapshot); unset: none. */
  readonly usageMonths?: number;
  /**
   * The target's shared request budget as this run saw it, asked once after the run (never throws).
   * `fresh`: look once more for the "at the end" numbers; false when the run may not or should not send
   * anything more (cancelled, deferred, failed). Unset, or undefined: the target has no such budget.
   */
  budget?(opts: { fresh: boolean }): Promise<TargetBudget | undefined>;
}

/** A target's request budget shared by every integration of its database (Autotask: requests per hour). */
export interface TargetBudget {
  /** Requests the database allows per timeframe, every integration together. */
  threshold: number;
  timeframeMinutes: number | null;
  /** Requests counted in the timeframe, by everyone, at the run's first look; null: it could not look. */
  usedAtStart: number | null;
  /**
   * The same at the end: read again after a run that ended normally, else the last reading plus this run's
   * requests since (`usedAtEndEstimated`); null when there was no reading at all.
   */
  usedAtEnd: number | null;
  usedAtEndEstimated?: true;
  /** Requests this run sent to the target's API, each of which counts against the budget. */
  requestsThisRun: number;
}

export interface ConnectorDeps<C = unknown, S = unknown> {
  http: AxiosInstance;
  credentials: C;
  settings: S;
  signal?: AbortSignal;
}

/**
 * What the composition root hands a connector so it respects a target's limits across worker processes.
 * The connector keeps its own policy (how many threads, what budget); this is only the shared bookkeeping.
 */
export interface LinkLimits {
  /** Waits until fewer than `max` requests of this link are in flight on `endpoint`; resolves with the release. */
  acquire(endpoint: string, max: number, signal?: AbortSignal): Promise<() => Promise<void>>;
  /** Counts one request against the link's rolling hour. */
  record(): Promise<void>;
  /** The link's own requests in the rolling hour, oldest minute first (for when room comes back). */
  usage(): Promise<{ count: number; byMinute: { at: number; count: number }[] }>;
}

/**
 * The target's request budget is spent for now: the run stops without failing and resumes at `retryAt`
 * (the worker re-queues the job delayed, without spending an attempt). Matched by `name` across processes.
 */
export class BudgetExhaustedError extends Error {
  override name = 'BudgetExhaustedError';
  constructor(
    message: string,
    readonly retryAt: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const isBudgetExhausted = (e: unknown): e is BudgetExhaustedError =>
  e instanceof Error &&
  e.name === 'BudgetExhaustedError' &&
  typeof (e as { retryAt?: unknown }).retryAt === 'number';

export class CredentialsRejectedError extends Error {
  override name = 'CredentialsRejectedError';
  constructor(
    readonly targetMessage: string,
    options?: { cause?: unknown },
  ) {
    super(`the target rejected the credentials: ${targetMessage}`, options);
  }
}

/** A target answered an operation with a permanent error; carries the target's own words. */
export class TargetError extends Error {
  override name = 'TargetError';
  constructor(
    message: string,
    readonly status: number | undefined,
    readonly targetMessages: string[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}
