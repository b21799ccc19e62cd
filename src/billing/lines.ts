import { monthOf, monthStart, nextMonthStart } from './dates.ts';
import { samePrice } from './money.ts';
import type { Notice, ReconAction, ReconLine } from './plan.ts';
import { periodPrice, pricingSourceOf } from './pricing.ts';
import type { CommonSettings } from './settings.ts';
import {
  type DesiredCustomer,
  type DesiredLine,
  type DesiredState,
  type IdOrRef,
  isRef,
  type Ledger,
  type LedgerEntry,
  type Period,
  type TargetId,
} from './types.ts';

/** A line the target holds on a billing container (Autotask: a contract service and its units). */
export interface ViewLine {
  id: TargetId;
  itemId: TargetId;
  period: Period;
  /** Units in effect today. */
  quantity: number;
  /** The price per period the target bills the line at today (customer currency). */
  unitPrice: number | null;
  /** Days the target shows a quantity change of this line on (of those its read covered). */
  changedOn: string[];
}

/** A desired line resolved to the target item it goes on. */
export interface Wanted {
  customer: DesiredCustomer;
  line: DesiredLine;
  item: IdOrRef;
}

/** One billing container (Autotask: a contract) and what SpinPanel wants on it. */
export interface ContainerInput {
  /** Stable across runs: `id:<contract>` or `new:<customer>`. */
  key: string;
  /** Made by the sync (its lines are all the sync's to keep). */
  managed: boolean;
  span: { start: string; end: string };
  customers: DesiredCustomer[];
  wanted: Wanted[];
  existing: ViewLine[];
  /** A product of a customer here could not be resolved: retiring anything would be a guess. */
  incomplete: boolean;
}

export interface DiffContext {
  desired: Pick<DesiredState, 'today' | 'policy'>;
  ledger: Ledger;
  settings: Pick<CommonSettings, 'pricingSource' | 'serviceMarkupPercent'>;
  /** True when `itemId` is the sync's item for the product (ledger, marker or the admin's mapping). */
  ourItem(itemId: TargetId, productId: string, period: Period): boolean;
  /** The target's name of an item, for report lines of retired lines. */
  itemName?(itemId: TargetId): string | undefined;
}

/** What the core decides for one target line: the connector turns it into its own API calls. */
export interface LineChange {
  /** `<container key>|<item>`: stable across runs. */
  key: string;
  item: IdOrRef;
  existing?: ViewLine;
  owner: DesiredCustomer;
  productId: string;
  productName: string;
  period: Period;
  contributors: { customer: DesiredCustomer; line: DesiredLine }[];
  before: number | null;
  after: number;
  /** A quantity change to post, dated `date`. */
  post?: { delta: number; date: string };
  /** Price per period: what the target bills now, what the sync pushes (null: the target's own stays). */
  price: { current: number | null; pushed: number | null; cost: number | null; set: boolean };
  /** An existing line not in the ledger yet, which the sync now takes over (managed, or its own item). */
  adopt: boolean;
  action: ReconAction;
  reason?: string;
}

export interface ContainerDiff {
  changes: LineChange[];
  notices: Notice[];
  ledger: LedgerEntry[];
}

const itemKey = (item: IdOrRef): string => (isRef(item) ? item.ref : `id:${item}`);
const sameId = (a: TargetId, b: TargetId): boolean => String(a) === String(b);

/**
 * Pure: per target line of one container, the quantity, price and ownership decision. Rules:
 * - lines are one per item; subscriptions that land on one item at different prices are held with a notice
 *   (never billed at a wrong price);
 * - an existing line is changed only when the ledger says it is the sync's, the container is the sync's, or
 *   its item is the sync's for the product; an MSP's own line is never touched, even if its name matches;
 * - only lines the ledger owns are retired;
 * - a quantity change is never dated after today: under `change-date` a second change of a line the same day
 *   waits for the next day (pending); under `next-period` a month's changes are posted by the first run of the
 *   next month, dated its 1st.
 */
