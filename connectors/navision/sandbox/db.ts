import { randomUUID } from 'node:crypto';
import type { CompanySeed, CustomerSeed, ItemSeed, NumberSeriesSeed, PostingGroups } from './types.ts';

/**
 * The sandbox's tables. One store of companies serves all three flavours: NAV pages and the BC API are views of
 * the same records, as they are of the same database in a real BC. Records use neutral names; `fields.ts` maps
 * them to each API's wire names.
 */

export type LineType = '' | 'G/L Account' | 'Item' | 'Resource' | 'Fixed Asset' | 'Charge (Item)';

/** Common to every record: a GUID (BC `id`, SystemId) and a row version that drives the ETag. */
export interface Versioned {
  id: string;
  version: number;
  modifiedAt: string;
}

export interface Customer extends Versioned {
  no: string;
  name: string;
  email: string;
  vatRegistrationNo: string;
  /** Blank for the local currency. */
  currencyCode: string;
  genBusPostingGroup: string;
  vatBusPostingGroup: string;
  customerPostingGroup: string;
  blocked: '' | 'Ship' | 'Invoice' | 'All';
  contactType: 'Company' | 'Person';
}

export interface Item extends Versioned {
  no: string;
  description: string;
  type: 'Inventory' | 'Service' | 'Non-Inventory';
  baseUnitOfMeasure: string;
  unitPrice: number;
  unitCost: number;
  genProdPostingGroup: string;
  vatProdPostingGroup: string;
  inventoryPostingGroup: string;
  blocked: boolean;
}

export interface SalesLine extends Versioned {
  lineNo: number;
  type: LineType;
  no: string;
  description: string;
  quantity: number;
  unitOfMeasureCode: string;
  unitPrice: number;
}

interface DocumentFields extends Versioned {
  no: string;
  customerNo: string;
  customerName: string;
  externalDocumentNo: string;
  documentDate: string;
  postingDate: string;
  dueDate: string;
  currencyCode: string;
  lines: SalesLine[];
}

/** A Sales Header of document type Invoice (NAV page 43 / BC draft). */
export interface SalesInvoice extends DocumentFields {
  status: 'Open' | 'Released';
}

/** A Sales Invoice Header (NAV page 132). `id` is the draft's id, as BC's API keeps it across posting. */
export interface PostedSalesInvoice extends DocumentFields {
  preAssignedNo: string;
  status: 'Open' | 'Paid';
}

export interface NumberSeries {
  code: string;
  next: string;
  manual: boolean;
}

export interface Company {
  id: string;
  name: string;
  displayName: string;
  lcyCode: string;
  currencies: Set<string>;
  postingGroups: Record<keyof PostingGroups, Set<string>>;
  unitsOfMeasure: Set<string>;
  glAccounts: Map<string, string>;
  templates: NonNullable<CompanySeed['templates']>;
  series: Record<'customer' | 'item' | 'salesInvoice' | 'postedSalesInvoice', NumberSeries>;
  customers: Map<string, Customer>;
  items: Map<string, Item>;
  /** Unposted sales invoices by No. */
  invoices: Map<string, SalesInvoice>;
  /** Posted sales invoices by their posted No. */
  posted: Map<string, PostedSalesInvoice>;
}

export interface Store {
  companies: Map<string, Company>;
  today(): string;
  /** Marks a record changed: a new row version (so a new ETag) and modification time. */
  touch(rec: Versioned): void;
  newVersioned(): Versioned;
}

const DEFAULT_GROUPS: PostingGroups = {
  genBus: ['DOMESTIC', 'EU', 'EXPORT'],
  vatBus: ['DOMESTIC', 'EU', 'EXPORT'],
  customer: ['DOMESTIC', 'EU', 'FOREIGN'],
  genProd: ['SERVICES', 'RETAIL', 'MISC'],
  vatProd: ['VAT25', 'VAT10', 'NO VAT'],
  inventory: ['RESALE', 'FINISHED'],
};

/** NAV's INCSTR: increments the last run of digits, keeping its width ('S-INV100009' → 'S-INV100010'). */
export function incStr(s: string): string {
  const m = /(\d+)(\D*)$/.exec(s);
  if (!m) return s;
  const digits = m[1] as string;
  const next = String(Number(digits) + 1).padStart(digits.length, '0');
  return s.slice(0, m.index) + next + (m[2] ?? '');
}

/** Takes the next number of a series. */
export function drawNumber(series: NumberSeries): string {
  const no = series.next;
  series.next = incStr(no);
  return no;
}

export function createStore(seeds: CompanySeed[], today: () => string): Store {
  let rowVersion = 1000;
  const now = () => new Date().toISOString();
  const store: Store = {
    companies: new Map(),
    today,
    touch(rec) {
      rec.version = ++rowVersion;
      rec.modifiedAt = now();
    },
    newVersioned: () => ({ id: randomUUID(), version: ++rowVersion, modifiedAt: now() }),
  };
  for (const seed of seeds) store.companies.set(seed.name, seedCompany(store, seed));
  return store;
}

const series = (s: NumberSeriesSeed | undefined, fallback: NumberSeriesSeed): NumberSeries => ({
  code: s?.code ?? fallback.code,
  next: s?.next ?? fallback.next,
  manual: s?.manual ?? fallback.manual ?? false,
});

