import { cutText } from './charges.ts';
import { normalName } from './matching.ts';
import type { Ledger, Period, TargetId } from './types.ts';

/** A catalogue entry of the target (Autotask service, NAV item) as the connector read it. */
export interface ViewItem {
  id: TargetId;
  name: string;
  period: Period;
  /** The SpinPanel product the sync's stable marker on the record names, when it carries one. */
  productId?: string;
}

export type ItemChoice =
  | { ok: TargetId; via: 'mapping' | 'ledger' | 'marker' | 'name' }
  | { create: { name: string } }
  | { reason: string };

/** The name a product's item is found and created under: yearly lines get an item of their own. */
export const itemName = (productName: string, period: Period, max = 100): string =>
  period === 'year'
    ? `${cutText(productName, max - ' (yearly)'.length)} (yearly)`
    : cutText(productName, max);

export const itemLedgerKey = (productId: string, period: Period): string => `${productId}|${period}`;

export interface ItemOptions {
  /** The admin's mapping for the product; null: not a valid id for the target. */
  mappedId?: TargetId | null;
  ledger: Pick<Ledger, 'items'>;
  create: boolean;
  /** Longest name the target keeps. */
  nameMax?: number;
  noun: string;
}

/**
 * Product (and period) → catalogue item: the admin's mapping, else the item the ledger says the sync made or
 * used for it (so a product renamed in SpinPanel stays on its item), else the item whose stable marker names
 * the product, else the one with its name. None: create it (when allowed); several: a reason.
 */
export function resolveItem(
  line: { productId: string; productName: string; period: Period },
  items: readonly ViewItem[],
  opts: ItemOptions,
): ItemChoice {
  const { noun } = opts;
  const byId = (id: TargetId) => items.find((i) => String(i.id) === String(id));
  const name = itemName(line.productName, line.period, opts.nameMax);
  if (opts.mappedId === null)
    return { reason: `the ${noun} mapped to ${line.productName} is not a valid id` };
  if (opts.mappedId !== undefined) {
    const item = byId(opts.mappedId);
    if (!item) return { reason: `${noun} ${opts.mappedId} (mapped to ${line.productName}) does not exist` };
    // A mapping names the product's item for the period it bills in; the other period needs its own.
    if (item.period === line.period) return { ok: item.id, via: 'mapping' };
  }
  const ledgered = opts.ledger.items[itemLedgerKey(line.productId, line.period)];
  if (ledgered !== undefined && byId(ledgered)) return { ok: ledgered, via: 'ledger' };
  const marked = items.filter((i) => i.productId === line.productId && i.period === line.period);
  if (marked.length >= 1) {
    return {
      ok: [...marked].sort((a, b) => String(a.id).localeCompare(String(b.id), 'en', { numeric: true }))[0]!
        .id,
      via: 'marker',
    };
  }
  const named = items.filter((i) => normalName(i.name) === normalName(name) && i.period === line.period);
  if (named.length === 1) return { ok: named[0]!.id, via: 'name' };
  if (named.length > 1) {
    return { reason: `${named.length} ${noun}s named "${name}"; map product ${line.productId} to one` };
  }
  if (!opts.create) {
    return {
      reason: `no ${noun} named "${name}"; map product ${line.productId} to one or turn on creating missing ones`,
    };
  }
  return { create: { name } };
}
