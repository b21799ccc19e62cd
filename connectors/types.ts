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
}

/** What the target should look like for one account, built purely from a snapshot and link settings. */
export interface DesiredState {
  accountId: string;
  /** The date quantity changes take effect (YYYY-MM-DD). */
  effectiveDate: string;
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
}

export interface Plan {
  ops: PlanOp[];
  /** Customers that could not be mapped to a target record: reported, not failed. */
  unmapped: { customerId: string; name: string; reason: string }[];
  recon: ReconLine[];
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
}

export interface ConnectorDeps<C = unknown, S = unknown> {
  http: AxiosInstance;
  credentials: C;
  settings: S;
  signal?: AbortSignal;
}

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
