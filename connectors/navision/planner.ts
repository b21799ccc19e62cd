import { cutText } from '../../src/billing/charges.ts';
import { planCustomerInvoice } from '../../src/billing/invoices.ts';
import { itemLedgerKey, itemName, resolveItem, type ViewItem } from '../../src/billing/items.ts';
import { matchParty, type PartyCandidate } from '../../src/billing/matching.ts';
import { dedupeNotices, type Unmapped } from '../../src/billing/plan.ts';
import type { IdOrRef, InvoiceLineRecord, LedgerEntry } from '../../src/billing/types.ts';
import type {
  DesiredCustomer,
  DesiredState,
  Ledger,
  LinkMapping,
  Notice,
  Plan,
  PlanOp,
  ReconLine,
} from '../types.ts';
import { USAGE_PRODUCT } from './fields.ts';
import type { InvoiceView, NavisionState } from './read.ts';
import type { NavisionSettings } from './settings.ts';

export interface InvoiceLineData {
  item: IdOrRef;
  description: string;
  quantity: number;
  unitPrice: number;
}
export interface CreateCustomerData {
  customerId: string;
  name: string;
}
export interface CreateItemData {
  productId: string;
  name: string;
}
export interface CreateInvoiceData {
  customer: IdOrRef;
  external: string;
  date: string;
  lines: InvoiceLineData[];
}
export interface CompleteInvoiceData {
  ref: string;
  external: string;
  lines: InvoiceLineData[];
}
export interface PostInvoiceData {
  /** The invoice (NAV No / BC id), or the op that creates it. */
  ref: IdOrRef;
  external: string;
}

export type NavisionOp =
  | PlanOp<'createCustomer', CreateCustomerData>
  | PlanOp<'createItem', CreateItemData>
  | PlanOp<'createInvoice', CreateInvoiceData>
  | PlanOp<'completeInvoice', CompleteInvoiceData>
  | PlanOp<'postInvoice', PostInvoiceData>;

const str = (v: number | string | undefined): string | undefined =>
  v === undefined || v === '' ? undefined : String(v);

/** A line as the ERP compares it: item, quantity, price and the description as cut to its length. */
export const lineSignature = (l: {
  itemNo: string;
  description: string;
  quantity: number;
  unitPrice: number;
}) => `${l.itemNo.toUpperCase()}|${l.quantity}|${Math.round(l.unitPrice * 100)}|${l.description.trim()}`;

/** The planned lines an existing invoice does not hold yet (a header whose lines were cut off half-way). */
export function missingLines<
  T extends { itemNo: string; description: string; quantity: number; unitPrice: number },
>(planned: readonly T[], existing: InvoiceView['lines']): T[] {
  const held = new Map<string, number>();
  for (const l of existing) held.set(lineSignature(l), (held.get(lineSignature(l)) ?? 0) + 1);
  const out: T[] = [];
  for (const l of planned) {
    const k = lineSignature(l);
    const n = held.get(k) ?? 0;
    if (n > 0) held.set(k, n - 1);
    else out.push(l);
  }
  return out;
}

/**
 * Pure: per customer, its ERP customer (mapping, ledger, name; created only when the setting says so), the
 * items its lines need, and the month's one sales invoice (the billing core decides its lines), created once,
 * completed when a run stopped half-way, posted when the setting says so.
 */
