import type { Row } from './types.ts';

/** The entities the sandbox knows, with the fields each record carries (a subset of Autotask's). */
export const ENTITY_FIELDS = {
  Companies: [
    'id',
    'companyName',
    'companyType',
    'isActive',
    'phone',
    'webAddress',
    'ownerResourceID',
    'currencyID',
    'createDate',
    'userDefinedFields',
  ],
  Contracts: [
    'id',
    'contractName',
    'companyID',
    'contractType',
    'status',
    'startDate',
    'endDate',
    'timeReportingRequiresStartAndStopTimes',
    'contractNumber',
    'description',
    'contractCategory',
    'contractPeriodType',
    'billingPreference',
    'isDefaultContract',
    'serviceLevelAgreementID',
    'purchaseOrderNumber',
    'contactID',
    'setupFee',
    'estimatedRevenue',
    'userDefinedFields',
  ],
  Services: [
    'id',
    'name',
    'description',
    'invoiceDescription',
    'unitPrice',
    'unitCost',
    'periodType',
    'billingCodeID',
    'vendorCompanyID',
    'isActive',
    'markupRate',
    'serviceLevelAgreementID',
    'createDate',
    'lastModifiedDate',
    'userDefinedFields',
  ],
  ContractServices: [
    'id',
    'contractID',
    'serviceID',
    'unitPrice',
    'unitCost',
    'adjustedPrice',
    'invoiceDescription',
    'internalDescription',
    'quoteItemID',
    'internalCurrencyUnitPrice',
    'internalCurrencyAdjustedPrice',
  ],
  ContractServiceUnits: [
    'id',
    'contractID',
    'contractServiceID',
    'serviceID',
    'startDate',
    'endDate',
    'units',
    'price',
    'cost',
    'internalCurrencyPrice',
    'vendorCompanyID',
    'approveAndPostDate',
  ],
  ContractServiceAdjustments: [
    'id',
    'contractID',
    'contractServiceID',
    'serviceID',
    'unitChange',
    'effectiveDate',
    'adjustedUnitPrice',
    'adjustedUnitCost',
    'quoteItemID',
    'allowRepeatService',
  ],
  ContractCharges: [
    'id',
    'contractID',
    'name',
    'description',
    'datePurchased',
    'chargeType',
    'unitQuantity',
    'unitPrice',
    'unitCost',
    'extendedCost',
    'billableAmount',
    'productID',
    'billingCodeID',
    'contractServiceID',
    'isBillableToCompany',
    'isBilled',
    'purchaseOrderNumber',
    'internalPurchaseOrderNumber',
    'notes',
    'status',
    'createDate',
  ],
  BillingCodes: [
    'id',
    'name',
    'description',
    'useType',
    'billingCodeType',
    'isActive',
    'externalNumber',
    'unitPrice',
    'unitCost',
  ],
} as const satisfies Record<string, readonly string[]>;

export type EntityName = keyof typeof ENTITY_FIELDS;

const ENTITY_BY_LOWER = new Map<string, EntityName>(
  (Object.keys(ENTITY_FIELDS) as EntityName[]).map((name) => [name.toLowerCase(), name]),
);

/** Autotask's routing is case-insensitive: 'contracts' and 'CONTRACTS' are the Contracts endpoint. */
export const canonicalEntity = (segment: string): EntityName | undefined =>
  ENTITY_BY_LOWER.get(segment.toLowerCase());

const FIELD_BY_LOWER = new Map<EntityName, Map<string, string>>(
  (Object.keys(ENTITY_FIELDS) as EntityName[]).map((e) => [
    e,
    new Map(ENTITY_FIELDS[e].map((f: string) => [f.toLowerCase(), f])),
  ]),
);

/** The canonical spelling of a field (names are case-insensitive), or undefined when the entity has none. */
export const fieldName = (entity: EntityName, name: string): string | undefined =>
  FIELD_BY_LOWER.get(entity)?.get(name.toLowerCase());

/** A JSON body keyed by canonical field names; unknown properties are dropped, as Autotask's binder does. */
export function canonicalBody(entity: EntityName, body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    const f = fieldName(entity, k);
    if (f) out[f] = v;
  }
  return out;
}

/** A record with every field present (null unless given), so reads show Autotask's full shape. */
export function makeRow(entity: EntityName, id: number, values: Record<string, unknown>): Row {
  const row: Row = { id };
  for (const f of ENTITY_FIELDS[entity]) {
    if (f === 'id') continue;
    row[f] = f === 'userDefinedFields' ? [] : null;
  }
  for (const [k, v] of Object.entries(values)) if (k !== 'id' && v !== undefined) row[k] = v;
  return row;
}
