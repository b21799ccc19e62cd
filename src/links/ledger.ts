import type { ApplyResults, PlanOp } from '../../connectors/types.ts';
import {
  emptyLedger,
  type IdOrRef,
  isRef,
  type Ledger,
  type LedgerEntry,
  type TargetId,
} from '../billing/types.ts';
import type { StoreContext } from '../store/context.ts';

/**
 * The ownership ledger of a link in one Redis hash under the link's keys (so unlink purges it with the rest):
 * fields `item:<product|period>`, `party:<customer>`, `container:<customer>`, `line:<id>`, `adj:<line id>`,
 * `charge:<key>`, `obs:<line>`; values JSON.
 */
const FIELD = {
  item: 'item:',
  party: 'party:',
  container: 'container:',
  line: 'line:',
  adjustment: 'adj:',
  charge: 'charge:',
  observed: 'obs:',
  invoice: 'inv:',
  seen: 'seen:',
  oneOff: 'oneoff:',
} as const;

export async function readLedger(ctx: StoreContext, accountId: string, linkId: string): Promise<Ledger> {
  return parseLedger(await ctx.redis.hgetall(ctx.keys.ledger(accountId, linkId)));
}

export function parseLedger(raw: Record<string, string>): Ledger {
  const ledger = emptyLedger();
  for (const [field, value] of Object.entries(raw)) {
    const at = field.indexOf(':');
    const kind = field.slice(0, at + 1);
    const key = field.slice(at + 1);
    let v: unknown;
    try {
      v = JSON.parse(value);
    } catch {
      continue;
    }
    if (kind === FIELD.item) ledger.items[key] = v as TargetId;
    else if (kind === FIELD.party) ledger.parties[key] = v as TargetId;
    else if (kind === FIELD.container) ledger.containers[key] = v as TargetId;
    else if (kind === FIELD.line) ledger.lines[key] = v as Ledger['lines'][string];
    else if (kind === FIELD.adjustment) ledger.adjustments[key] = v as string;
    else if (kind === FIELD.charge) ledger.charges[key] = v as TargetId;
    else if (kind === FIELD.observed) ledger.observed[key] = v as Ledger['observed'][string];
    else if (kind === FIELD.invoice) ledger.invoices[key] = v as Ledger['invoices'][string];
    else if (kind === FIELD.seen) ledger.seen[key] = v as Ledger['seen'][string];
    else if (kind === FIELD.oneOff) ledger.oneOffs[key] = v as number;
  }
  return ledger;
}

/** A target id from an op's result: the id itself, or an object's `id`/`itemId`. */
function idOf(result: unknown): TargetId | undefined {
  if (typeof result === 'number' || typeof result === 'string') return result;
  if (result && typeof result === 'object') {
    const r = result as { id?: unknown; itemId?: unknown };
    if (typeof r.id === 'number' || typeof r.id === 'string') return r.id;
    if (typeof r.itemId === 'number' || typeof r.itemId === 'string') return r.itemId;
  }
  return undefined;
}

/** Resolves a ref to the id an op produced; `own` is the result of the op whose entries these are. */
function resolve(
  v: IdOrRef,
  results: ApplyResults,
  own?: { key: string; result: unknown },
): TargetId | undefined {
  if (!isRef(v)) return v;
  if (own && v.ref === own.key) return idOf(own.result);
  return idOf(results.get(v.ref));
}

/** The hash fields an entry sets (or, for `forget-observed`, deletes); undefined when a ref is not resolved. */
export function fieldsOf(
  entry: LedgerEntry,
  results: ApplyResults,
  own?: { key: string; result: unknown },
): { set?: [string, string]; del?: string } | undefined {
  const r = (v: IdOrRef) => resolve(v, results, own);
  switch (entry.kind) {
    case 'item': {
      const id = r(entry.id);
      return id === undefined
        ? undefined
        : { set: [`${FIELD.item}${entry.productId}|${entry.period}`, JSON.stringify(id)] };
    }
    case 'party': {
      const id = r(entry.id);
      return id === undefined
        ? undefined
        : { set: [`${FIELD.party}${entry.customerId}`, JSON.stringify(id)] };
    }
    case 'container': {
      const id = r(entry.id);
      return id === undefined
        ? undefined
        : { set: [`${FIELD.container}${entry.customerId}`, JSON.stringify(id)] };
    }
    case 'line': {
      const id = r(entry.id);
      const container = r(entry.line.container);
      if (id === undefined || container === undefined) return undefined;
      return { set: [`${FIELD.line}${id}`, JSON.stringify({ ...entry.line, container })] };
    }
    case 'adjustment': {
      const id = r(entry.lineId);
      return id === undefined ? undefined : { set: [`${FIELD.adjustment}${id}`, JSON.stringify(entry.day)] };
    }
    case 'forget-adjustment': {
      const id = r(entry.lineId);
      return id === undefined ? undefined : { del: `${FIELD.adjustment}${id}` };
    }
    case 'charge': {
      const id = r(entry.id);
      return { set: [`${FIELD.charge}${entry.key}`, JSON.stringify(id ?? null)] };
    }
    case 'observed':
      return {
        set: [
          `${FIELD.observed}${entry.key}`,
          JSON.stringify({ quantity: entry.quantity, month: entry.month }),
        ],
      };
    case 'invoice': {
      const id = entry.record.id === undefined ? undefined : r(entry.record.id);
      const { id: _ref, ...rest } = entry.record;
      return {
        set: [
          `${FIELD.invoice}${entry.customerId}`,
          JSON.stringify({ ...rest, ...(id !== undefined ? { id } : {}) }),
        ],
      };
    }
    case 'seen':
      return { set: [`${FIELD.seen}${entry.customerId}`, JSON.stringify(entry.list)] };
    case 'one-off':
      return { set: [`${FIELD.oneOff}${entry.key}`, JSON.stringify(entry.quantity)] };
    case 'forget-observed':
      return { del: `${FIELD.observed}${entry.key}` };
    default: {
      const never: never = entry;
      throw new Error(`unknown ledger entry ${JSON.stringify(never)}`);
    }
  }
}

/** Records entries in one MULTI. Entries whose ref did not resolve are skipped (the op made nothing). */
export async function writeLedger(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
  entries: readonly LedgerEntry[],
  results: ApplyResults,
  own?: { key: string; result: unknown },
): Promise<void> {
  if (entries.length === 0) return;
  const key = ctx.keys.ledger(accountId, linkId);
  const multi = ctx.redis.multi();
  let n = 0;
  for (const entry of entries) {
    const f = fieldsOf(entry, results, own);
    if (f?.set) {
      multi.hset(key, f.set[0], f.set[1]);
      n++;
    }
    if (f?.del) {
      multi.hdel(key, f.del);
      n++;
    }
  }
  if (n > 0) await multi.exec();
}

/** The ledger entries of one op that went through. */
export const recordOp = (
  ctx: StoreContext,
  accountId: string,
  linkId: string,
  op: PlanOp,
  result: unknown,
  results: ApplyResults,
): Promise<void> => writeLedger(ctx, accountId, linkId, op.ledger ?? [], results, { key: op.key, result });