export function diffContainer(input: ContainerInput, ctx: DiffContext): ContainerDiff {
  const notices: Notice[] = [];
  const ledger: LedgerEntry[] = [];
  const changes: LineChange[] = [];
  const groups = new Map<string, Wanted[]>();
  for (const w of input.wanted) groups.set(itemKey(w.item), [...(groups.get(itemKey(w.item)) ?? []), w]);
  const claimed = new Set<string>();

  for (const [ik, group] of groups) {
    const first = group[0]!;
    const { customer: owner, line } = first;
    const item = first.item;
    const existing = isRef(item) ? undefined : pickLine(input.existing, item, ctx.ledger);
    if (existing) claimed.add(String(existing.id));
    const key = `${input.key}|${ik}`;
    const spinpanelPrices = pricingSourceOf(owner, ctx.settings) === 'spinpanel';
    const prices = group.map((w) => periodPrice(w.line, w.customer.currency, ctx.settings));
    const price = prices[0]!;
    const before = existing ? existing.quantity : null;
    const after = group.reduce((s, w) => s + w.line.quantity, 0);
    const base: Omit<LineChange, 'action'> = {
      key,
      item,
      ...(existing ? { existing } : {}),
      owner,
      productId: line.productId,
      productName: line.productName,
      period: line.period,
      contributors: group.map((w) => ({ customer: w.customer, line: w.line })),
      before,
      after,
      price: { current: existing?.unitPrice ?? null, pushed: null, cost: price.unitCost, set: false },
      adopt: false,
    };
    const hold = (reason: string, kind: string) => {
      notices.push({ customerId: owner.customerId, kind, message: reason });
      changes.push({ ...base, action: 'held', reason });
    };
    if (
      spinpanelPrices &&
      prices.some((p) => !samePrice(p.unitPrice, price.unitPrice) && p.unitPrice !== null)
    ) {
      const list = group.map((w, i) => `${w.line.quantity} at ${prices[i]!.unitPrice ?? '?'}`).join(', ');
      hold(
        `${line.productName} (${line.period}ly) of ${owner.name} is billed at several prices (${list}) but the target keeps one price per line: nothing is pushed for it`,
        'mixed-prices',
      );
      continue;
    }
    let pushPrice = spinpanelPrices;
    if (spinpanelPrices && price.unitPrice === null) {
      notices.push({
        customerId: owner.customerId,
        kind: 'currency',
        message: `${line.productName} of ${owner.name} is priced in ${line.unitPrice.currency}, not the customer's ${owner.currency}: its price is not pushed`,
      });
      pushPrice = false;
    }
    const owned = existing ? ctx.ledger.lines[String(existing.id)] !== undefined : false;
    if (existing && !owned && !input.managed && !ctx.ourItem(existing.itemId, line.productId, line.period)) {
      hold(
        `the target line ${existing.id} of ${line.productName} for ${owner.name} was not made by the sync and is left alone; map the product to an item of its own`,
        'not-owned',
      );
      continue;
    }
    const change: LineChange = {
      ...base,
      adopt: Boolean(existing && !owned),
      price: {
        current: existing?.unitPrice ?? null,
        pushed: pushPrice ? price.unitPrice : null,
        cost: price.unitCost,
        set: Boolean(existing && pushPrice && !samePrice(existing.unitPrice, price.unitPrice)),
      },
      action: 'unchanged',
    };
    decideQuantity(change, input, ctx, ledger);
    changes.push(change);
  }

  // Retire what the ledger says the sync owns here and nobody wants any more.
  if (!input.incomplete) {
    const planned = new Set(input.customers.map((c) => c.customerId));
    for (const e of input.existing) {
      if (claimed.has(String(e.id))) continue;
      const own = ctx.ledger.lines[String(e.id)];
      if (!own || !planned.has(own.customerId)) continue;
      const owner = input.customers.find((c) => c.customerId === own.customerId)!;
      const change: LineChange = {
        key: `${input.key}|id:${e.itemId}`,
        item: e.itemId,
        existing: e,
        owner,
        productId: own.productId,
        productName: ctx.itemName?.(e.itemId) ?? own.productId,
        period: own.period,
        contributors: [],
        before: e.quantity,
        after: 0,
        price: { current: e.unitPrice, pushed: null, cost: null, set: false },
        adopt: false,
        action: 'unchanged',
      };
      decideQuantity(change, input, ctx, ledger);
      if (change.action !== 'unchanged') changes.push(change);
    }
  }
  return { changes, notices, ledger };
}

