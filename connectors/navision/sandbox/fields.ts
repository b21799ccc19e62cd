import {
  type Company,
  type Customer,
  documentAmount,
  type Item,
  lineAmount,
  type PostedSalesInvoice,
  type SalesInvoice,
  type SalesLine,
} from './db.ts';
import type { NavServiceNames } from './types.ts';

/**
 * The wire shape of each entity: NAV page fields (underscored captions, Text/Code lengths of NAV 2016–2018) and
 * BC API v2.0 properties (camelCase, BC lengths). A field either maps to a stored property (`prop`) or is computed
 * on read (`get`); `prop` may also name a virtual input that `writes.ts` interprets (e.g. `customerId`).
 */

export type Kind = 'code' | 'text' | 'decimal' | 'int' | 'date' | 'datetime' | 'option' | 'bool' | 'guid';

/** What a computed field may look at. */
export interface ReadCtx {
  company: Company;
  /** The document a line belongs to. */
  parent?: SalesInvoice | PostedSalesInvoice;
  posted?: boolean;
}

export interface FieldDef {
  name: string;
  kind: Kind;
  prop?: string;
  max?: number;
  /** [wire value, stored value] pairs. */
  options?: readonly (readonly [string, string])[];
  readOnly?: boolean;
  // biome-ignore lint/suspicious/noExplicitAny: a getter reads whichever record type its entity holds
  get?: (rec: any, ctx: ReadCtx) => unknown;
}

export interface EntityDef {
  /** EDM type name, also used in error texts. */
  type: string;
  namespace: 'NAV' | 'Microsoft.NAV';
  /** Table caption for NAV-style messages ("The Customer does not exist…"). */
  table: string;
  keys: string[];
  fields: FieldDef[];
  /** Contained lines, if any: navigation property name → entity set name. */
  lines?: { property: string; set: string };
}

export const NAV_DEFAULT_SERVICES: NavServiceNames = {
  customer: 'Customer',
  item: 'Item',
  salesInvoice: 'SalesInvoice',
  salesInvoiceLines: 'SalesInvoiceSalesLines',
  postedSalesInvoice: 'PostedSalesInvoice',
};

const BLOCKED_NAV = [
  ['_blank_', ''],
  ['Ship', 'Ship'],
  ['Invoice', 'Invoice'],
  ['All', 'All'],
] as const;
const ITEM_TYPE_NAV = [
  ['Inventory', 'Inventory'],
  ['Service', 'Service'],
  ['Non_Inventory', 'Non-Inventory'],
] as const;
const LINE_TYPE_NAV = [
  ['_blank_', ''],
  ['G_L_Account', 'G/L Account'],
  ['Item', 'Item'],
  ['Resource', 'Resource'],
  ['Fixed_Asset', 'Fixed Asset'],
  ['Charge_Item', 'Charge (Item)'],
] as const;
const DOC_TYPE_NAV = [
  ['Quote', 'Quote'],
  ['Order', 'Order'],
  ['Invoice', 'Invoice'],
  ['Credit_Memo', 'Credit Memo'],
  ['Blanket_Order', 'Blanket Order'],
  ['Return_Order', 'Return Order'],
] as const;

/** NAV 2016–2018 (C/AL) lengths, keyed `<default service name>.<field>`. */
const NAV_LENGTHS: Record<string, number> = {
  'Customer.No': 20,
  'Customer.Name': 50,
  'Customer.E_Mail': 80,
  'Customer.VAT_Registration_No': 20,
  'Customer.Currency_Code': 10,
  'Customer.Gen_Bus_Posting_Group': 10,
  'Customer.VAT_Bus_Posting_Group': 10,
  'Customer.Customer_Posting_Group': 10,
  'Item.No': 20,
  'Item.Description': 50,
  'Item.Base_Unit_of_Measure': 10,
  'Item.Gen_Prod_Posting_Group': 10,
  'Item.VAT_Prod_Posting_Group': 10,
  'Item.Inventory_Posting_Group': 10,
  'SalesInvoice.No': 20,
  'SalesInvoice.Sell_to_Customer_No': 20,
  'SalesInvoice.Sell_to_Customer_Name': 50,
  'SalesInvoice.External_Document_No': 35,
  'SalesInvoice.Currency_Code': 10,
  'SalesInvoiceSalesLines.Document_No': 20,
  'SalesInvoiceSalesLines.No': 20,
  'SalesInvoiceSalesLines.Description': 50,
  'SalesInvoiceSalesLines.Unit_of_Measure_Code': 10,
  'PostedSalesInvoice.No': 20,
  'PostedSalesInvoice.Pre_Assigned_No': 20,
  'PostedSalesInvoice.Sell_to_Customer_No': 20,
  'PostedSalesInvoice.Sell_to_Customer_Name': 50,
  'PostedSalesInvoice.External_Document_No': 35,
  'PostedSalesInvoice.Currency_Code': 10,
};

