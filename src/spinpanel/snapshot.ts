import type { z } from 'zod';
import {
  Account,
  Customer,
  type Quarantined,
  type Snapshot,
  Subscription,
  UsageLine,
} from '../domain/types.ts';
import type { SpinPanelClient } from './client.ts';
import { SpinPanelError } from './errors.ts';

/** The part of the client a pull uses; lets tests hand in a fake. */
export type SnapshotSource = Pick<SpinPanelClient, 'getAccount' | 'listCustomers' | 'listSubscriptions'>;
export type UsageSource = Pick<SpinPanelClient, 'listUsage'>;

/** SpinPanel's usage of a month is final from this day of the following month; earlier reads may change. */
export const USAGE_FINAL_DAY = 5;

export interface PullOptions {
  /**
   * The account the API key must belong to: a key whose `/account` names another fails the pull (permanent)
   * before anything else is read. Unset: not checked (a pull that is not a link's).
   */
  accountId?: string;
  /** Customers the consent leaves out: never read beyond their id. */
  excludedCustomerIds?: Set<string>;
  /** Only subscriptions changed at or after this RFC 3339 timestamp. */
  updatedSince?: string;
  /** Customers whose subscriptions are fetched at once. @defaultValue 4 */
  concurrency?: number;
  /** Injected for tests; stamps `pulledAt`. */
  now?: () => Date;
}

const schemas = { customer: Customer, subscription: Subscription, usage: UsageLine } as const;
type Kind = keyof typeof schemas;
type RecordOf<K extends Kind> = z.infer<(typeof schemas)[K]>;

export interface Validated<T> {
  valid: T[];
  quarantined: Quarantined[];
}

/** At most this many issues per record: enough to fix it, short enough to read on a run report. */
const MAX_ISSUES = 5;

function readId(raw: unknown, key: 'id' | 'customerId'): string | null {
  if (typeof raw !== 'object' || raw === null) return null;
  const v = (raw as Record<string, unknown>)[key];
  return typeof v === 'string' && v.length > 0 ? v : null;
}

/** `quantity: expected number, received string` — field names and types only, never values (personal data). */
export function describeIssues(issues: readonly z.core.$ZodIssue[]): string {
  const parts = issues.slice(0, MAX_ISSUES).map((issue) => {
    const field = issue.path.length > 0 ? issue.path.map(String).join('.') : '(record)';
    return `${field}: ${issue.message.replace(/^Invalid (input|option): /, '')}`;
  });
  if (issues.length > MAX_ISSUES) parts.push(`and ${issues.length - MAX_ISSUES} more`);
  return parts.join('; ');
}

/** Pure: splits raw records into valid ones and quarantine entries. Never throws for a bad record. */
export function validateRecords<K extends Kind>(
  kind: K,
  items: readonly unknown[],
  context: { customerId?: string } = {},
): Validated<RecordOf<K>> {
  const valid: RecordOf<K>[] = [];
  const quarantined: Quarantined[] = [];
  for (const raw of items) {
    const parsed = schemas[kind].safeParse(raw);
    if (parsed.success) {
      valid.push(parsed.data as RecordOf<K>);
      continue;
    }
    const customerId = context.customerId ?? (kind === 'customer' ? undefined : readId(raw, 'customerId'));
    quarantined.push({
      kind,
      id: readId(raw, 'id'),
      ...(customerId ? { customerId } : {}),
      reason: describeIssues(parsed.error.issues),
    });
  }
  return { valid, quarantined };
}

/** Subscriptions listed under a customer must say they belong to it; a mismatch is quarantined, not trusted. */
function checkOwnership(customerId: string, subs: Subscription[]): Validated<Subscription> {
  const out: Validated<Subscription> = { valid: [], quarantined: [] };
  for (const sub of subs) {
    if (sub.customerId === customerId) out.valid.push(sub);
    else {
      out.quarantined.push({
        kind: 'subscription',
        id: sub.id,
        customerId,
        reason: `customerId: listed under customer ${customerId} but the record names ${sub.customerId}`,
      });
    }
  }
  return out;
}

/**
 * Runs `task` over `items` with at most `limit` in flight. On the first failure no new task starts, and the
 * promise rejects only after the running ones have settled, so nothing is still talking to SpinPanel after.
 */
