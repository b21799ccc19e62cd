import type { EntityName } from './fields.ts';
import type { Specs } from './validate.ts';

/** Writable fields of each creatable entity, as the spec describes them. */
export const SPECS = {
  Contracts: {
    contractName: { kind: 'str', required: true, max: 100, updatable: true },
    companyID: { kind: 'int', required: true },
    contractType: { kind: 'int', required: true },
    status: { kind: 'int', required: true, updatable: true },
    startDate: { kind: 'day', required: true, updatable: true },
    endDate: { kind: 'day', required: true, updatable: true },
    timeReportingRequiresStartAndStopTimes: { kind: 'flag', required: true, updatable: true },
    contractNumber: { kind: 'str', max: 50, updatable: true },
    description: { kind: 'str', max: 2000, updatable: true },
    contractCategory: { kind: 'int', updatable: true },
    contractPeriodType: { kind: 'int', updatable: true },
    billingPreference: { kind: 'int', updatable: true },
    isDefaultContract: { kind: 'bool', updatable: true },
    serviceLevelAgreementID: { kind: 'int', updatable: true },
    purchaseOrderNumber: { kind: 'str', max: 50, updatable: true },
    contactID: { kind: 'int', updatable: true },
    setupFee: { kind: 'num', updatable: true },
    estimatedRevenue: { kind: 'num', updatable: true },
  },
  Services: {
    name: { kind: 'str', required: true, max: 100, updatable: true },
    unitPrice: { kind: 'num', required: true, updatable: true },
    periodType: { kind: 'int', required: true, updatable: true },
    billingCodeID: { kind: 'int', required: true, updatable: true },
    unitCost: { kind: 'num', updatable: true },
    description: { kind: 'str', max: 400, updatable: true },
    invoiceDescription: { kind: 'str', max: 1000, updatable: true },
    vendorCompanyID: { kind: 'int', updatable: true },
    isActive: { kind: 'bool', updatable: true },
    markupRate: { kind: 'num', updatable: true },
    serviceLevelAgreementID: { kind: 'int', updatable: true },
  },
  ContractServices: {
    contractID: { kind: 'int', required: true },
    serviceID: { kind: 'int', required: true },
    unitPrice: { kind: 'num', required: true },
    unitCost: { kind: 'num' },
    adjustedPrice: { kind: 'num', updatable: true },
    invoiceDescription: { kind: 'str', max: 1000, updatable: true },
    internalDescription: { kind: 'str', max: 1000, updatable: true },
    quoteItemID: { kind: 'int' },
  },
  ContractServiceAdjustments: {
    contractID: { kind: 'int', required: true },
    contractServiceID: { kind: 'int' },
    serviceID: { kind: 'int' },
    unitChange: { kind: 'int', required: true },
    effectiveDate: { kind: 'day', required: true },
    adjustedUnitPrice: { kind: 'num' },
    adjustedUnitCost: { kind: 'num' },
    quoteItemID: { kind: 'int' },
    allowRepeatService: { kind: 'bool' },
  },
  ContractCharges: {
    contractID: { kind: 'int', required: true },
    name: { kind: 'str', required: true, max: 100, updatable: true },
    datePurchased: { kind: 'day', required: true, updatable: true },
    chargeType: { kind: 'int', required: true, updatable: true },
    unitQuantity: { kind: 'num', required: true, updatable: true },
    productID: { kind: 'int', updatable: true },
    billingCodeID: { kind: 'int', updatable: true },
    contractServiceID: { kind: 'int', updatable: true },
    unitPrice: { kind: 'num', updatable: true },
    unitCost: { kind: 'num', updatable: true },
    isBillableToCompany: { kind: 'bool', updatable: true },
    description: { kind: 'str', max: 2000, updatable: true },
    purchaseOrderNumber: { kind: 'str', max: 50, updatable: true },
    internalPurchaseOrderNumber: { kind: 'str', max: 50, updatable: true },
    notes: { kind: 'str', max: 2000, updatable: true },
    status: { kind: 'int', updatable: true },
  },
} as const satisfies Partial<Record<EntityName, Specs>>;

/** What each entity supports over REST (mirrors Autotask's entityInformation). */
export const CAPABILITIES: Record<
  EntityName,
  { canCreate: boolean; canUpdate: boolean; canQuery: boolean; canDelete: boolean }
> = {
  Companies: { canCreate: false, canUpdate: false, canQuery: true, canDelete: false },
  Contracts: { canCreate: true, canUpdate: true, canQuery: true, canDelete: false },
  Services: { canCreate: true, canUpdate: true, canQuery: true, canDelete: false },
  ContractServices: { canCreate: true, canUpdate: true, canQuery: true, canDelete: false },
  ContractServiceUnits: { canCreate: false, canUpdate: false, canQuery: true, canDelete: false },
  ContractServiceAdjustments: { canCreate: true, canUpdate: false, canQuery: false, canDelete: false },
  ContractCharges: { canCreate: true, canUpdate: true, canQuery: true, canDelete: true },
  BillingCodes: { canCreate: false, canUpdate: false, canQuery: true, canDelete: false },
};

export interface PicklistValue {
  value: number;
  label: string;
  isDefaultValue?: boolean;
  isActive?: boolean;
}

/**
 * Picklists as `entityInformation/fields` lists them. The values are per Autotask instance (an admin can add
 * and retire values), so a client reads them instead of hard-coding ids; the sandbox's can be replaced.
 */
export const DEFAULT_PICKLISTS: Partial<Record<EntityName, Record<string, PicklistValue[]>>> = {
  Companies: {
    companyType: [
      { value: 1, label: 'Customer', isDefaultValue: true },
      { value: 2, label: 'Lead' },
      { value: 3, label: 'Prospect' },
      { value: 4, label: 'Dead' },
      { value: 6, label: 'Cancellation' },
      { value: 7, label: 'Vendor' },
      { value: 8, label: 'Partner' },
    ],
  },
  Contracts: {
    contractType: [
      { value: 1, label: 'Time and Materials' },
      { value: 3, label: 'Fixed Price' },
      { value: 4, label: 'Block Hours' },
      { value: 6, label: 'Retainer' },
      { value: 7, label: 'Recurring Service', isDefaultValue: true },
      { value: 8, label: 'Per Ticket' },
    ],
    status: [
      { value: 0, label: 'Inactive' },
      { value: 1, label: 'Active', isDefaultValue: true },
    ],
  },
  Services: {
    periodType: [
      // As a live tenant lists them (NOTES.md): there is no 1, so a client that hard-codes 1 = Monthly fails.
      { value: 2, label: 'Monthly', isDefaultValue: true },
      { value: 3, label: 'Quarterly' },
      { value: 4, label: 'Semi-Annual' },
      { value: 5, label: 'Yearly' },
    ],
  },
  ContractCharges: {
    chargeType: [
      { value: 1, label: 'Operational', isDefaultValue: true },
      { value: 2, label: 'Capitalized' },
    ],
  },
};

/** Valid contractType values (7 = Recurring Service). */
export const CONTRACT_TYPES = new Set([1, 3, 4, 6, 7, 8]);
export const RECURRING_SERVICE = 7;