export function planNavision(
  desired: DesiredState,
  state: NavisionState,
  mapping: LinkMapping,
  settings: NavisionSettings,
  ledger: Ledger,
): Plan {
  const ops: NavisionOp[] = [];
  const itemOps = new Map<string, NavisionOp>();
  const unmapped: Unmapped[] = [];
  const notices: Notice[] = [];
  const recon: ReconLine[] = [];
  const planLedger: LedgerEntry[] = [];
  const candidates: PartyCandidate[] = state.customers.map((c) => ({
    id: c.number,
    name: c.name,
    active: !c.blocked,
    customerKind: true,
    ...(c.tenantId ? { tenantId: c.tenantId } : {}),
  }));
  const items: ViewItem[] = state.items.map((i) => ({ id: i.number, name: i.name, period: 'month' }));
  const lens = state.lengths;

  const itemFor = (productId: string, productName: string): IdOrRef | { reason: string } => {
    if (productId === USAGE_PRODUCT && settings.usageItemNo) return settings.usageItemNo;
    const choice = resolveItem({ productId, productName, period: 'month' }, items, {
      mappedId: str(mapping.products[productId]?.serviceId),
      ledger,
      create: settings.createMissingItems,
      nameMax: lens.itemName,
      noun: 'item',
    });
    if ('reason' in choice) return choice;
    if ('ok' in choice) return choice.ok;
    const key = `item:${productId}`;
    if (!itemOps.has(key)) {
      itemOps.set(key, {
        key,
        kind: 'createItem',
        summary: `create service item "${choice.create.name}"`,
        ledger: [{ kind: 'item', productId, period: 'month', id: { ref: key } }],
        data: { productId, name: choice.create.name },
      });
    }
    return { ref: key };
  };

  for (const customer of desired.customers) {
    const match = matchParty(customer, candidates, {
      mappedId: str(mapping.customers[customer.customerId]?.companyId),
      ledgerId: ledger.parties[customer.customerId],
      ...(settings.tenantIdField ? { tenantField: settings.tenantIdField } : {}),
      noun: 'customer',
    });
    let party: IdOrRef;
    if ('reason' in match) {
      if (customer.offboarded) continue;
      if (
        !settings.createMissingCustomers ||
        mapping.customers[customer.customerId]?.companyId !== undefined
      ) {
        unmapped.push({
          customerId: customer.customerId,
          name: customer.name,
          reason: match.reason,
          ...(match.suggestions.length > 0 ? { suggestions: match.suggestions } : {}),
        });
        continue;
      }
      const key = `customer:${customer.customerId}`;
      ops.push({
        key,
        kind: 'createCustomer',
        customerId: customer.customerId,
        summary: `create customer "${customer.name}"`,
        ledger: [{ kind: 'party', customerId: customer.customerId, id: { ref: key } }],
        data: { customerId: customer.customerId, name: cutText(customer.name, lens.customerName) },
      });
      party = { ref: key };
    } else {
      party = match.ok.id;
      if (String(ledger.parties[customer.customerId]) !== String(match.ok.id)) {
        planLedger.push({ kind: 'party', customerId: customer.customerId, id: match.ok.id });
      }
    }
    planCustomer(customer, party, state, settings, ledger, itemFor, {
      ops,
      unmapped,
      notices,
      recon,
      planLedger,
    });
  }
  return {
    ops: [
      ...itemOps.values(),
      ...ops.filter((o) => o.kind === 'createCustomer'),
      ...ops.filter((o) => o.kind !== 'createCustomer'),
    ],
    unmapped,
    recon,
    notices: dedupeNotices(notices),
    ledger: planLedger,
  };
}

interface Out {
  ops: NavisionOp[];
  unmapped: Unmapped[];
  notices: Notice[];
  recon: ReconLine[];
  planLedger: LedgerEntry[];
}

