import { isRef } from '../../src/billing/types.ts';
import { type ApplyResults, TargetError } from '../types.ts';
import type { NavisionClient, ODataRecord } from './client.ts';
import { anyOf, segment } from './company.ts';
import type { Fields } from './fields.ts';
import type {
  CompleteInvoiceData,
  CreateCustomerData,
  CreateInvoiceData,
  CreateItemData,
  InvoiceLineData,
  PostInvoiceData,
} from './planner.ts';
import { missingLines } from './planner.ts';
import type { NavisionSettings } from './settings.ts';

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');

function resolve(v: string | number | { ref: string }, results: ApplyResults): string {
  if (!isRef(v)) return String(v);
  const r = results.get(v.ref);
  const id = typeof r === 'object' && r !== null ? (r as { id?: unknown }).id : r;
  if (typeof id !== 'string' && typeof id !== 'number') {
    throw new TargetError(`needs the result of ${v.ref}, which has not run successfully`, undefined, []);
  }
  return String(id);
}

/** Every write of the NAV / BC connector. A create is never sent twice: what may exist is looked up first. */
export function createAppliers(client: NavisionClient, f: Fields, settings: NavisionSettings) {
  const { sets } = client;
  const bc = client.flavour !== 'nav-odata';
  const groups = (pairs: [string, string | undefined][]) =>
    Object.fromEntries(pairs.filter((p): p is [string, string] => p[1] !== undefined));

  /**
   * `checked`: the op comes from this run's own read, which looked for the record already (one run per link at a
   * time): it is made without a second look. Any other op (a replayed plan) looks first.
   */
  async function createCustomer(d: CreateCustomerData, checked = false): Promise<{ id: string }> {
    const found = checked
      ? []
      : await client.list(segment(sets.customer), { filter: anyOf(f.customer.name, [d.name]) });
    if (found.length === 1) return { id: str(found[0]![f.customer.number]) };
    const made = await client.create(segment(sets.customer), {
      [f.customer.name]: d.name,
      // BC's API has no posting-group fields on customers: the company's customer template fills them.
      ...(f.customerGroups
        ? groups([
            [f.customerGroups.posting, settings.customerPostingGroup],
            [f.customerGroups.genBus, settings.genBusPostingGroup],
            [f.customerGroups.vatBus, settings.vatBusPostingGroup],
          ])
        : {}),
    });
    return { id: str(made[f.customer.number]) };
  }

  async function createItem(d: CreateItemData, checked = false): Promise<{ id: string }> {
    const found = checked
      ? []
      : await client.list(segment(sets.item), { filter: anyOf(f.item.name, [d.name]) });
    if (found.length === 1) return { id: str(found[0]![f.item.number]) };
    const made = await client.create(segment(sets.item), {
      [f.item.name]: d.name,
      [f.item.type]: 'Service',
      [f.item.unit]: settings.unitOfMeasure,
      ...(f.itemGroups
        ? groups([
            [f.itemGroups.genProd, settings.genProdPostingGroup],
            [f.itemGroups.vatProd, settings.vatProdPostingGroup],
          ])
        : {}),
    });
    return { id: str(made[f.item.number]) };
  }

  const lineBody = (l: InvoiceLineData, results: ApplyResults) => ({
    [f.line.type]: f.line.itemType,
    [f.line.number]: resolve(l.item, results),
    [f.line.description]: l.description,
    [f.line.quantity]: l.quantity,
    [f.line.unitPrice]: l.unitPrice,
  });

  /** The invoice with this External Document No., unposted (with its lines) or posted; undefined: none. */
  async function findInvoice(external: string) {
    const filter = anyOf(f.invoice.external, [external]);
    const open = await client.list(segment(sets.salesInvoice), {
      filter,
      ...(bc ? { expand: sets.salesInvoiceLines } : {}),
    });
    if (open[0]) {
      const ref = bc ? str(open[0].id) : str(open[0][f.invoice.number]);
      const lines = bc
        ? ((open[0][sets.salesInvoiceLines] as ODataRecord[] | undefined) ?? [])
        : await client.list(client.invoiceLinesPath(ref));
      const posted = bc && str(open[0].status) !== '' && str(open[0].status) !== 'Draft';
      return { ref, posted, lines };
    }
    if (!bc) {
      const posted = await client.list(segment(sets.postedSalesInvoice), { filter });
      if (posted[0]) return { ref: str(posted[0][f.invoice.number]), posted: true, lines: [] };
    }
    return undefined;
  }

  const viewOf = (lines: ODataRecord[]) =>
    lines
      .filter((l) => str(l[f.line.type]) === f.line.itemType)
      .map((l) => ({
        itemNo: str(l[f.line.number]),
        description: str(l[f.line.description]),
        quantity: Number(l[f.line.quantity] ?? 0),
        unitPrice: Number(l[f.line.unitPrice] ?? 0),
      }));

  async function addLines(ref: string, lines: InvoiceLineData[], results: ApplyResults): Promise<void> {
    for (const l of lines) await client.create(client.invoiceLinesPath(ref), lineBody(l, results));
  }

  /**
   * One invoice per customer and month: looked up by its External Document No. first (a run that lost an answer
   * may have made it), then made — BC in one deep insert, NAV header first, then each line (a header left without
   * all its lines is completed by the next run, never made twice).
   */
  async function createInvoice(
    d: CreateInvoiceData,
    results: ApplyResults,
    checked = false,
  ): Promise<{ id: string }> {
    const existing = checked ? undefined : await findInvoice(d.external);
    const planned = d.lines.map((l) => ({ ...l, itemNo: resolve(l.item, results) }));
    if (existing) {
      if (!existing.posted)
        await addLines(existing.ref, missingLines(planned, viewOf(existing.lines)), results);
      return { id: existing.ref };
    }
    const header = {
      [f.invoice.customer]: resolve(d.customer, results),
      [f.invoice.external]: d.external,
      ...(bc ? { invoiceDate: d.date } : {}),
    };
    if (bc) {
      const made = await client.create(segment(sets.salesInvoice), {
        ...header,
        [sets.salesInvoiceLines]: d.lines.map((l) => lineBody(l, results)),
      });
      return { id: str(made.id) };
    }
    const made = await client.create(segment(sets.salesInvoice), header);
    const ref = str(made[f.invoice.number]);
    await addLines(ref, d.lines, results);
    return { id: ref };
  }

  async function completeInvoice(d: CompleteInvoiceData, results: ApplyResults): Promise<{ id: string }> {
    const existing = await findInvoice(d.external);
    if (!existing) throw new TargetError(`invoice ${d.external} is gone from the target`, 404, []);
    if (existing.posted) return { id: existing.ref };
    const planned = d.lines.map((l) => ({ ...l, itemNo: resolve(l.item, results) }));
    await addLines(existing.ref, missingLines(planned, viewOf(existing.lines)), results);
    return { id: existing.ref };
  }

  async function postInvoice(d: PostInvoiceData, results: ApplyResults): Promise<{ id: string }> {
    const existing = await findInvoice(d.external);
    if (!existing) throw new TargetError(`invoice ${d.external} is not in the target`, 404, []);
    if (!existing.posted) await client.postInvoice(existing.ref, { navAction: settings.navPostAction });
    void resolve(d.ref, results);
    return { id: existing.ref };
  }

  return { createCustomer, createItem, createInvoice, completeInvoice, postInvoice };
}
