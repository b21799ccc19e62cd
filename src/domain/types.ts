import { z } from 'zod';

/** Money travels as a decimal string, never a float. */
export const Money = z.object({
  amount: z.string().regex(/^-?\d+(\.\d+)?$/, 'amount must be a decimal string'),
  currency: z.string().regex(/^[A-Z]{3}$/, 'currency must be an ISO 4217 code'),
});
export type Money = z.infer<typeof Money>;

const isoDate = z.string().regex(/^\d{4}-\d{2}-\d{2}$/, 'expected YYYY-MM-DD');
const timestamp = z.string().datetime({ offset: true });

export const Account = z.object({
  id: z.string().min(1),
  name: z.string(),
  region: z.string(),
  currency: z.string().regex(/^[A-Z]{3}$/),
  /** IANA zone of the partner's billing day; absent on older accounts. */
  timeZone: z.string().min(1).optional(),
});
export type Account = z.infer<typeof Account>;

export const Customer = z.object({
  id: z.string().min(1),
  name: z.string().min(1),
  microsoftTenantId: z.string().min(1),
  primaryDomain: z.string(),
  countryCode: z.string().length(2),
  currency: z.string().regex(/^[A-Z]{3}$/),
  status: z.enum(['active', 'suspended', 'offboarded']),
  billing: z.object({
    enabled: z.boolean(),
    sendAllSubscriptions: z.boolean(),
    pricingSource: z.enum(['spinpanel', 'target']),
  }),
  billingContact: z.object({ name: z.string(), email: z.string() }).nullable(),
  updatedAt: timestamp,
});
export type Customer = z.infer<typeof Customer>;

export const Subscription = z.object({
  id: z.string().min(1),
  customerId: z.string().min(1),
  productId: z.string().min(1),
  productName: z.string().min(1),
  offerType: z.enum(['license', 'nce', 'perpetual']),
  billingFrequency: z.enum(['monthly', 'annual', 'triennial']),
  termDuration: z.enum(['P1M', 'P1Y', 'P3Y']),
  quantity: z.number().int().nonnegative(),
  assignedLicenses: z.number().int().nonnegative().nullable(),
  unitCost: Money,
  unitPrice: Money,
  status: z.enum(['active', 'suspended', 'cancelled']),
  billingEnabled: z.boolean(),
  startDate: isoDate,
  commitmentEndDate: isoDate.nullable(),
  updatedAt: timestamp,
});
export type Subscription = z.infer<typeof Subscription>;

export const UsageLine = z.object({
  id: z.string().min(1),
  customerId: z.string().min(1),
  period: z.string().regex(/^\d{4}-\d{2}$/),
  resourceGroup: z.string().nullable(),
  meterCategory: z.string(),
  productName: z.string(),
  unit: z.string(),
  quantity: z.string().regex(/^\d+(\.\d+)?$/),
  cost: Money,
  price: Money.nullable(),
});
export type UsageLine = z.infer<typeof UsageLine>;

/** A source record that failed validation: kept out of the plan and listed on the run. */
export interface Quarantined {
  kind: 'customer' | 'subscription' | 'usage';
  id: string | null;
  customerId?: string;
  reason: string;
}

/** One validated pull of an account's billing data. */
export interface Snapshot {
  account: Account;
  customers: Customer[];
  subscriptions: Subscription[];
  /** Azure usage of the closed months the link posts; absent when none were read. */
  usage?: UsageLine[];
  quarantined: Quarantined[];
  pulledAt: string;
}
