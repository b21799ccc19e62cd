import { monthOf } from '../../src/billing/dates.ts';
import { invoiceKey } from '../../src/billing/invoices.ts';
import { itemLedgerKey, itemName } from '../../src/billing/items.ts';
import { normalName } from '../../src/billing/matching.ts';
import type { DesiredState, Ledger, LinkMapping } from '../types.ts';
import { etagOf, type NavisionClient, type ODataRecord } from './client.ts';
import { anyOf, type Filter, segment } from './company.ts';
import { BC_LENGTHS, type Fields, USAGE_PRODUCT } from './fields.ts';
import type { NavisionSettings } from './settings.ts';

/** A sales invoice as the plan needs it: its reference (NAV `No`, BC `id`), whether posted, its lines. */
export interface InvoiceView {
  ref: string;
  number: string;
  external: string;
  customer: string;
  posted: boolean;
  /** Made whole by an earlier run (the ledger has its id): its lines were not read. */
  whole?: boolean;
  etag?: string;
  lines: { itemNo: string; description: string; quantity: number; unitPrice: number }[];
}

/** What readState returns: plain records, so a dry run can show them. */
export interface NavisionState {
  today: string;
  customers: { number: string; name: string; blocked: boolean; tenantId?: string }[];
  items: { number: string; name: string }[];
  invoices: InvoiceView[];
  lengths: { itemName: number; customerName: number; lineDescription: number };
}

/** Values per `or` query: the filter travels in the URL, which IIS and BC keep short. */
const CHUNK = 25;
const chunks = <T>(xs: readonly T[]): T[][] =>
  Array.from({ length: Math.ceil(xs.length / CHUNK) }, (_, i) => xs.slice(i * CHUNK, (i + 1) * CHUNK));

async function listAny(
  client: NavisionClient,
  set: string,
  field: string,
  values: string[],
  extra: Partial<{ expand: string }> = {},
) {
  const out: ODataRecord[] = [];
  for (const part of chunks([...new Set(values)].filter((v) => v !== ''))) {
    out.push(...(await client.list(segment(set), { filter: anyOf(field, part), ...extra })));
  }
  return out;
}

const str = (v: unknown): string => (typeof v === 'string' ? v : typeof v === 'number' ? String(v) : '');
const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0));
const firstWord = (name: string): string | undefined => {
  const w = name.trim().split(/\s+/)[0] ?? '';
  return w.length >= 3 ? w : undefined;
};

/**
 * Everything the plan needs: customers and items the mapping or the ledger names (by number), else by name (and,
 * for suggestions, names beginning with an unmatched customer's first word); this month's invoices by External
 * Document No. — unposted and (NAV) posted — with their lines. A failed read throws, never "not found".
 */