function seedCompany(store: Store, seed: CompanySeed): Company {
  const groups = { ...DEFAULT_GROUPS, ...seed.postingGroups };
  const company: Company = {
    id: seed.id ?? randomUUID(),
    name: seed.name,
    displayName: seed.displayName ?? seed.name,
    lcyCode: seed.lcyCode ?? 'USD',
    currencies: new Set(seed.currencies ?? ['EUR', 'GBP', 'DKK']),
    postingGroups: {
      genBus: new Set(groups.genBus),
      vatBus: new Set(groups.vatBus),
      customer: new Set(groups.customer),
      genProd: new Set(groups.genProd),
      vatProd: new Set(groups.vatProd),
      inventory: new Set(groups.inventory),
    },
    unitsOfMeasure: new Set(seed.unitsOfMeasure ?? ['PCS', 'HOUR', 'MONTH', 'USER']),
    glAccounts: new Map(
      (seed.glAccounts ?? [{ no: '6110', name: 'Sales, Services' }]).map((a) => [a.no, a.name]),
    ),
    templates:
      seed.templates === null
        ? {}
        : (seed.templates ?? {
            customer: {
              genBusPostingGroup: 'DOMESTIC',
              vatBusPostingGroup: 'DOMESTIC',
              customerPostingGroup: 'DOMESTIC',
            },
            item: { genProdPostingGroup: 'SERVICES', vatProdPostingGroup: 'VAT25' },
          }),
    series: {
      customer: series(seed.numberSeries?.customer, { code: 'CUST', next: 'C00010', manual: true }),
      item: series(seed.numberSeries?.item, { code: 'ITEM', next: '70000', manual: true }),
      salesInvoice: series(seed.numberSeries?.salesInvoice, { code: 'S-INV', next: '1001', manual: false }),
      postedSalesInvoice: series(seed.numberSeries?.postedSalesInvoice, {
        code: 'S-INV+',
        next: '103001',
        manual: false,
      }),
    },
    customers: new Map(),
    items: new Map(),
    invoices: new Map(),
    posted: new Map(),
  };
  for (const c of seed.customers ?? []) company.customers.set(c.no.toUpperCase(), seedCustomer(store, c));
  for (const i of seed.items ?? []) company.items.set(i.no.toUpperCase(), seedItem(store, i));
  return company;
}

function seedCustomer(store: Store, c: CustomerSeed): Customer {
  return {
    ...store.newVersioned(),
    ...(c.id ? { id: c.id } : {}),
    no: c.no.toUpperCase(),
    name: c.name,
    email: c.email ?? '',
    vatRegistrationNo: '',
    currencyCode: c.currencyCode ?? '',
    genBusPostingGroup: c.genBusPostingGroup ?? 'DOMESTIC',
    vatBusPostingGroup: c.vatBusPostingGroup ?? 'DOMESTIC',
    customerPostingGroup: c.customerPostingGroup ?? 'DOMESTIC',
    blocked: c.blocked ?? '',
    contactType: 'Company',
  };
}

function seedItem(store: Store, i: ItemSeed): Item {
  return {
    ...store.newVersioned(),
    ...(i.id ? { id: i.id } : {}),
    no: i.no.toUpperCase(),
    description: i.description,
    type: i.type ?? 'Service',
    baseUnitOfMeasure: i.baseUnitOfMeasure ?? 'USER',
    unitPrice: i.unitPrice ?? 0,
    unitCost: 0,
    genProdPostingGroup: i.genProdPostingGroup ?? 'SERVICES',
    vatProdPostingGroup: i.vatProdPostingGroup ?? 'VAT25',
    inventoryPostingGroup: i.inventoryPostingGroup ?? '',
    blocked: false,
  };
}

/** Blank fields of a new customer, before the request's values are applied. */
export function blankCustomer(store: Store): Customer {
  return {
    ...store.newVersioned(),
    no: '',
    name: '',
    email: '',
    vatRegistrationNo: '',
    currencyCode: '',
    genBusPostingGroup: '',
    vatBusPostingGroup: '',
    customerPostingGroup: '',
    blocked: '',
    contactType: 'Company',
  };
}

export function blankItem(store: Store): Item {
  return {
    ...store.newVersioned(),
    no: '',
    description: '',
    type: 'Inventory',
    baseUnitOfMeasure: '',
    unitPrice: 0,
    unitCost: 0,
    genProdPostingGroup: '',
    vatProdPostingGroup: '',
    inventoryPostingGroup: '',
    blocked: false,
  };
}

export function blankInvoice(store: Store): SalesInvoice {
  return {
    ...store.newVersioned(),
    no: '',
    customerNo: '',
    customerName: '',
    externalDocumentNo: '',
    documentDate: store.today(),
    postingDate: store.today(),
    dueDate: store.today(),
    currencyCode: '',
    status: 'Open',
    lines: [],
  };
}

export function blankLine(store: Store): SalesLine {
  return {
    ...store.newVersioned(),
    lineNo: 0,
    type: '',
    no: '',
    description: '',
    quantity: 0,
    unitOfMeasureCode: '',
    unitPrice: 0,
  };
}

export const lineAmount = (l: SalesLine): number => Math.round(l.quantity * l.unitPrice * 100) / 100;
export const documentAmount = (d: { lines: SalesLine[] }): number =>
  Math.round(d.lines.reduce((sum, l) => sum + lineAmount(l), 0) * 100) / 100;
