import type { Money } from '../../src/domain/types.ts';
import type { DesiredCustomer, DesiredLine, DesiredUsageLine } from '../types.ts';
import type { AutotaskSettings } from './schemas.ts';

/**
 * Money arithmetic in millionths (SpinPanel sends up to 6 decimals), rounded half away from zero to cents
 * once at the end, so a mark-up or a sum of usage lines never picks up binary-float noise.
 */
const SCALE = 1_000_000n;

export function toMicros(amount: string): bigint {
  const m = /^(-?)(\d+)(?:\.(\d+))?$/.exec(amount.trim());
  if (!m) throw new RangeError(`not a decimal: ${amount}`);
  const frac = (m[3] ?? '').padEnd(6, '0');
  // Digits past the sixth are rounded, not cut.
  const extra = frac.length > 6 && Number(frac[6]) >= 5 ? 1n : 0n;
  const micros = BigInt(m[2]!) * SCALE + BigInt(frac.slice(0, 6)) + extra;
  return m[1] === '-' ? -micros : micros;
}

/** Cents of an amount in millionths, half away from zero. */
function roundToCents(micros: bigint): bigint {
  const neg = micros < 0n;
  const abs = neg ? -micros : micros;
  const cents = (abs + 5_000n) / 10_000n;
  return neg ? -cents : cents;
}

export const microsToNumber = (micros: bigint): number => Number(roundToCents(micros)) / 100;

/** `micros × (1 + percent / 100)`, the percent taken to 4 decimals. */
export function markUp(micros: bigint, percent: number): bigint {
  const p = BigInt(Math.round(percent * 10_000));
  return (micros * (1_000_000n + p)) / 1_000_000n;
}

/** Autotask keeps money to 2 decimals on invoices: prices within half a cent are the same price. */
export const samePrice = (a: number | null | undefined, b: number | null | undefined): boolean =>
  typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) < 0.005;

export type PricingSource = 'spinpanel' | 'target';

/** The link's override, else SpinPanel's choice for the customer (SpinPanel prices when it has none). */
export function pricingSourceOf(
  customer: Pick<DesiredCustomer, 'pricingSource'>,
  settings: Pick<AutotaskSettings, 'pricingSource'>,
): PricingSource {
  if (settings.pricingSource !== 'customer') return settings.pricingSource;
  return customer.pricingSource ?? 'spinpanel';
}

export interface LinePrice {
  /** In the customer's currency; null when SpinPanel's price is in another currency than the customer's. */
  unitPrice: number | null;
  unitCost: number | null;
}

const inCurrency = (money: Money, currency: string): boolean => money.currency === currency;

/**
 * The price and cost of a licence line in the customer's currency: SpinPanel's price, or its cost plus the
 * service mark-up when one is set. A line priced in another currency has no price we could push.
 */
export function linePrice(
  line: Pick<DesiredLine, 'unitPrice' | 'unitCost'>,
  currency: string,
  settings: Pick<AutotaskSettings, 'serviceMarkupPercent'>,
): LinePrice {
  const costOk = inCurrency(line.unitCost, currency);
  const unitCost = costOk ? microsToNumber(toMicros(line.unitCost.amount)) : null;
  if (settings.serviceMarkupPercent !== undefined) {
    return {
      unitPrice: costOk
        ? microsToNumber(markUp(toMicros(line.unitCost.amount), settings.serviceMarkupPercent))
        : null,
      unitCost,
    };
  }
  const priceOk = inCurrency(line.unitPrice, currency);
  return { unitPrice: priceOk ? microsToNumber(toMicros(line.unitPrice.amount)) : null, unitCost };
}

/** A usage line's price in millionths: SpinPanel's price, else its cost plus the Azure mark-up. */
export function usageMicros(
  line: Pick<DesiredUsageLine, 'cost' | 'price'>,
  settings: Pick<AutotaskSettings, 'productMarkupPercent'>,
): { price: bigint; cost: bigint } {
  const cost = toMicros(line.cost.amount);
  const price = line.price ? toMicros(line.price.amount) : markUp(cost, settings.productMarkupPercent);
  return { price, cost };
}

/** True when every amount of a usage line is in `currency`. */
export const usageInCurrency = (line: Pick<DesiredUsageLine, 'cost' | 'price'>, currency: string): boolean =>
  inCurrency(line.cost, currency) && (line.price === null || inCurrency(line.price, currency));
