import type { Suggestion } from './matching.ts';
import type { LedgerEntry, Period, TargetId } from './types.ts';

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
  /** What the ledger records once the op went through (refs resolved from the run's results). */
  ledger?: LedgerEntry[];
  /** What the ledger records before the op is sent (what it is about to make, for a crash half-way). */
  intent?: LedgerEntry[];
  data: D;
}

export type ReconAction =
  | 'unchanged'
  | 'add'
  | 'increase'
  | 'decrease'
  | 'retire'
  | 'price'
  /** A quantity change that waits (a second change the same day, or a change of the month under next-period). */
  | 'pending'
  /** Not pushed at all: the target cannot hold it as SpinPanel bills it, or the line is not the sync's. */
  | 'held';

/** Per customer and line: SpinPanel seats against target units, before and after the plan. */
export interface ReconLine {
  customerId: string;
  customerName: string;
  productId: string;
  productName: string;
  /** The billing period of the line and the line's key (`product|period|price`). */
  period?: Period;
  lineKey?: string;
  spinpanelSeats: number;
  targetUnitsBefore: number | null;
  targetUnitsAfter: number;
  /** The target record the customer maps to, with its name as the target shows it. */
  targetCompany?: { id: TargetId; name: string };
  /** What the plan does to this line. */
  action?: ReconAction;
  /** Unit price per period in the customer's currency before and after, when the plan sets prices. */
  unitPriceBefore?: number | null;
  unitPriceAfter?: number | null;
  /** The day a quantity change is dated. */
  effectiveDate?: string;
  /** Why a change waits or is held. */
  reason?: string;
  /** The operations behind `action`; after a run, `outcome` says whether they all went through. */
  opKeys?: string[];
  outcome?: 'applied' | 'failed' | 'pending';
}

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

export interface Unmapped {
  customerId: string;
  name: string;
  reason: string;
  /** The closest target records by name, for an admin to pick from: never applied by the sync. */
  suggestions?: Suggestion[];
}

export interface Plan {
  ops: PlanOp[];
  /** Customers that could not be mapped to a target record: reported, not failed. */
  unmapped: Unmapped[];
  recon: ReconLine[];
  /** Usage months per customer (targets that post usage). */
  usage?: UsageReconLine[];
  notices?: Notice[];
  /** What the ledger records after a run that applied the plan, whatever the ops' outcomes (matches, observations). */
  ledger?: LedgerEntry[];
}

export function dedupeNotices(notices: Notice[]): Notice[] {
  const seen = new Set<string>();
  return notices.filter((n) => {
    const k = `${n.customerId ?? ''}|${n.kind}|${n.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
