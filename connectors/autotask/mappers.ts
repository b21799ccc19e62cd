import type { DesiredCustomer, DesiredLine } from '../types.ts';
import type { AutotaskSettings } from './schemas.ts';

/** Autotask's limit on Service.name, Contract.contractName and ContractCharge.name. */
export const NAME_MAX = 100;
/** Contract type "Recurring Service". */
export const CONTRACT_TYPE_RECURRING_SERVICE = 7;
/** Contract status "Active". */
export const CONTRACT_STATUS_ACTIVE = 1;
/** Service period type "Monthly". */
export const PERIOD_TYPE_MONTHLY = 1;

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

/**
 * Cut a text to at most `max` UTF-16 units (what Autotask counts) without splitting a surrogate pair and
 * without leaving trailing blanks, so the stored name equals the one we look up next time.
 */
export function cutName(text: string, max: number = NAME_MAX): string {
  const trimmed = text.trim();
  if (trimmed.length <= max) return trimmed;
  let cut = trimmed.slice(0, max);
  const last = cut.charCodeAt(cut.length - 1);
  if (last >= 0xd800 && last <= 0xdbff) cut = cut.slice(0, -1);
  return cut.trimEnd();
}

/** A decimal string as a JSON number: Autotask's money fields are numbers. */
export function decimalToNumber(value: string): number {
  const n = Number(value);
  if (!/^-?\d+(\.\d+)?$/.test(value) || !Number.isFinite(n)) throw new RangeError(`not a decimal: ${value}`);
  return n;
}

/** The stable external key of the contract SpinPanel manages for a customer. */
export const managedContractNumber = (customerId: string): string => `SP-${customerId}`;

/** Services the connector creates carry this in their description, so they can be recognised later. */
export const SERVICE_MARKER = 'SpinPanel product ';

/** The Service name a product is created and found under. */
export const serviceName = (productName: string): string => cutName(productName);

/**
 * A Service for a product. `price` is what the plan pushes (mark-up applied); without one (another currency,
 * or prices left to Autotask) SpinPanel's own amounts seed the catalogue entry, which Autotask requires.
 */
export function serviceBody(
  line: Pick<DesiredLine, 'productId' | 'productName' | 'unitPrice' | 'unitCost'>,
  settings: Pick<AutotaskSettings, 'serviceBillingCodeId'>,
  extra: { price?: { unitPrice: number | null; unitCost: number | null }; vendorCompanyId?: number } = {},
): ServiceBody {
  const name = serviceName(line.productName);
  return {
    name,
    description: cutName(`${SERVICE_MARKER}${line.productId}`, 200),
    invoiceDescription: name,
    unitPrice: extra.price?.unitPrice ?? decimalToNumber(line.unitPrice.amount),
    unitCost: extra.price?.unitCost ?? decimalToNumber(line.unitCost.amount),
    periodType: PERIOD_TYPE_MONTHLY,
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

export function addDays(day: string, n: number): string {
  const d = new Date(`${day.slice(0, 10)}T00:00:00Z`);
  d.setUTCDate(d.getUTCDate() + n);
  return d.toISOString().slice(0, 10);
}

/** Start days are at most 28, so adding months never overflows into the following month. */
export function addMonths(day: string, n: number): string {
  const d = new Date(`${day.slice(0, 10)}T00:00:00Z`);
  d.setUTCMonth(d.getUTCMonth() + n);
  return d.toISOString().slice(0, 10);
}
