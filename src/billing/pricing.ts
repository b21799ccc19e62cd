import type { Money } from '../domain/types.ts';
import { inCurrency, markUp, microsToNumber, toMicros } from './money.ts';
import type { CommonSettings } from './settings.ts';
import type { DesiredCustomer, DesiredLine, DesiredUsageLine, Period } from './types.ts';

export type PricingSource = 'spinpanel' | 'target';

/** The link's override, else SpinPanel's choice for the customer (SpinPanel prices when it has none). */
export function pricingSourceOf(
  customer: Pick<DesiredCustomer, 'pricingSource'>,
  settings: Pick<CommonSettings, 'pricingSource'>,
): PricingSource {
  if (settings.pricingSource !== 'customer') return settings.pricingSource;
  return customer.pricingSource ?? 'spinpanel';
}

export interface LinePrice {
  /** Per seat per billing period, in the customer's currency; null when SpinPanel's is in another currency. */
  unitPrice: number | null;
  unitCost: number | null;
}

/** Months a period bills at once: SpinPanel's prices are monthly equivalents. */
export const MONTHS: Record<Period, bigint> = { month: 1n, year: 12n };

/**
 * The price and cost per seat of a line for its period, in the customer's currency: SpinPanel's price, or its
 * cost plus the service mark-up when one is set; × 12 for a yearly line. A price in another currency than the
 * customer's has no value we could push.
 */
export function linePrice(
  line: { unitPrice: Money; unitCost: Money },
  currency: string,
  settings: Pick<CommonSettings, 'serviceMarkupPercent'>,
  months: bigint = 1n,
): LinePrice {
  const costOk = inCurrency(line.unitCost, currency);
  const cost = costOk ? toMicros(line.unitCost.amount) * months : null;
  const unitCost = cost === null ? null : microsToNumber(cost);
  if (settings.serviceMarkupPercent !== undefined) {
    return {
      unitPrice: cost === null ? null : microsToNumber(markUp(cost, settings.serviceMarkupPercent)),
      unitCost,
    };
  }
  const priceOk = inCurrency(line.unitPrice, currency);
  return { unitPrice: priceOk ? microsToNumber(toMicros(line.unitPrice.amount) * months) : null, unitCost };
}

/** A recurring line's price for its period. */
export const periodPrice = (
  line: Pick<DesiredLine, 'unitPrice' | 'unitCost' | 'period'>,
  currency: string,
  settings: Pick<CommonSettings, 'serviceMarkupPercent'>,
): LinePrice => linePrice(line, currency, settings, MONTHS[line.period]);

/** A usage line's price in millionths: SpinPanel's price, else its cost plus the Azure mark-up. */
export function usageMicros(
  line: Pick<DesiredUsageLine, 'cost' | 'price'>,
  settings: Pick<CommonSettings, 'productMarkupPercent'>,
): { price: bigint; cost: bigint } {
  const cost = toMicros(line.cost.amount);
  const price = line.price ? toMicros(line.price.amount) : markUp(cost, settings.productMarkupPercent);
  return { price, cost };
}

/** True when every amount of a usage line is in `currency`. */
export const usageInCurrency = (line: Pick<DesiredUsageLine, 'cost' | 'price'>, currency: string): boolean =>
  inCurrency(line.cost, currency) && (line.price === null || inCurrency(line.price, currency));
