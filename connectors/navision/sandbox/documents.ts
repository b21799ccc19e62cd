import {
  blankInvoice,
  blankLine,
  type Company,
  drawNumber,
  type PostedSalesInvoice,
  type SalesInvoice,
  type SalesLine,
  type Store,
} from './db.ts';
import { dialog, odataError, relatedNotFound, testField } from './errors.ts';
import { type Api, currencyFor, duplicate, numberFor, type Values } from './masters.ts';

/**
 * Sales invoices, their lines and posting: what the Sales Header / Sales Line tables and the posting routine check.
 * Every function validates before it changes anything, so a refused request leaves no trace (a NAV/BC request is
 * one transaction).
 */

export const POSTED_ERR = 'The invoice has been posted and can no longer be modified.';

const docKey = (no: string) => `Document Type=Invoice,No.=${no}`;

function applyCustomer(company: Company, doc: SalesInvoice, values: Values, api: Api): void {
  if (typeof values.customerId === 'string') {
    const c = [...company.customers.values()].find((x) => x.id === values.customerId);
    if (!c) throw dialog('The "customerId" does not match to a Customer.');
    if (values.customerNo !== undefined && values.customerNo !== c.no)
      throw dialog('The values of "customerNumber" and "customerId" do not match a specific Customer.');
    values.customerNo = c.no;
  }
  if (values.customerNo !== undefined && values.customerNo !== doc.customerNo) {
    const no = values.customerNo as string;
    const c = company.customers.get(no);
    if (!c && no !== '') throw relatedNotFound('Customer', `No.='${no}'`);
    doc.customerNo = no;
    doc.customerName = c?.name ?? '';
    doc.currencyCode = c?.currencyCode ?? '';
  } else if (api === 'bc' && doc.customerNo === '') {
    throw dialog('A customerNumber or a customerID must be provided.');
  }
  delete values.customerId;
  delete values.customerNo;
}

/** Applies header values to a copy of `doc` and validates it; the caller commits. */
function headerWith(company: Company, doc: SalesInvoice, values: Values, api: Api): SalesInvoice {
  const next: SalesInvoice = { ...doc, lines: doc.lines };
  const v = { ...values };
  delete v.no;
  applyCustomer(company, next, v, api);
  Object.assign(next, v);
  next.currencyCode = currencyFor(company, next.currencyCode, 'Sales Header', api);
  return next;
}

/**
 * Creates an invoice; `lines` (BC deep insert) are validated and inserted in the same step, all or nothing.
 * A number sent by the client is refused unless the series allows manual numbers.
 */
export function createInvoice(
  store: Store,
  company: Company,
  values: Values,
  api: Api,
  lines: Values[] = [],
): SalesInvoice {
  const { no, draw } = numberFor(company.series.salesInvoice, values.no);
  if (company.invoices.has(no)) throw duplicate('Sales Header', `Document Type='Invoice',No.='${no}'`);
  const doc = headerWith(company, blankInvoice(store), values, api);
  doc.no = no;
  doc.lines = [];
  for (const l of lines) doc.lines.push(lineWith(store, company, doc, blankLine(store), l, api, true));
  if (draw) drawNumber(company.series.salesInvoice);
  company.invoices.set(no, doc);
  return doc;
}

export function updateInvoice(
  store: Store,
  company: Company,
  doc: SalesInvoice,
  values: Values,
  api: Api,
): void {
  if (values.no !== undefined && values.no !== doc.no)
    throw dialog('The number of the invoice can not be changed.');
  const next = headerWith(company, doc, values, api);
  Object.assign(doc, next);
  store.touch(doc);
}

export function deleteInvoice(company: Company, doc: SalesInvoice): void {
  company.invoices.delete(doc.no);
}

/** A line with `values` applied and checked, as the Sales Line's field validation does. */
function lineWith(
  store: Store,
  company: Company,
  doc: SalesInvoice,
  line: SalesLine,
  values: Values,
  api: Api,
  isNew: boolean,
): SalesLine {
  const v = { ...values };
  delete v.documentId;
  delete v.documentNo;
  delete v.documentType;
  const next: SalesLine = { ...line };
  if (typeof v.itemId === 'string') {
    const item = [...company.items.values()].find((i) => i.id === v.itemId);
    if (!item) throw dialog('The "itemId" does not match to an Item.');
    v.no = item.no;
    if (v.type === undefined) v.type = 'Item';
  }
  delete v.itemId;
  const type = (v.type as SalesLine['type'] | undefined) ?? next.type;
  const no = (v.no as string | undefined) ?? next.no;
  if (type !== next.type || no !== next.no || isNew) {
    next.type = type;
    next.no = no;
    Object.assign(next, defaultsFor(company, type, no));
  }
  Object.assign(next, v);
  if (next.type === '') {
    // A line without a type is a comment: it carries text only.
    next.quantity = 0;
    next.unitPrice = 0;
    next.unitOfMeasureCode = '';
  } else if (next.unitOfMeasureCode !== '' && !company.unitsOfMeasure.has(next.unitOfMeasureCode)) {
    throw relatedNotFound('Unit of Measure', `Code='${next.unitOfMeasureCode}'`);
  }
  if (isNew) {
    if (v.lineNo === undefined) {
      const last = doc.lines.reduce((m, l) => Math.max(m, l.lineNo), 0);
      next.lineNo = last + 10000;
    } else if (doc.lines.some((l) => l.lineNo === next.lineNo)) {
      if (api === 'bc') throw dialog('You cannot insert a line with a duplicate sequence number.');
      throw duplicate(
        'Sales Line',
        `Document Type='Invoice',Document No.='${doc.no}',Line No.='${next.lineNo}'`,
      );
    }
  } else if (next.lineNo !== line.lineNo) {
    throw dialog('The value for sequence cannot be modified. Delete and insert the line again.');
  }
  store.touch(next);
  return next;
}