export interface NavDefs {
  company: EntityDef;
  customer: EntityDef;
  item: EntityDef;
  salesInvoice: EntityDef;
  salesLine: EntityDef;
  posted: EntityDef;
  postedLine: EntityDef;
}

const modifiedDate = (r: { modifiedAt: string }) => r.modifiedAt.slice(0, 10);

export function navDefs(services: NavServiceNames, overrides: Record<string, number> = {}): NavDefs {
  const lengths = { ...NAV_LENGTHS, ...overrides };
  /** A Text/Code field whose length comes from the table above (and the options). */
  const s = (
    entity: string,
    name: string,
    kind: 'code' | 'text',
    prop: string,
    extra: Partial<FieldDef> = {},
  ) => ({
    name,
    kind,
    prop,
    max: lengths[`${entity}.${name}`] ?? (kind === 'code' ? 20 : 50),
    ...extra,
  });
  const docFields = (entity: string): FieldDef[] => [
    s(entity, 'Sell_to_Customer_No', 'code', 'customerNo'),
    s(entity, 'Sell_to_Customer_Name', 'text', 'customerName'),
    s(entity, 'External_Document_No', 'code', 'externalDocumentNo'),
    { name: 'Document_Date', kind: 'date', prop: 'documentDate' },
    { name: 'Posting_Date', kind: 'date', prop: 'postingDate' },
    { name: 'Due_Date', kind: 'date', prop: 'dueDate' },
    s(entity, 'Currency_Code', 'code', 'currencyCode'),
  ];
  const lineFields = (entity: string, docNo: (r: SalesLine, c: ReadCtx) => string): FieldDef[] => [
    { name: 'Document_No', kind: 'code', max: 20, prop: 'documentNo', get: docNo },
    { name: 'Line_No', kind: 'int', prop: 'lineNo' },
    { name: 'Type', kind: 'option', prop: 'type', options: LINE_TYPE_NAV },
    s(entity, 'No', 'code', 'no'),
    s(entity, 'Description', 'text', 'description'),
    { name: 'Quantity', kind: 'decimal', prop: 'quantity' },
    s(entity, 'Unit_of_Measure_Code', 'code', 'unitOfMeasureCode'),
    { name: 'Unit_Price', kind: 'decimal', prop: 'unitPrice' },
    { name: 'Line_Amount', kind: 'decimal', readOnly: true, get: (r: SalesLine) => lineAmount(r) },
  ];
  const parentNo = (_r: SalesLine, c: ReadCtx) => c.parent?.no ?? '';
  return {
    company: {
      type: 'Company',
      namespace: 'NAV',
      table: 'Company',
      keys: ['Name'],
      fields: [
        { name: 'Name', kind: 'text', max: 30, readOnly: true, get: (c: Company) => c.name },
        { name: 'Evaluation_Company', kind: 'bool', readOnly: true, get: () => false },
        { name: 'Display_Name', kind: 'text', max: 250, readOnly: true, get: (c: Company) => c.displayName },
        { name: 'Id', kind: 'guid', readOnly: true, get: (c: Company) => c.id },
      ],
    },
    customer: {
      type: services.customer,
      namespace: 'NAV',
      table: 'Customer',
      keys: ['No'],
      fields: [
        s('Customer', 'No', 'code', 'no'),
        s('Customer', 'Name', 'text', 'name'),
        s('Customer', 'E_Mail', 'text', 'email'),
        s('Customer', 'VAT_Registration_No', 'text', 'vatRegistrationNo'),
        s('Customer', 'Currency_Code', 'code', 'currencyCode'),
        s('Customer', 'Gen_Bus_Posting_Group', 'code', 'genBusPostingGroup'),
        s('Customer', 'VAT_Bus_Posting_Group', 'code', 'vatBusPostingGroup'),
        s('Customer', 'Customer_Posting_Group', 'code', 'customerPostingGroup'),
        { name: 'Blocked', kind: 'option', prop: 'blocked', options: BLOCKED_NAV },
        { name: 'Last_Date_Modified', kind: 'date', readOnly: true, get: modifiedDate },
      ],
    },
    item: {
      type: services.item,
      namespace: 'NAV',
      table: 'Item',
      keys: ['No'],
      fields: [
        s('Item', 'No', 'code', 'no'),
        s('Item', 'Description', 'text', 'description'),
        { name: 'Type', kind: 'option', prop: 'type', options: ITEM_TYPE_NAV },
        s('Item', 'Base_Unit_of_Measure', 'code', 'baseUnitOfMeasure'),
        { name: 'Unit_Price', kind: 'decimal', prop: 'unitPrice' },
        { name: 'Unit_Cost', kind: 'decimal', prop: 'unitCost' },
        s('Item', 'Gen_Prod_Posting_Group', 'code', 'genProdPostingGroup'),
        s('Item', 'VAT_Prod_Posting_Group', 'code', 'vatProdPostingGroup'),
        s('Item', 'Inventory_Posting_Group', 'code', 'inventoryPostingGroup'),
        { name: 'Blocked', kind: 'bool', prop: 'blocked' },
        { name: 'Last_Date_Modified', kind: 'date', readOnly: true, get: modifiedDate },
      ],
    },
    salesInvoice: {
      type: services.salesInvoice,
      namespace: 'NAV',
      table: 'Sales Header',
      keys: ['Document_Type', 'No'],
      lines: { property: services.salesInvoiceLines, set: services.salesInvoiceLines },
      fields: [
        {
          name: 'Document_Type',
          kind: 'option',
          readOnly: true,
          options: DOC_TYPE_NAV,
          get: () => 'Invoice',
        },
        s('SalesInvoice', 'No', 'code', 'no'),
        ...docFields('SalesInvoice'),
        {
          name: 'Status',
          kind: 'option',
          readOnly: true,
          options: [
            ['Open', 'Open'],
            ['Released', 'Released'],
            ['Pending_Approval', 'Pending Approval'],
            ['Pending_Prepayment', 'Pending Prepayment'],
          ],
          get: (r: SalesInvoice) => r.status,
        },
      ],
    },
    salesLine: {
      type: services.salesInvoiceLines,
      namespace: 'NAV',
      table: 'Sales Line',
      keys: ['Document_Type', 'Document_No', 'Line_No'],
      fields: [
        {
          name: 'Document_Type',
          kind: 'option',
          prop: 'documentType',
          options: DOC_TYPE_NAV,
          get: () => 'Invoice',
        },
        ...lineFields('SalesInvoiceSalesLines', parentNo),
      ],
    },
    posted: {
      type: services.postedSalesInvoice,
      namespace: 'NAV',
      table: 'Sales Invoice Header',
      keys: ['No'],
      lines: { property: postedLinesSet(services), set: postedLinesSet(services) },
      fields: (
        [
          s('PostedSalesInvoice', 'No', 'code', 'no'),
          s('PostedSalesInvoice', 'Pre_Assigned_No', 'code', 'preAssignedNo'),
          ...docFields('PostedSalesInvoice'),
          {
            name: 'Amount',
            kind: 'decimal',
            readOnly: true,
            get: (r: PostedSalesInvoice) => documentAmount(r),
          },
        ] as FieldDef[]
      ).map((f) => ({ ...f, readOnly: true })),
    },
    postedLine: {
      type: postedLinesSet(services),
      namespace: 'NAV',
      table: 'Sales Invoice Line',
      keys: ['Document_No', 'Line_No'],
      fields: lineFields('SalesInvoiceSalesLines', parentNo).map((f) => ({ ...f, readOnly: true })),
    },
  };
}

