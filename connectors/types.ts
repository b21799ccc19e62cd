import type { AxiosInstance } from 'axios';
import type { Plan, PlanOp } from '../src/billing/plan.ts';
import type { DesiredState, Ledger, LinkMapping } from '../src/billing/types.ts';

export type TargetKind = 'autotask' | 'navision';

// The billing core's types are the contract's: a connector reads into them and plans from them.
export type {
  Notice,
  Plan,
  PlanOp,
  ReconAction,
  ReconLine,
  Unmapped,
  UsageReconLine,
} from '../src/billing/plan.ts';
export type {
  DesiredCustomer,
  DesiredLine,
  DesiredOneOff,
  DesiredState,
  DesiredUsage,
  DesiredUsageLine,
  Ledger,
  LinkMapping,
} from '../src/billing/types.ts';

/** Results of earlier operations in this run, by op key (e.g. the id of a created contract). */
export type ApplyResults = Map<string, unknown>;

export interface VerifyResult {
  /** A human-readable name of what the credentials reach (database, company). */
  displayName: string;
  details?: Record<string, unknown>;
}

/**
 * How a failure is handled: `transient` retried with backoff, `throttled` waited out, `permanent` never
 * retried; `cancelled` (the run was stopped) and `budget` (the target's request budget is spent, the run
 * resumes later) end the call at once without counting as the target's failure.
 */
export type FailureKind = 'transient' | 'throttled' | 'permanent' | 'cancelled' | 'budget';
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
  readState(desired: DesiredState, mapping: LinkMapping, ledger: Ledger): Promise<unknown>;
  /**
   * Pure: the smallest list of operations that makes the target match `desired`; the ledger says what the
   * sync made or adjusted before (only that is ever retired).
   */
  plan(desired: DesiredState, state: unknown, mapping: LinkMapping, ledger: Ledger): Plan;
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