/** What validating Type and No. copies into a line (description, price, unit) before the client's own values. */
function defaultsFor(company: Company, type: SalesLine['type'], no: string): Partial<SalesLine> {
  if (no === '') return {};
  switch (type) {
    case '':
      // No. of a text line is a Standard Text code; the sandbox has none.
      throw relatedNotFound('Standard Text', `Code='${no}'`);
    case 'Item': {
      const item = company.items.get(no);
      if (!item) throw relatedNotFound('Item', `No.='${no}'`);
      if (item.blocked)
        throw odataError(
          400,
          'Application_FieldValidationException',
          `Blocked must be equal to 'No'  in Item: No.=${no}. Current value is 'Yes'.`,
        );
      return {
        description: item.description,
        unitPrice: item.unitPrice,
        unitOfMeasureCode: item.baseUnitOfMeasure,
      };
    }
    case 'G/L Account': {
      const name = company.glAccounts.get(no);
      if (name === undefined) throw relatedNotFound('G/L Account', `No.='${no}'`);
      return { description: name, unitOfMeasureCode: '' };
    }
    default:
      throw relatedNotFound(type, `No.='${no}'`);
  }
}

/** Adding, changing or removing a line modifies the header too: a header ETag read before is stale after it. */
export function addLine(
  store: Store,
  company: Company,
  doc: SalesInvoice,
  values: Values,
  api: Api,
): SalesLine {
  const line = lineWith(store, company, doc, blankLine(store), values, api, true);
  doc.lines.push(line);
  doc.lines.sort((a, b) => a.lineNo - b.lineNo);
  store.touch(doc);
  return line;
}

export function updateLine(
  store: Store,
  company: Company,
  doc: SalesInvoice,
  line: SalesLine,
  values: Values,
  api: Api,
): void {
  Object.assign(line, lineWith(store, company, doc, line, values, api, false));
  store.touch(doc);
}

export function deleteLine(store: Store, doc: SalesInvoice, line: SalesLine): void {
  doc.lines = doc.lines.filter((l) => l !== line);
  store.touch(doc);
}

/**
 * Posts an invoice: the header leaves the unposted table and becomes a posted invoice with a number from the
 * posted series, keeping its id (the API's `id`) and its number as Pre-Assigned No. Fails, changing nothing, when
 * the customer or an item lacks posting groups or there is nothing to post.
 */
export function postInvoice(store: Store, company: Company, doc: SalesInvoice): PostedSalesInvoice {
  if (doc.customerNo === '') throw testField('Sell-to Customer No.', 'Sales Header', docKey(doc.no));
  const customer = company.customers.get(doc.customerNo);
  if (!customer) throw relatedNotFound('Customer', `No.='${doc.customerNo}'`);
  const cKey = `No.=${customer.no}`;
  if (!customer.genBusPostingGroup) throw testField('Gen. Bus. Posting Group', 'Customer', cKey);
  if (!customer.vatBusPostingGroup) throw testField('VAT Bus. Posting Group', 'Customer', cKey);
  if (!customer.customerPostingGroup) throw testField('Customer Posting Group', 'Customer', cKey);
  if (customer.blocked === 'All' || customer.blocked === 'Invoice')
    throw dialog(
      `You cannot post this type of document when Customer ${customer.no} is blocked with type ${customer.blocked}`,
    );
  const postable = doc.lines.filter((l) => l.type !== '' && l.quantity !== 0);
  if (postable.length === 0) throw dialog('There is nothing to post.');
  for (const l of postable) {
    if (l.no === '')
      throw testField(
        'No.',
        'Sales Line',
        `Document Type=Invoice,Document No.=${doc.no},Line No.=${l.lineNo}`,
      );
    if (l.type !== 'Item') continue;
    const item = company.items.get(l.no);
    if (!item) throw relatedNotFound('Item', `No.='${l.no}'`);
    const iKey = `No.=${item.no}`;
    if (!item.genProdPostingGroup) throw testField('Gen. Prod. Posting Group', 'Item', iKey);
    if (!item.vatProdPostingGroup) throw testField('VAT Prod. Posting Group', 'Item', iKey);
    if (item.type === 'Inventory' && !item.inventoryPostingGroup)
      throw testField('Inventory Posting Group', 'Item', iKey);
  }
  const { status: _draftStatus, ...fields } = doc;
  const posted: PostedSalesInvoice = {
    ...fields,
    no: drawNumber(company.series.postedSalesInvoice),
    preAssignedNo: doc.no,
    status: 'Open',
    lines: doc.lines.map((l) => ({ ...l })),
  };
  store.touch(posted);
  company.invoices.delete(doc.no);
  company.posted.set(posted.no, posted);
  return posted;
}
