import { z } from 'zod';

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

export const Company = z.looseObject({
  id: z.number().int(),
  companyName: z.string(),
  companyType: z.number().int().nullish(),
  // Autotask sends booleans; some older records and proxies send 0/1.
  isActive: z.union([z.boolean(), z.number()]).transform((v) => v === true || v === 1),
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
  isActive: z.boolean().nullish(),
});
export type Service = z.infer<typeof Service>;

export const ContractService = z.looseObject({
  id: z.number().int(),
  contractID: z.number().int(),
  serviceID: z.number().int(),
  unitPrice: amount,
  unitCost: amount,
});
export type ContractService = z.infer<typeof ContractService>;

export const ContractServiceUnit = z.looseObject({
  id: z.number().int(),
  contractID: z.number().int(),
  contractServiceID: z.number().int(),
  serviceID: z.number().int().nullish(),
  startDate: day,
  endDate: day,
  units: z.number(),
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

export const AutotaskCredentials = z.object({
  /** The API user's user name (an email address); also the zone lookup key. */
  userName: z.string().min(1),
  secret: z.string().min(1),
  /** The tracking identifier of the integration (ApiIntegrationCode header). */
  integrationCode: z.string().min(1),
  impersonationResourceId: z.number().int().positive().optional(),
});
export type AutotaskCredentials = z.infer<typeof AutotaskCredentials>;

export const AutotaskSettings = z.object({
  /** A "Recurring Contract Service" allocation (billing) code, required on every Service. */
  serviceBillingCodeId: z.number().int().positive(),
  /** Day of the month managed contracts start on. */
  contractStartDay: z.number().int().min(1).max(28).default(1),
  contractTermMonths: z.number().int().min(1).max(120).default(12),
  vendorName: z.string().min(1).optional(),
});
export type AutotaskSettings = z.infer<typeof AutotaskSettings>;
export type AutotaskSettingsInput = z.input<typeof AutotaskSettings>;