/** Page 132's lines part, as NAV names a published page's subpage: service name + part name. */
export const postedLinesSet = (services: NavServiceNames): string =>
  `${services.postedSalesInvoice}SalesInvLines`;

// ---------------------------------------------------------------------------------------------------------------
// Business Central API v2.0

const lcy = (code: string, c: ReadCtx) => (code === '' ? c.company.lcyCode : code);
const customerOf = (c: ReadCtx, no: string): Customer | undefined => c.company.customers.get(no);
const itemOf = (c: ReadCtx, no: string): Item | undefined => c.company.items.get(no);
const NULL_GUID = '00000000-0000-0000-0000-000000000000';

export const BC_LINE_TYPES = [
  ['Comment', ''],
  ['Account', 'G/L Account'],
  ['Item', 'Item'],
  ['Resource', 'Resource'],
  ['Fixed Asset', 'Fixed Asset'],
  ['Charge', 'Charge (Item)'],
] as const;

export interface BcDefs {
  company: EntityDef;
  customer: EntityDef;
  item: EntityDef;
  salesInvoice: EntityDef;
  salesLine: EntityDef;
}

const bcLineFields: FieldDef[] = [
  { name: 'id', kind: 'guid', readOnly: true, get: (r: SalesLine) => r.id },
  { name: 'documentId', kind: 'guid', prop: 'documentId', get: (_r: SalesLine, c: ReadCtx) => c.parent?.id },
  { name: 'sequence', kind: 'int', prop: 'lineNo' },
  {
    name: 'itemId',
    kind: 'guid',
    prop: 'itemId',
    get: (r: SalesLine, c) => (r.type === 'Item' ? (itemOf(c, r.no)?.id ?? NULL_GUID) : NULL_GUID),
  },
  { name: 'lineType', kind: 'option', prop: 'type', options: BC_LINE_TYPES },
  { name: 'lineObjectNumber', kind: 'code', max: 20, prop: 'no' },
  { name: 'description', kind: 'text', max: 100, prop: 'description' },
  { name: 'unitOfMeasureCode', kind: 'code', max: 10, prop: 'unitOfMeasureCode' },
  { name: 'unitPrice', kind: 'decimal', prop: 'unitPrice' },
  { name: 'quantity', kind: 'decimal', prop: 'quantity' },
  { name: 'discountAmount', kind: 'decimal', readOnly: true, get: () => 0 },
  { name: 'discountPercent', kind: 'decimal', readOnly: true, get: () => 0 },
  { name: 'amountExcludingTax', kind: 'decimal', readOnly: true, get: (r: SalesLine) => lineAmount(r) },
  { name: 'totalTaxAmount', kind: 'decimal', readOnly: true, get: () => 0 },
  { name: 'amountIncludingTax', kind: 'decimal', readOnly: true, get: (r: SalesLine) => lineAmount(r) },
  { name: 'netAmount', kind: 'decimal', readOnly: true, get: (r: SalesLine) => lineAmount(r) },
];

