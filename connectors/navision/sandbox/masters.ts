import {
  blankCustomer,
  blankItem,
  type Company,
  type Customer,
  drawNumber,
  type Item,
  type NumberSeries,
  type Store,
} from './db.ts';
import {
  dialog,
  manualNumbers,
  odataError,
  readOnlyControl,
  relatedNotFound,
  tableRelation,
} from './errors.ts';

/**
 * Customers and items: the validation their tables run on insert and modify (number series, table relations to
 * posting groups, currencies and units), shared by NAV pages and the BC API. `api` says who is writing: BC applies
 * the company's templates and maps the local currency code to blank; NAV pages do neither.
 */

export type Api = 'nav' | 'bc';
export type Values = Record<string, unknown>;

/** The next number, or the client's own if the series allows manual numbers. */
export function numberFor(series: NumberSeries, given: unknown): { no: string; draw: boolean } {
  if (typeof given === 'string' && given !== '') {
    if (!series.manual) throw manualNumbers(series.code);
    return { no: given, draw: false };
  }
  return { no: series.next, draw: true };
}

export const duplicate = (table: string, key: string) =>
  odataError(
    400,
    'Internal_EntityWithSameKeyExists',
    `The ${table} already exists. Identification fields and values: ${key}`,
  );

/**
 * The currency of a document or customer: blank is the local currency. A NAV page refuses the local currency's
 * own code (there is no Currency record for it); the BC API translates it to blank, as its pages do.
 */
export function currencyFor(company: Company, code: string, table: string, api: Api): string {
  if (code === '') return '';
  if (code === company.lcyCode && api === 'bc') return '';
  if (!company.currencies.has(code)) throw tableRelation('Currency Code', table, code, 'Currency');
  return code;
}

function relation(set: Set<string>, value: string, field: string, table: string, related: string): void {
  if (value !== '' && !set.has(value)) throw tableRelation(field, table, value, related);
}

function checkCustomer(company: Company, c: Customer): void {
  const g = company.postingGroups;
  relation(
    g.genBus,
    c.genBusPostingGroup,
    'Gen. Bus. Posting Group',
    'Customer',
    'Gen. Business Posting Group',
  );
  relation(
    g.vatBus,
    c.vatBusPostingGroup,
    'VAT Bus. Posting Group',
    'Customer',
    'VAT Business Posting Group',
  );
  relation(
    g.customer,
    c.customerPostingGroup,
    'Customer Posting Group',
    'Customer',
    'Customer Posting Group',
  );
}

function checkItem(company: Company, i: Item): void {
  const g = company.postingGroups;
  relation(
    g.genProd,
    i.genProdPostingGroup,
    'Gen. Prod. Posting Group',
    'Item',
    'Gen. Product Posting Group',
  );
  relation(g.vatProd, i.vatProdPostingGroup, 'VAT Prod. Posting Group', 'Item', 'VAT Product Posting Group');
  relation(
    g.inventory,
    i.inventoryPostingGroup,
    'Inventory Posting Group',
    'Item',
    'Inventory Posting Group',
  );
  if (i.baseUnitOfMeasure !== '' && !company.unitsOfMeasure.has(i.baseUnitOfMeasure))
    throw relatedNotFound('Unit of Measure', `Code='${i.baseUnitOfMeasure}'`);
}

export function createCustomer(store: Store, company: Company, values: Values, api: Api): Customer {
  const { no, draw } = numberFor(company.series.customer, values.no);
  if (company.customers.has(no)) throw duplicate('Customer', `No.='${no}'`);
  const rec: Customer = { ...blankCustomer(store), ...values, no } as Customer;
  rec.currencyCode = currencyFor(company, rec.currencyCode, 'Customer', api);
  const t = company.templates.customer;
  if (api === 'bc' && t) {
    rec.genBusPostingGroup ||= t.genBusPostingGroup;
    rec.vatBusPostingGroup ||= t.vatBusPostingGroup;
    rec.customerPostingGroup ||= t.customerPostingGroup;
  }
  checkCustomer(company, rec);
  if (draw) drawNumber(company.series.customer);
  company.customers.set(no, rec);
  return rec;
}

export function updateCustomer(
  store: Store,
  company: Company,
  rec: Customer,
  values: Values,
  api: Api,
): void {
  if (values.no !== undefined && values.no !== rec.no) throw readOnlyControl('No.');
  const next: Customer = { ...rec, ...values } as Customer;
  next.currencyCode = currencyFor(company, next.currencyCode, 'Customer', api);
  checkCustomer(company, next);
  Object.assign(rec, next);
  store.touch(rec);
}

export function deleteCustomer(company: Company, rec: Customer): void {
  if ([...company.invoices.values()].some((d) => d.customerNo === rec.no))
    throw dialog(
      `You cannot delete Customer ${rec.no} because there is at least one outstanding Sales Invoice for this customer.`,
    );
  company.customers.delete(rec.no);
}

export function createItem(store: Store, company: Company, values: Values, api: Api): Item {
  const { no, draw } = numberFor(company.series.item, values.no);
  if (company.items.has(no)) throw duplicate('Item', `No.='${no}'`);
  const rec: Item = { ...blankItem(store), ...values, no } as Item;
  const t = company.templates.item;
  if (api === 'bc' && t) {
    rec.genProdPostingGroup ||= t.genProdPostingGroup;
    rec.vatProdPostingGroup ||= t.vatProdPostingGroup;
    rec.inventoryPostingGroup ||= t.inventoryPostingGroup ?? '';
  }
  checkItem(company, rec);
  if (draw) drawNumber(company.series.item);
  company.items.set(no, rec);
  return rec;
}

export function updateItem(store: Store, company: Company, rec: Item, values: Values): void {
  if (values.no !== undefined && values.no !== rec.no) throw readOnlyControl('No.');
  const next: Item = { ...rec, ...values } as Item;
  checkItem(company, next);
  Object.assign(rec, next);
  store.touch(rec);
}

export function deleteItem(company: Company, rec: Item): void {
  const used = [...company.invoices.values()].some((d) =>
    d.lines.some((l) => l.type === 'Item' && l.no === rec.no),
  );
  if (used)
    throw dialog(
      `You cannot delete Item ${rec.no} because there is at least one outstanding Sales Invoice that includes this item.`,
    );
  company.items.delete(rec.no);
}