function planCustomer(
  customer: DesiredCustomer,
  party: IdOrRef,
  state: NavisionState,
  settings: NavisionSettings,
  ledger: Ledger,
  itemFor: (productId: string, productName: string) => IdOrRef | { reason: string },
  out: Out,
): void {
  const plan = planCustomerInvoice(customer, state.today, ledger, settings);
  out.notices.push(...plan.notices);
  out.planLedger.push(...plan.ledger);
  const invoice = plan.invoice;
  const existing = invoice
    ? state.invoices.find((i) => i.external === invoice.externalDocumentNo)
    : undefined;
  const invoiced = new Map<string, number>();
  for (const l of invoice?.lines ?? []) {
    if ((l.kind === 'recurring' || l.kind === 'yearly') && l.lineKey) invoiced.set(l.lineKey, l.quantity);
  }
  const opKeys: string[] = [];
  const reconAction = (line: { key: string; quantity: number; period: string }) => {
    if (!invoice)
      return {
        action: 'pending' as const,
        reason: `invoiced from the ${settings.invoiceDay}th of the month`,
      };
    const billed = invoiced.get(line.key);
    if (billed === undefined && line.period === 'year') {
      return {
        action: 'pending' as const,
        reason: 'invoiced a year at a time, in its subscription’s anniversary month',
      };
    }
    if (billed === undefined) return { action: 'unchanged' as const };
    if (billed !== line.quantity) {
      return {
        action: 'pending' as const,
        reason: `${invoice.period} was invoiced with ${billed}; the change is prorated on the next invoice`,
      };
    }
    return { action: plan.fresh ? ('add' as const) : ('unchanged' as const) };
  };

  if (invoice) {
    const lines: (InvoiceLineData & { itemNo: string })[] = [];
    let incomplete: string | undefined;
    for (const l of invoice.lines) {
      const item = itemFor(
        l.productId ?? USAGE_PRODUCT,
        l.productId ? l.description.replace(/ \d{4}-\d{2}.*$/, '') : 'Microsoft Azure usage',
      );
      if (typeof item === 'object' && 'reason' in item) {
        incomplete = item.reason;
        break;
      }
      lines.push({
        item,
        itemNo: typeof item === 'object' ? '' : String(item),
        description: cutText(l.description, state.lengths.lineDescription),
        quantity: l.quantity,
        unitPrice: l.unitPrice,
      });
    }
    if (incomplete) {
      out.unmapped.push({ customerId: customer.customerId, name: customer.name, reason: incomplete });
      return;
    }
    const recordEntry = (id?: IdOrRef): LedgerEntry => ({
      kind: 'invoice',
      customerId: customer.customerId,
      record: { ...invoice, ...(id !== undefined ? { id } : {}) },
    });
    let ref: IdOrRef | undefined;
    if (!existing) {
      const key = `invoice:${invoice.externalDocumentNo}`;
      out.ops.push({
        key,
        kind: 'createInvoice',
        customerId: customer.customerId,
        summary: `invoice ${invoice.externalDocumentNo} for ${customer.name} (${invoice.period}): ${lines.length} line(s), ${total(invoice.lines)} ${customer.currency}`,
        needs: [
          ...(typeof party === 'object' ? [party.ref] : []),
          ...lines.flatMap((l) => (typeof l.item === 'object' ? [l.item.ref] : [])),
        ],
        intent: [recordEntry()],
        ledger: [recordEntry({ ref: key }), ...plan.onInvoiced],
        data: {
          customer: party,
          external: invoice.externalDocumentNo,
          date: state.today,
          lines: lines.map(({ itemNo: _n, ...l }) => l),
        },
      });
      opKeys.push(key);
      ref = { ref: key };
    } else if (!existing.posted && !existing.whole) {
      const missing = missingLines(
        lines.map((l) => ({ ...l, itemNo: l.itemNo || '?' })),
        existing.lines,
      ).filter((l) => typeof l.item !== 'object');
      if (missing.length > 0) {
        const key = `complete:${invoice.externalDocumentNo}`;
        out.ops.push({
          key,
          kind: 'completeInvoice',
          customerId: customer.customerId,
          summary: `complete invoice ${existing.number} (${invoice.externalDocumentNo}) of ${customer.name}: ${missing.length} missing line(s)`,
          ledger: [
            recordEntry(existing.ref),
            ...(ledger.invoices[customer.customerId]?.id ? [] : plan.onInvoiced),
          ],
          data: {
            ref: existing.ref,
            external: invoice.externalDocumentNo,
            lines: missing.map(({ itemNo: _n, ...l }) => l),
          },
        });
        opKeys.push(key);
      } else if (ledger.invoices[customer.customerId]?.id === undefined) {
        // Made by a run whose answer was lost: recorded now.
        out.planLedger.push(recordEntry(existing.ref), ...plan.onInvoiced);
      }
      ref = existing.ref;
    } else if (!existing.posted) {
      ref = existing.ref;
    }
    if (ref !== undefined && settings.postInvoices) {
      const key = `post:${invoice.externalDocumentNo}`;
      out.ops.push({
        key,
        kind: 'postInvoice',
        customerId: customer.customerId,
        summary: `post invoice ${invoice.externalDocumentNo} of ${customer.name}`,
        needs: opKeys.slice(),
        ledger: [
          { kind: 'invoice', customerId: customer.customerId, record: { ...invoice, id: ref, posted: true } },
        ],
        data: { ref, external: invoice.externalDocumentNo },
      });
      opKeys.push(key);
    }
  }

  for (const line of customer.lines) {
    const { action, reason } = reconAction(line) as { action: ReconLine['action']; reason?: string };
    out.recon.push({
      customerId: customer.customerId,
      customerName: customer.name,
      productId: line.productId,
      productName: line.productName,
      period: line.period,
      lineKey: line.key,
      spinpanelSeats: line.quantity,
      targetUnitsBefore: existing || (invoice && !plan.fresh) ? (invoiced.get(line.key) ?? null) : null,
      targetUnitsAfter: invoiced.get(line.key) ?? 0,
      ...(typeof party !== 'object' ? { targetCompany: { id: party, name: customer.name } } : {}),
      action,
      ...(reason ? { reason } : {}),
      unitPriceAfter: invoice?.lines.find((l) => l.lineKey === line.key)?.unitPrice ?? null,
      ...(opKeys.length > 0 ? { opKeys } : {}),
    });
  }
}

const total = (lines: InvoiceLineRecord[]): number =>
  Math.round(lines.reduce((s, l) => s + l.quantity * l.unitPrice, 0) * 100) / 100;