export const BC_DEFS: BcDefs = {
  company: {
    type: 'company',
    namespace: 'Microsoft.NAV',
    table: 'Company',
    keys: ['id'],
    fields: [
      { name: 'id', kind: 'guid', readOnly: true, get: (c: Company) => c.id },
      { name: 'systemVersion', kind: 'text', readOnly: true, get: () => '23.0.12034.12841' },
      { name: 'name', kind: 'text', max: 30, readOnly: true, get: (c: Company) => c.name },
      { name: 'displayName', kind: 'text', max: 250, readOnly: true, get: (c: Company) => c.displayName },
      { name: 'businessProfileId', kind: 'text', readOnly: true, get: () => '' },
    ],
  },
  customer: {
    type: 'customer',
    namespace: 'Microsoft.NAV',
    table: 'Customer',
    keys: ['id'],
    fields: [
      { name: 'id', kind: 'guid', readOnly: true, get: (r: Customer) => r.id },
      { name: 'number', kind: 'code', max: 20, prop: 'no' },
      { name: 'displayName', kind: 'text', max: 100, prop: 'name' },
      {
        name: 'type',
        kind: 'option',
        prop: 'contactType',
        options: [
          ['Company', 'Company'],
          ['Person', 'Person'],
        ],
      },
      { name: 'email', kind: 'text', max: 80, prop: 'email' },
      { name: 'taxRegistrationNumber', kind: 'text', max: 20, prop: 'vatRegistrationNo' },
      {
        name: 'currencyCode',
        kind: 'code',
        max: 10,
        prop: 'currencyCode',
        get: (r: Customer, c) => lcy(r.currencyCode, c),
      },
      {
        name: 'blocked',
        kind: 'option',
        prop: 'blocked',
        options: [
          [' ', ''],
          ['Ship', 'Ship'],
          ['Invoice', 'Invoice'],
          ['All', 'All'],
        ],
      },
      { name: 'lastModifiedDateTime', kind: 'datetime', readOnly: true, get: (r: Customer) => r.modifiedAt },
    ],
  },
  item: {
    type: 'item',
    namespace: 'Microsoft.NAV',
    table: 'Item',
    keys: ['id'],
    fields: [
      { name: 'id', kind: 'guid', readOnly: true, get: (r: Item) => r.id },
      { name: 'number', kind: 'code', max: 20, prop: 'no' },
      { name: 'displayName', kind: 'text', max: 100, prop: 'description' },
      {
        name: 'type',
        kind: 'option',
        prop: 'type',
        options: [
          ['Inventory', 'Inventory'],
          ['Service', 'Service'],
          ['Non-Inventory', 'Non-Inventory'],
        ],
      },
      { name: 'blocked', kind: 'bool', prop: 'blocked' },
      { name: 'unitPrice', kind: 'decimal', prop: 'unitPrice' },
      { name: 'unitCost', kind: 'decimal', prop: 'unitCost' },
      { name: 'baseUnitOfMeasureCode', kind: 'code', max: 10, prop: 'baseUnitOfMeasure' },
      { name: 'generalProductPostingGroupCode', kind: 'code', max: 20, prop: 'genProdPostingGroup' },
      { name: 'inventoryPostingGroupCode', kind: 'code', max: 20, prop: 'inventoryPostingGroup' },
      { name: 'lastModifiedDateTime', kind: 'datetime', readOnly: true, get: (r: Item) => r.modifiedAt },
    ],
  },
  salesInvoice: {
    type: 'salesInvoice',
    namespace: 'Microsoft.NAV',
    table: 'Sales Header',
    keys: ['id'],
    lines: { property: 'salesInvoiceLines', set: 'salesInvoiceLines' },
    fields: [
      { name: 'id', kind: 'guid', readOnly: true, get: (r: SalesInvoice) => r.id },
      { name: 'number', kind: 'code', max: 20, prop: 'no' },
      { name: 'externalDocumentNumber', kind: 'code', max: 35, prop: 'externalDocumentNo' },
      { name: 'invoiceDate', kind: 'date', prop: 'documentDate' },
      { name: 'postingDate', kind: 'date', prop: 'postingDate' },
      { name: 'dueDate', kind: 'date', prop: 'dueDate' },
      {
        name: 'customerId',
        kind: 'guid',
        prop: 'customerId',
        get: (r: SalesInvoice, c) => customerOf(c, r.customerNo)?.id ?? NULL_GUID,
      },
      { name: 'customerNumber', kind: 'code', max: 20, prop: 'customerNo' },
      {
        name: 'customerName',
        kind: 'text',
        max: 100,
        readOnly: true,
        get: (r: SalesInvoice) => r.customerName,
      },
      {
        name: 'currencyCode',
        kind: 'code',
        max: 10,
        prop: 'currencyCode',
        get: (r: SalesInvoice, c) => lcy(r.currencyCode, c),
      },
      { name: 'pricesIncludeTax', kind: 'bool', readOnly: true, get: () => false },
      {
        name: 'totalAmountExcludingTax',
        kind: 'decimal',
        readOnly: true,
        get: (r: SalesInvoice) => documentAmount(r),
      },
      { name: 'totalTaxAmount', kind: 'decimal', readOnly: true, get: () => 0 },
      {
        name: 'totalAmountIncludingTax',
        kind: 'decimal',
        readOnly: true,
        get: (r: SalesInvoice) => documentAmount(r),
      },
      {
        name: 'status',
        kind: 'option',
        readOnly: true,
        options: ['Draft', 'In Review', 'Open', 'Paid', 'Canceled', 'Corrective'].map((v) => [v, v] as const),
        get: (r: SalesInvoice | PostedSalesInvoice, c) => (c.posted ? r.status : 'Draft'),
      },
      {
        name: 'lastModifiedDateTime',
        kind: 'datetime',
        readOnly: true,
        get: (r: SalesInvoice) => r.modifiedAt,
      },
    ],
  },
  salesLine: {
    type: 'salesInvoiceLine',
    namespace: 'Microsoft.NAV',
    table: 'Sales Line',
    keys: ['id'],
    fields: bcLineFields,
  },
};