/** The line of an item: the one the ledger owns first, else the oldest. */
function pickLine(lines: readonly ViewLine[], item: TargetId, ledger: Ledger): ViewLine | undefined {
  const all = lines.filter((l) => sameId(l.itemId, item));
  return (
    all.find((l) => ledger.lines[String(l.id)] !== undefined) ??
    [...all].sort((a, b) => String(a.id).localeCompare(String(b.id), 'en', { numeric: true }))[0]
  );
}

function decideQuantity(change: LineChange, input: ContainerInput, ctx: DiffContext, ledger: LedgerEntry[]) {
  const { today, policy } = ctx.desired;
  const delta = change.after - (change.before ?? 0);
  const observedKey = change.key;
  if (delta === 0) {
    if (ctx.ledger.observed[observedKey]) ledger.push({ kind: 'forget-observed', key: observedKey });
    change.action = change.price.set ? 'price' : 'unchanged';
    return;
  }
  const wait = (reason: string) => {
    change.action = 'pending';
    change.reason = reason;
  };
  const retire = change.after === 0 && change.contributors.length === 0;
  const moved: ReconAction = retire
    ? 'retire'
    : change.before === null
      ? 'add'
      : delta > 0
        ? 'increase'
        : 'decrease';
  let date = today;
  if (policy === 'next-period') {
    const month = monthOf(today);
    const seen = ctx.ledger.observed[observedKey];
    if (!seen || seen.quantity !== change.after || seen.month >= month) {
      if (!seen || seen.quantity !== change.after) {
        ledger.push({ kind: 'observed', key: observedKey, quantity: change.after, month });
      }
      return wait(
        `changes seen in ${month} take effect on ${nextMonthStart(today)} (effective-date policy next-period)`,
      );
    }
    date = monthStart(today);
  }
  if (input.span.start > date) {
    if (input.span.start > today) return wait(`the contract starts on ${input.span.start}`);
    date = input.span.start;
  }
  if (input.span.end < date) return wait(`the contract ended on ${input.span.end}`);
  const e = change.existing;
  if (e && (e.changedOn.includes(date) || ctx.ledger.adjustments[String(e.id)] === date)) {
    return wait(
      `a change of this line is already dated ${date} (one per line and day): the difference is posted by the next day's first run`,
    );
  }
  change.post = { delta, date };
  change.action = moved;
}

/** Report lines of a container's changes: one per contributing customer (one for a retirement). */
export function reconOf(
  change: LineChange,
  company: { id: TargetId; name: string },
  opKeys: string[],
): ReconLine[] {
  const common = {
    period: change.period,
    targetUnitsBefore: change.before,
    targetUnitsAfter: change.post ? change.after : (change.before ?? 0),
    targetCompany: company,
    action: change.action,
    unitPriceBefore: change.price.current,
    unitPriceAfter: change.price.pushed ?? change.price.current,
    ...(change.post ? { effectiveDate: change.post.date } : {}),
    ...(change.reason ? { reason: change.reason } : {}),
    ...(opKeys.length > 0 ? { opKeys } : {}),
  };
  if (change.contributors.length === 0) {
    return [
      {
        ...common,
        customerId: change.owner.customerId,
        customerName: change.owner.name,
        productId: change.productId,
        productName: change.productName,
        spinpanelSeats: 0,
      },
    ];
  }
  return change.contributors.map((c) => ({
    ...common,
    customerId: c.customer.customerId,
    customerName: c.customer.name,
    productId: c.line.productId,
    productName: c.line.productName,
    lineKey: c.line.key,
    spinpanelSeats: c.line.quantity,
  }));
}
