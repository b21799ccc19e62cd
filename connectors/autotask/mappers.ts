import { cutText } from '../../src/billing/charges.ts';
import { addDays, addMonths } from '../../src/billing/dates.ts';
import { itemName } from '../../src/billing/items.ts';
import { decimalToNumber } from '../../src/billing/money.ts';
import type { Period } from '../../src/billing/types.ts';
import type { DesiredCustomer, DesiredLine } from '../types.ts';
import type { AutotaskSettings } from './schemas.ts';

export { addDays, addMonths, decimalToNumber };

/** Autotask's limit on Service.name, Contract.contractName and ContractCharge.name. */
export const NAME_MAX = 100;
/** Contract type "Recurring Service". */
export const CONTRACT_TYPE_RECURRING_SERVICE = 7;
/** Contract status "Active". */
export const CONTRACT_STATUS_ACTIVE = 1;

export interface ServiceBody {
  name: string;
  description: string;
  invoiceDescription: string;
  unitPrice: number;
  unitCost: number;
  periodType: number;
  billingCodeID: number;
  isActive: true;
  vendorCompanyID?: number;
}

export interface ContractBody {
  contractName: string;
  contractNumber: string;
  contractType: number;
  status: number;
  companyID: number;
  startDate: string;
  endDate: string;
  timeReportingRequiresStartAndStopTimes: 1;
  description: string;
}

/** Cut to Autotask's field length without splitting a surrogate pair or leaving trailing blanks. */
export const cutName = (text: string, max: number = NAME_MAX): string => cutText(text, max);

/** The stable external key of the contract SpinPanel manages for a customer. */
export const managedContractNumber = (customerId: string): string => `SP-${customerId}`;

/**
 * Services the connector creates carry this in their description (`SpinPanel product <productId>`), so they
 * can be recognised later by product, whatever their name has become.
 */
export const SERVICE_MARKER = 'SpinPanel product ';

/** The product a service's marker names, if it carries one. */
export function markedProduct(description: string | null | undefined): string | undefined {
  if (typeof description !== 'string' || !description.startsWith(SERVICE_MARKER)) return undefined;
  return description.slice(SERVICE_MARKER.length).trim().split(/\s+/)[0] || undefined;
}

/** The Service name a product is created and found under (yearly lines have a service of their own). */
export const serviceName = (productName: string, period: Period = 'month'): string =>
  itemName(productName, period, NAME_MAX);

const times = (amount: string, months: number) => Math.round(decimalToNumber(amount) * months * 100) / 100;

/**
 * A Service for a product and period. `price` is what the plan pushes (per period, mark-up applied); without
 * one (another currency, or prices left to Autotask) SpinPanel's own amounts seed the catalogue entry, which
 * Autotask requires.
 */
export function serviceBody(
  line: Pick<DesiredLine, 'productId' | 'productName' | 'unitPrice' | 'unitCost' | 'period'>,
  settings: Pick<AutotaskSettings, 'serviceBillingCodeId'>,
  extra: {
    periodType: number;
    price?: { unitPrice: number | null; unitCost: number | null };
    vendorCompanyId?: number;
  },
): ServiceBody {
  const name = serviceName(line.productName, line.period);
  const months = line.period === 'year' ? 12 : 1;
  return {
    name,
    description: cutName(
      `${SERVICE_MARKER}${line.productId}${line.period === 'year' ? ' (yearly)' : ''}`,
      200,
    ),
    invoiceDescription: name,
    unitPrice: extra.price?.unitPrice ?? times(line.unitPrice.amount, months),
    unitCost: extra.price?.unitCost ?? times(line.unitCost.amount, months),
    periodType: extra.periodType,
    billingCodeID: settings.serviceBillingCodeId,
    isActive: true,
    ...(extra.vendorCompanyId !== undefined ? { vendorCompanyID: extra.vendorCompanyId } : {}),
  };
}

/**
 * The managed contract of a customer: it starts on the contract start day on or before `today` and runs whole
 * terms until it covers `coverUntil` (the effective date may lie in the next period).
 */
export function contractBody(
  customer: Pick<DesiredCustomer, 'customerId' | 'name'>,
  companyId: number,
  settings: Pick<AutotaskSettings, 'contractStartDay' | 'contractTermMonths'>,
  today: string,
  coverUntil: string = today,
): ContractBody {
  const startDate = contractStart(today, settings.contractStartDay);
  return {
    contractName: cutName(`SpinPanel – ${customer.name}`),
    contractNumber: managedContractNumber(customer.customerId),
    contractType: CONTRACT_TYPE_RECURRING_SERVICE,
    status: CONTRACT_STATUS_ACTIVE,
    companyID: companyId,
    startDate,
    endDate: termEnd(startDate, settings.contractTermMonths, coverUntil),
    timeReportingRequiresStartAndStopTimes: 1,
    description: 'Managed by SpinPanel billing sync: licence quantities are adjusted automatically.',
  };
}

/** The last day of the first whole number of `months`-long terms from `start` that reaches `coverUntil`. */
export function termEnd(start: string, months: number, coverUntil: string): string {
  let n = 1;
  while (addDays(addMonths(start, months * n), -1) < coverUntil) n++;
  return addDays(addMonths(start, months * n), -1);
}

/**
 * The start day of the current month, or of the previous month when that day is still ahead, so `today`
 * (the effective date of the first adjustments) always lies inside the new contract.
 */
export function contractStart(today: string, startDay: number): string {
  const [y, m, d] = today.split('-').map(Number) as [number, number, number];
  const monthStart = new Date(Date.UTC(y, m - 1, startDay));
  if (startDay > d) monthStart.setUTCMonth(monthStart.getUTCMonth() - 1);
  return monthStart.toISOString().slice(0, 10);
}
