import { z } from 'zod';
import { isTimeZone } from './dates.ts';

const percent = z.number().min(-100).max(1000);

/**
 * Settings every link has, whatever its target: the billing rules the core applies. A connector's own
 * settings extend this schema; the names are the same for every target.
 */
export const CommonSettings = z.object({
  /**
   * IANA time zone of the partner's billing day ("today", month boundaries, usage finality, contract starts).
   * Unset: the SpinPanel account's `timeZone`, else UTC.
   */
  timeZone: z
    .string()
    .trim()
    .refine(isTimeZone, { message: 'not a known IANA time zone (e.g. Europe/Amsterdam)' })
    .optional(),
  /** Which SpinPanel number is billed: purchased seats or assigned licences. */
  quantityBasis: z.enum(['quantity', 'assignedLicenses']).default('quantity'),
  /**
   * `change-date`: a quantity change is dated the local day it is seen (a second one that day waits for the
   * next day); `next-period`: a month's changes are posted by the first run of the next month, dated its 1st.
   */
  effectiveDatePolicy: z.enum(['change-date', 'next-period']).default('change-date'),
  /** `customer` follows SpinPanel's per-customer choice; `spinpanel`/`target` override it for every customer. */
  pricingSource: z.enum(['customer', 'spinpanel', 'target']).default('customer'),
  /**
   * Annual and triennial subscriptions: `subscription` bills them on a yearly line at 12× the monthly price;
   * `monthly` bills every subscription on a monthly line.
   */
  termBilling: z.enum(['subscription', 'monthly']).default('subscription'),
  /** CSP licences: when set, the price pushed is SpinPanel's cost plus this mark-up; unset: SpinPanel's price. */
  serviceMarkupPercent: percent.optional(),
  /** Azure usage lines without a SpinPanel price: cost plus this mark-up. @defaultValue 0 */
  productMarkupPercent: percent.default(0),
  /** One usage charge per customer and month (true) or one per Azure product (false). */
  bundleUsage: z.boolean().default(true),
  /** Name of the bundled usage charge; the month is appended. */
  usageChargeName: z.string().trim().min(1).max(80).default('Microsoft Azure usage'),
  /** Closed months of usage read each run: the last one and earlier ones, to catch a missed month. */
  usageMonths: z.number().int().min(1).max(12).default(2),
  /**
   * `auto`: scheduled runs apply their plan. `review`: they plan and wait for an admin to approve that plan, and
   * "sync now" only plans unless it applies an approved run.
   */
  approval: z.enum(['auto', 'review']).default('auto'),
});
export type CommonSettings = z.infer<typeof CommonSettings>;
export type CommonSettingsInput = z.input<typeof CommonSettings>;
