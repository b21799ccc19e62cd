import { z } from 'zod';
import { CommonSettings } from '../../src/billing/settings.ts';

const code = z.string().trim().min(1).max(20);

/**
 * Per-link settings of a NAV / Business Central link: the billing core's common ones and the ERP's own.
 * Posting groups and the unit of measure are sent on what the sync creates; unset, the company's defaults or
 * templates apply (and posting fails later, with NAV's words, if it has none).
 */
export const NavisionSettings = CommonSettings.extend({
  /** Local day of the month from which the month's invoice is made (usage of the closed month is final then). */
  invoiceDay: z.number().int().min(5).max(28).default(5),
  /**
   * The customer field (as the API names it, e.g. a page field `Microsoft_Tenant_ID`) holding the Microsoft tenant
   * id: customers are matched by it before their name. Unset: by number (mapping, ledger), then name.
   */
  tenantIdField: z
    .string()
    .trim()
    .regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a field name')
    .optional(),
  /** Create an ERP customer for a SpinPanel customer none matches; off: it is reported with suggestions. */
  createMissingCustomers: z.boolean().default(false),
  /** Create a Service item for a product none matches; off: the product is reported. */
  createMissingItems: z.boolean().default(true),
  /** Post each invoice once it is complete (`Microsoft.NAV.post` / NAV's posting action). */
  postInvoices: z.boolean().default(false),
  /** NAV's bound posting action on the published Sales Invoice page (NAV 2018+). */
  navPostAction: z.string().trim().min(1).max(80).default('Post'),
  /** The item Azure usage is invoiced under: an existing item number; unset: an item made for it. */
  usageItemNo: code.optional(),
  unitOfMeasure: code.default('PCS'),
  customerPostingGroup: code.optional(),
  genBusPostingGroup: code.optional(),
  vatBusPostingGroup: code.optional(),
  genProdPostingGroup: code.optional(),
  vatProdPostingGroup: code.optional(),
});
export type NavisionSettings = z.infer<typeof NavisionSettings>;
export type NavisionSettingsInput = z.input<typeof NavisionSettings>;