export async function readNavisionState(
  client: NavisionClient,
  f: Fields,
  desired: DesiredState,
  mapping: LinkMapping,
  ledger: Ledger,
  settings: NavisionSettings,
): Promise<NavisionState> {
  const { sets } = client;
  const customers = desired.customers;
  const known = (id: string) => mapping.customers[id]?.companyId ?? ledger.parties[id];
  const numbers = customers.map((c) => str(known(c.customerId))).filter(Boolean);
  const open = customers.filter((c) => known(c.customerId) === undefined);
  const [customersByNumber, byName] = await Promise.all([
    listAny(client, sets.customer, f.customer.number, numbers),
    listAny(
      client,
      sets.customer,
      f.customer.name,
      open.map((c) => c.name.trim()),
    ),
  ]);
  const byTenant = settings.tenantIdField
    ? await listAny(
        client,
        sets.customer,
        settings.tenantIdField,
        open.map((c) => c.microsoftTenantId),
      )
    : [];
  const customerRows = [...customersByNumber, ...byName, ...byTenant];
  // Close names, for suggestions: only for customers no record matched by name (compared as the core does).
  const named = new Set(byName.map((r) => normalName(str(r[f.customer.name]))));
  const unmatched = open.filter((c) => !named.has(normalName(c.name)));
  for (const word of [
    ...new Set(unmatched.map((c) => firstWord(c.name)).filter((w): w is string => Boolean(w))),
  ]) {
    const startsWith: Filter = { field: f.customer.name, op: 'startswith', value: word };
    customerRows.push(...(await client.list(segment(sets.customer), { filter: startsWith })));
  }

  const products = customers.flatMap((c) => [...c.lines, ...(c.oneOffs ?? [])]);
  const itemNumbers = [
    ...products.map((p) =>
      str(mapping.products[p.productId]?.serviceId ?? ledger.items[itemLedgerKey(p.productId, 'month')]),
    ),
    ...(settings.usageItemNo ? [settings.usageItemNo] : []),
    str(ledger.items[itemLedgerKey(USAGE_PRODUCT, 'month')]),
  ].filter(Boolean);
  const unresolved = products.filter(
    (p) =>
      mapping.products[p.productId]?.serviceId === undefined &&
      ledger.items[itemLedgerKey(p.productId, 'month')] === undefined,
  );
  const lengths = client.flavour === 'nav-odata' ? await navLengths(client) : { ...BC_LENGTHS };
  const itemRows = [
    ...(await listAny(client, sets.item, f.item.number, itemNumbers)),
    ...(await listAny(
      client,
      sets.item,
      f.item.name,
      unresolved.map((p) => itemName(p.productName, 'month', lengths.itemName)),
    )),
  ];

  const period = monthOf(desired.today);
  const externals = customers.map(
    (c) => ledger.invoices[c.customerId]?.externalDocumentNo ?? invoiceKey(c.customerId, period),
  );
  const bc = client.flavour !== 'nav-odata';
  const invoices: InvoiceView[] = [];
  for (const row of await listAny(
    client,
    sets.salesInvoice,
    f.invoice.external,
    externals,
    bc ? { expand: sets.salesInvoiceLines } : {},
  )) {
    const status = str(row.status);
    const posted = bc && status !== '' && status !== 'Draft';
    const ref = bc ? str(row.id) : str(row[f.invoice.number]);
    const external = str(row[f.invoice.external]).toUpperCase();
    // NAV: an invoice the ledger saw made whole (its create answered) needs no look at its lines; one made by a
    // run that stopped half-way (no id recorded) is read line by line, to be completed.
    const whole = customers.some(
      (c) =>
        ledger.invoices[c.customerId]?.externalDocumentNo === external &&
        ledger.invoices[c.customerId]?.id !== undefined,
    );
    const lines = bc
      ? ((row[sets.salesInvoiceLines] as ODataRecord[] | undefined) ?? [])
      : whole
        ? []
        : await client.list(client.invoiceLinesPath(ref));
    invoices.push({
      ref,
      number: str(row[f.invoice.number]),
      external,
      customer: str(row[f.invoice.customer]),
      posted,
      ...(whole ? { whole: true } : {}),
      ...(row['@odata.etag'] ? { etag: etagOf(row) } : {}),
      lines: lines
        .filter((l) => str(l[f.line.type]) === f.line.itemType)
        .map((l) => ({
          itemNo: str(l[f.line.number]),
          description: str(l[f.line.description]),
          quantity: num(l[f.line.quantity]),
          unitPrice: num(l[f.line.unitPrice]),
        })),
    });
  }
  if (!bc) {
    // A posted invoice leaves the Sales Invoice page: it is looked up on the posted invoices' page too.
    for (const row of await listAny(client, sets.postedSalesInvoice, f.invoice.external, externals)) {
      invoices.push({
        ref: str(row[f.invoice.number]),
        number: str(row[f.invoice.number]),
        external: str(row[f.invoice.external]).toUpperCase(),
        customer: str(row[f.invoice.customer]),
        posted: true,
        lines: [],
      });
    }
  }

  const byNumber = new Map<string, NavisionState['customers'][number]>();
  for (const r of customerRows) {
    const blocked = r[f.customer.blocked];
    const tenantId = settings.tenantIdField ? str(r[settings.tenantIdField]) : '';
    byNumber.set(str(r[f.customer.number]), {
      number: str(r[f.customer.number]),
      name: str(r[f.customer.name]),
      ...(tenantId ? { tenantId } : {}),
      blocked:
        blocked === true ||
        (typeof blocked === 'string' && blocked !== '' && blocked !== '_blank_' && blocked !== ' '),
    });
  }
  const items = new Map<string, { number: string; name: string }>();
  for (const r of itemRows)
    items.set(str(r[f.item.number]), { number: str(r[f.item.number]), name: str(r[f.item.name]) });
  return {
    today: desired.today,
    customers: [...byNumber.values()],
    items: [...items.values()],
    invoices,
    lengths,
  };
}

/** NAV's field lengths from `$metadata` (NAV 2016–2018 item and line descriptions are shorter than BC's). */
async function navLengths(client: NavisionClient): Promise<NavisionState['lengths']> {
  const [items, customers, lines] = await Promise.all([
    client.maxLengths(client.sets.item),
    client.maxLengths(client.sets.customer),
    client.maxLengths(client.sets.salesInvoiceLines),
  ]);
  return {
    itemName: items.get('Description') ?? 50,
    customerName: customers.get('Name') ?? 50,
    lineDescription: lines.get('Description') ?? 50,
  };
}
