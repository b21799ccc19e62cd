import { z } from 'zod';
import { CommonSettings } from '../../src/billing/settings.ts';

/**
 * Shapes of what the connector reads from Autotask. Loose objects: Autotask returns dozens of fields per
 * entity (and more with each release); only the ones the sync relies on are checked.
 */

/** Autotask renders dates as date-times (`2024-05-01T00:00:00Z`); the sync works in days. */
const day = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}/, 'expected a date')
  .transform((s) => s.slice(0, 10));

/** Money fields come as JSON numbers, sometimes null on records made in the UI. */
const amount = z.number().nullable().optional();

export const ZoneInformation = z.looseObject({
  url: z.string().url(),
  zoneName: z.string().nullish(),
  webUrl: z.string().nullish(),
  ci: z.number().nullish(),
});
export type ZoneInformation = z.infer<typeof ZoneInformation>;

/** Autotask's UDF list on a record: `[{ "name": "<label>", "value": "…" }]`. */
const Udfs = z
  .array(z.looseObject({ name: z.string(), value: z.unknown() }))
  .nullish()
  .transform((list) => list ?? []);

export const Company = z.looseObject({
  id: z.number().int(),
  companyName: z.string(),
  companyType: z.number().int().nullish(),
  // Autotask sends booleans; some older records and proxies send 0/1.
  isActive: z.union([z.boolean(), z.number()]).transform((v) => v === true || v === 1),
  userDefinedFields: Udfs.optional(),
});
export type Company = z.infer<typeof Company>;

export const Contract = z.looseObject({
  id: z.number().int(),
  contractName: z.string().nullish(),
  contractNumber: z.string().nullish(),
  companyID: z.number().int(),
  contractType: z.number().int().nullish(),
  status: z.number().int().nullish(),
  startDate: day,
  endDate: day,
});
export type Contract = z.infer<typeof Contract>;

export const Service = z.looseObject({
  id: z.number().int(),
  name: z.string(),
  description: z.string().nullish(),
  unitPrice: amount,
  unitCost: amount,
  billingCodeID: z.number().int().nullish(),
  periodType: z.number().int().nullish(),
  vendorCompanyID: z.number().int().nullish(),
  isActive: z.boolean().nullish(),
});
export type Service = z.infer<typeof Service>;

export const ContractService = z.looseObject({
  id: z.number().int(),
  contractID: z.number().int(),
  serviceID: z.number().int(),
  /** Customer currency (the `internalCurrency*` fields are the MSP's own and never compared). */
  unitPrice: amount,
  adjustedPrice: amount,
  unitCost: amount,
});
export type ContractService = z.infer<typeof ContractService>;

export const ContractCharge = z.looseObject({
  id: z.number().int(),
  contractID: z.number().int(),
  name: z.string().nullish(),
  datePurchased: day.nullish(),
  unitQuantity: z.number().nullish(),
  unitPrice: amount,
  unitCost: amount,
  purchaseOrderNumber: z.string().nullish(),
  isBilled: z.boolean().nullish(),
});
export type ContractCharge = z.infer<typeof ContractCharge>;

/** One field of `GET {Entity}/entityInformation/fields`; picklist values differ per Autotask instance. */
export const FieldInfo = z.looseObject({
  name: z.string(),
  isPickList: z.boolean().nullish(),
  picklistValues: z
    .array(
      z.looseObject({
        value: z.union([z.string(), z.number()]),
        label: z.string(),
        isDefaultValue: z.boolean().nullish(),
        isActive: z.boolean().nullish(),
      }),
    )
    .nullish(),
});
export const FieldsResponse = z.looseObject({ fields: z.array(FieldInfo) });
export type FieldInfo = z.infer<typeof FieldInfo>;

export const ContractServiceUnit = z.looseObject({
  id: z.number().int(),
  contractID: z.number().int(),
  contractServiceID: z.number().int(),
  serviceID: z.number().int().nullish(),
  startDate: day,
  endDate: day,
  units: z.number(),
  /** The row's amount: the total for its units on a live tenant (units × rate), per seat on some (NOTES.md). */
  price: amount,
});
export type ContractServiceUnit = z.infer<typeof ContractServiceUnit>;

/** `POST {Entity}` and `PATCH {Entity}` answer `{"itemId": N}`; N can be null on a create that succeeded. */
export const ItemIdResponse = z.looseObject({ itemId: z.number().int().nullable().optional() });

export const QueryResponse = z.looseObject({
  items: z.array(z.unknown()),
  pageDetails: z.looseObject({ count: z.number().optional() }).nullish(),
});

export const ThresholdInformation = z.looseObject({
  externalRequestThreshold: z.number(),
  requestThresholdTimeframe: z.number(),
  currentTimeframeRequestCount: z.number(),
});
export type ThresholdInformation = z.infer<typeof ThresholdInformation>;

export const AutotaskCredentials = z.strictObject({
  /** The API user's user name (an email address); also the zone lookup key. */
  userName: z.string().min(1),
  secret: z.string().min(1),
  /** The tracking identifier of the integration (ApiIntegrationCode header). */
  integrationCode: z.string().min(1),
  impersonationResourceId: z.number().int().positive().optional(),
});
export type AutotaskCredentials = z.infer<typeof AutotaskCredentials>;

/**
 * Per-link settings (documented in the README's settings table): the billing core's common settings and
 * Autotask's own. Validated when a link is made or its settings are changed; a bad field is a 400 naming it.
 */
export const AutotaskSettings = CommonSettings.extend({
  /** A "Recurring Contract Service" allocation (billing) code, required on every Service created. */
  serviceBillingCodeId: z.number().int().positive(),
  /** The allocation (material) code of Azure usage charges; usage is posted only when it is set. */
  azureBillingCodeId: z.number().int().positive().optional(),
  /** The allocation code of perpetual licences' one-time charges; unset: the Azure one, else none are posted. */
  oneOffBillingCodeId: z.number().int().positive().optional(),
  /** An Autotask company (the distributor, e.g. Microsoft or a CSP indirect provider) set as vendor on Services. */
  vendorName: z.string().trim().min(1).max(100).optional(),
  /** Day of the month managed contracts start on. */
  contractStartDay: z.number().int().min(1).max(28).default(1),
  contractTermMonths: z.number().int().min(1).max(120).default(12),
  /** Create a Service for a product no Service matches; off: such products are reported as unmapped. */
  createMissingServices: z.boolean().default(true),
  /** Label of a company UDF holding the Microsoft tenant id: companies are matched by it before by name. */
  tenantIdUdf: z.string().trim().min(1).max(100).optional(),
});
export type AutotaskSettings = z.infer<typeof AutotaskSettings>;
export type AutotaskSettingsInput = z.input<typeof AutotaskSettings>;
