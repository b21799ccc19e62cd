import type { Flavour } from './schemas.ts';

/**
 * Field names by flavour: NAV's page web services name fields after their captions with underscores
 * (`Sell_to_Customer_No`), Business Central's API in camelCase (`customerNumber`).
 */
export interface Fields {
  customer: { number: string; name: string; blocked: string };
  item: {
    number: string;
    name: string;
    type: string;
    unit: string;
    price: string;
  };
  invoice: { number: string; customer: string; external: string; date: string };
  line: {
    type: string;
    itemType: string;
    number: string;
    description: string;
    quantity: string;
    unitPrice: string;
  };
  /** Posting-group fields of customers and items: NAV's pages have them; BC's API v2.0 has none (its templates apply). */
  customerGroups?: { posting: string; genBus: string; vatBus: string };
  itemGroups?: { genProd: string; vatProd: string };
}

const NAV: Fields = {
  customer: { number: 'No', name: 'Name', blocked: 'Blocked' },
  item: {
    number: 'No',
    name: 'Description',
    type: 'Type',
    unit: 'Base_Unit_of_Measure',
    price: 'Unit_Price',
  },
  itemGroups: { genProd: 'Gen_Prod_Posting_Group', vatProd: 'VAT_Prod_Posting_Group' },
  invoice: {
    number: 'No',
    customer: 'Sell_to_Customer_No',
    external: 'External_Document_No',
    date: 'Posting_Date',
  },
  line: {
    type: 'Type',
    itemType: 'Item',
    number: 'No',
    description: 'Description',
    quantity: 'Quantity',
    unitPrice: 'Unit_Price',
  },
  customerGroups: {
    posting: 'Customer_Posting_Group',
    genBus: 'Gen_Bus_Posting_Group',
    vatBus: 'VAT_Bus_Posting_Group',
  },
};

const BC: Fields = {
  customer: { number: 'number', name: 'displayName', blocked: 'blocked' },
  item: {
    number: 'number',
    name: 'displayName',
    type: 'type',
    unit: 'baseUnitOfMeasureCode',
    price: 'unitPrice',
  },
  invoice: {
    number: 'number',
    customer: 'customerNumber',
    external: 'externalDocumentNumber',
    date: 'invoiceDate',
  },
  line: {
    type: 'lineType',
    itemType: 'Item',
    number: 'lineObjectNumber',
    description: 'description',
    quantity: 'quantity',
    unitPrice: 'unitPrice',
  },
};

export const fieldsOf = (flavour: Flavour): Fields => (flavour === 'nav-odata' ? NAV : BC);

/** Documented BC text lengths (API v2.0): displayName 100, line description 100; NAV reads `$metadata`. */
export const BC_LENGTHS = { itemName: 100, customerName: 100, lineDescription: 100 };

/** The product the link's Azure usage is invoiced under when no item number is set. */
export const USAGE_PRODUCT = 'AZURE-USAGE';