async function mapLimit<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T) => Promise<R>,
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  let failure: { error: unknown } | undefined;
  const worker = async () => {
    while (failure === undefined && next < items.length) {
      const i = next++;
      try {
        results[i] = await task(items[i] as T);
      } catch (error) {
        failure ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.error;
  return results;
}

/**
 * The account an API key belongs to, from `GET /account`, validated. With `expectedId`, a key of any other
 * account is refused here, before anything else is read with it (SpinPanelError, permanent): one account's key
 * reads one account's data.
 */
export async function readAccount(
  client: Pick<SpinPanelClient, 'getAccount'>,
  expectedId?: string,
): Promise<Account> {
  const account = Account.safeParse(await client.getAccount());
  if (!account.success) {
    // Without the account there is nothing to attribute records to: fail the pull, naming the fields.
    throw new SpinPanelError({
      method: 'GET',
      path: '/account',
      title: 'invalid account record',
      detail: describeIssues(account.error.issues),
      transient: false,
    });
  }
  if (expectedId !== undefined && account.data.id !== expectedId) throw accountMismatch(expectedId);
  return account.data;
}

/** The other account is not named: whoever reads this (a run record, a log) need not learn it. */
export const accountMismatch = (expectedId: string): SpinPanelError =>
  new SpinPanelError({
    method: 'GET',
    path: '/account',
    title: 'API key of another account',
    detail: `the key belongs to another SpinPanel account, not to ${expectedId}; nothing else is read with it (link ${expectedId}'s own key)`,
    transient: false,
  });

/**
 * One pull of an account's billing data, validated into canonical types. Bad records are quarantined and
 * reported; request failures (after the client's throttle waits) reject so the run can retry or fail.
 *
 * The customer list is always read in full, even for an incremental pull: a subscription can change without
 * its customer changing, so `updatedSince` narrows only the subscription lists.
 */
export async function pullSnapshot(client: SnapshotSource, opts: PullOptions = {}): Promise<Snapshot> {
  const excluded = opts.excludedCustomerIds ?? new Set<string>();
  const now = opts.now ?? (() => new Date());
  // Stamped before the first read, so a later pull with `updatedSince: pulledAt` also sees changes made
  // while this one was running.
  const pulledAt = now().toISOString();

  const account = await readAccount(client, opts.accountId);

  const rawCustomers = await client.listCustomers();
  const included = rawCustomers.filter((raw) => {
    const id = readId(raw, 'id');
    return id === null || !excluded.has(id);
  });
  const customers = validateRecords('customer', included);

  const toFetch = customers.valid.filter((c) => c.status !== 'offboarded');
  const perCustomer = await mapLimit(toFetch, opts.concurrency ?? 4, async (customer) => {
    const raw = await client.listSubscriptions(customer.id, { updatedSince: opts.updatedSince });
    const checked = validateRecords('subscription', raw, { customerId: customer.id });
    const owned = checkOwnership(customer.id, checked.valid);
    return { valid: owned.valid, quarantined: [...checked.quarantined, ...owned.quarantined] };
  });

  return {
    account,
    customers: customers.valid,
    subscriptions: perCustomer.flatMap((r) => r.valid),
    quarantined: [...customers.quarantined, ...perCustomer.flatMap((r) => r.quarantined)],
    pulledAt,
  };
}

/** `YYYY-MM` of the month `n` months from the one holding `day` (n may be negative). */
function monthOf(day: string, n: number): string {
  const [y, m] = day.split('-').map(Number) as [number, number];
  const d = new Date(Date.UTC(y, m - 1 + n, 1));
  return d.toISOString().slice(0, 7);
}

/**
 * The last `count` months whose usage is final on `today` (YYYY-MM-DD), oldest first. On the 5th of a month
 * the month before becomes final; until then the one before that is the latest.
 */
export function closedUsagePeriods(today: string, count: number): string[] {
  if (count <= 0) return [];
  const latest = Number(today.slice(8, 10)) >= USAGE_FINAL_DAY ? -1 : -2;
  return Array.from({ length: count }, (_, i) => monthOf(today, latest - (count - 1 - i)));
}

/**
 * Adds the Azure usage of `periods` to a snapshot, for the customers it bills (active or suspended, billing
 * on): customers the pull left out are never asked for. Bad lines are quarantined like any other record.
 */
export async function addUsage(
  client: UsageSource,
  snapshot: Snapshot,
  periods: readonly string[],
  opts: { concurrency?: number } = {},
): Promise<Snapshot> {
  if (periods.length === 0) return snapshot;
  const billed = snapshot.customers.filter((c) => c.status !== 'offboarded' && c.billing.enabled);
  const reads = billed.flatMap((customer) => periods.map((period) => ({ customer, period })));
  const results = await mapLimit(reads, opts.concurrency ?? 4, async ({ customer, period }) => {
    const raw = await client.listUsage(customer.id, period);
    const checked = validateRecords('usage', raw, { customerId: customer.id });
    const valid: UsageLine[] = [];
    for (const line of checked.valid) {
      if (line.customerId === customer.id && line.period === period) valid.push(line);
      else {
        checked.quarantined.push({
          kind: 'usage',
          id: line.id,
          customerId: customer.id,
          reason: `customerId/period: listed under customer ${customer.id} for ${period} but the record names ${line.customerId} for ${line.period}`,
        });
      }
    }
    return { valid, quarantined: checked.quarantined };
  });
  return {
    ...snapshot,
    usage: results.flatMap((r) => r.valid),
    quarantined: [...snapshot.quarantined, ...results.flatMap((r) => r.quarantined)],
  };
}
