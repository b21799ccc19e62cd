import { describe, expect, it } from 'vitest';
import {
  decimalToNumber,
  markUp,
  microsToDecimal,
  microsToNumber,
  normalAmount,
  samePrice,
  toMicros,
} from '../../src/billing/money.ts';
import {
  linePrice,
  periodPrice,
  pricingSourceOf,
  usageInCurrency,
  usageMicros,
} from '../../src/billing/pricing.ts';

const money = (amount: string, currency = 'EUR') => ({ amount, currency });

describe('billing money', () => {
  it('does money in millionths and rounds to cents once, half away from zero', () => {
    expect(toMicros('12.3400')).toBe(12_340_000n);
    expect(toMicros('-0.5')).toBe(-500_000n);
    expect(toMicros('0.0000005')).toBe(1n); // a 7th decimal is rounded, not cut
    expect(microsToNumber(toMicros('1.005'))).toBe(1.01);
    expect(microsToNumber(toMicros('-1.005'))).toBe(-1.01);
    // Three lines of 0.3333 add up exactly before rounding: 0.9999 → 1.00, not 0.99.
    expect(microsToNumber(toMicros('0.3333') * 3n)).toBe(1);
    expect(() => toMicros('1e3')).toThrow(RangeError);
  });

  it('writes amounts as decimals with cents, so one price always reads the same (line keys)', () => {
    expect(microsToDecimal(toMicros('12.6'))).toBe('12.60');
    expect(microsToDecimal(toMicros('-0.005'))).toBe('-0.01');
    expect(normalAmount('12.5000')).toBe('12.50');
    expect(normalAmount('12.50')).toBe(normalAmount('12.5'));
    expect(normalAmount('10.499')).toBe('10.50');
    expect(normalAmount('7')).toBe('7.00');
  });

  it('rejects money that is not a decimal string', () => {
    expect(() => decimalToNumber('1e3')).toThrow(RangeError);
    expect(() => decimalToNumber('')).toThrow(RangeError);
    expect(decimalToNumber('-0.5')).toBe(-0.5);
  });

  it('applies a mark-up percentage to a cost', () => {
    expect(microsToNumber(markUp(toMicros('10.00'), 15))).toBe(11.5);
    expect(microsToNumber(markUp(toMicros('19.99'), 12.5))).toBe(22.49);
    expect(microsToNumber(markUp(toMicros('8.00'), 0))).toBe(8);
    expect(microsToNumber(markUp(toMicros('8.00'), -100))).toBe(0);
  });

  it('treats amounts within half a cent as the same price', () => {
    expect(samePrice(12.5, 12.5)).toBe(true);
    expect(samePrice(12.5, 12.504)).toBe(true);
    expect(samePrice(12.5, 12.51)).toBe(false);
    expect(samePrice(null, 12.5)).toBe(false);
    expect(samePrice(12.5, undefined)).toBe(false);
  });
});

describe('billing pricing', () => {
  it('prices a licence line from SpinPanel’s price, or from its cost plus the service mark-up', () => {
    const line = { unitPrice: money('12.5000'), unitCost: money('10.0000') };
    expect(linePrice(line, 'EUR', {})).toEqual({ unitPrice: 12.5, unitCost: 10 });
    expect(linePrice(line, 'EUR', { serviceMarkupPercent: 20 })).toEqual({ unitPrice: 12, unitCost: 10 });
  });

  it('prices a yearly line at 12 times SpinPanel’s monthly price and cost, mark-up included', () => {
    const line = { unitPrice: money('10.50'), unitCost: money('8.3333') };
    expect(periodPrice({ ...line, period: 'month' }, 'EUR', {})).toEqual({ unitPrice: 10.5, unitCost: 8.33 });
    // 8.3333 × 12 = 99.9996: multiplied before rounding, so 100.00 and not 12 × 8.33 = 99.96.
    expect(periodPrice({ ...line, period: 'year' }, 'EUR', {})).toEqual({ unitPrice: 126, unitCost: 100 });
    expect(periodPrice({ ...line, period: 'year' }, 'EUR', { serviceMarkupPercent: 10 })).toEqual({
      unitPrice: 110,
      unitCost: 100,
    });
  });

  it('has no price to push when SpinPanel prices in another currency than the customer’s', () => {
    const line = { unitPrice: money('12.50', 'USD'), unitCost: money('10.00', 'USD') };
    expect(linePrice(line, 'EUR', {})).toEqual({ unitPrice: null, unitCost: null });
    // A mark-up on a cost in another currency has no value either.
    expect(linePrice(line, 'EUR', { serviceMarkupPercent: 20 })).toEqual({ unitPrice: null, unitCost: null });
    // Only the price is foreign: the cost still counts.
    const mixed = { unitPrice: money('12.50', 'USD'), unitCost: money('10.00') };
    expect(linePrice(mixed, 'EUR', {})).toEqual({ unitPrice: null, unitCost: 10 });
  });

  it('marks up usage cost only where SpinPanel gives no price', () => {
    const s = { productMarkupPercent: 10 };
    expect(usageMicros({ cost: money('100.00'), price: null }, s)).toEqual({
      price: 110_000_000n,
      cost: 100_000_000n,
    });
    expect(usageMicros({ cost: money('100.00'), price: money('105.00') }, s).price).toBe(105_000_000n);
  });

  it('checks every amount of a usage line against the customer’s currency', () => {
    expect(usageInCurrency({ cost: money('1.00'), price: null }, 'EUR')).toBe(true);
    expect(usageInCurrency({ cost: money('1.00'), price: money('2.00', 'USD') }, 'EUR')).toBe(false);
    expect(usageInCurrency({ cost: money('1.00', 'USD'), price: money('2.00') }, 'EUR')).toBe(false);
  });

  it('follows SpinPanel’s per-customer pricing source unless the link overrides it', () => {
    expect(pricingSourceOf({ pricingSource: 'target' }, { pricingSource: 'customer' })).toBe('target');
    expect(pricingSourceOf({}, { pricingSource: 'customer' })).toBe('spinpanel');
    expect(pricingSourceOf({ pricingSource: 'target' }, { pricingSource: 'spinpanel' })).toBe('spinpanel');
    expect(pricingSourceOf({ pricingSource: 'spinpanel' }, { pricingSource: 'target' })).toBe('target');
  });
});
