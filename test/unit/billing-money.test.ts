import { describe, expect, it } from 'vitest';
import {
  linePrice,
  markUp,
  microsToNumber,
  pricingSourceOf,
  samePrice,
  toMicros,
  usageMicros,
} from '../../connectors/autotask/pricing.ts';

const money = (amount: string, currency = 'EUR') => ({ amount, currency });

describe('autotask pricing', () => {
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

  it('applies a mark-up percentage to a cost', () => {
    expect(microsToNumber(markUp(toMicros('10.00'), 15))).toBe(11.5);
    expect(microsToNumber(markUp(toMicros('19.99'), 12.5))).toBe(22.49);
    expect(microsToNumber(markUp(toMicros('8.00'), 0))).toBe(8);
    expect(microsToNumber(markUp(toMicros('8.00'), -100))).toBe(0);
  });

  it('prices a licence line from SpinPanel’s price, or from its cost plus the service mark-up', () => {
    const line = { unitPrice: money('12.5000'), unitCost: money('10.0000') };
    expect(linePrice(line, 'EUR', {})).toEqual({ unitPrice: 12.5, unitCost: 10 });
    expect(linePrice(line, 'EUR', { serviceMarkupPercent: 20 })).toEqual({ unitPrice: 12, unitCost: 10 });
  });

  it('has no price to push when SpinPanel prices in another currency than the customer’s', () => {
    const line = { unitPrice: money('12.50', 'USD'), unitCost: money('10.00', 'USD') };
    expect(linePrice(line, 'EUR', {})).toEqual({ unitPrice: null, unitCost: null });
  });

  it('marks up usage cost only where SpinPanel gives no price', () => {
    const s = { productMarkupPercent: 10 };
    expect(usageMicros({ cost: money('100.00'), price: null }, s).price).toBe(110_000_000n);
    expect(usageMicros({ cost: money('100.00'), price: money('105.00') }, s).price).toBe(105_000_000n);
  });

  it('treats amounts within half a cent as the same price', () => {
    expect(samePrice(12.5, 12.5)).toBe(true);
    expect(samePrice(12.5, 12.504)).toBe(true);
    expect(samePrice(12.5, 12.51)).toBe(false);
    expect(samePrice(null, 12.5)).toBe(false);
  });

  it('follows SpinPanel’s per-customer pricing source unless the link overrides it', () => {
    expect(pricingSourceOf({ pricingSource: 'target' }, { pricingSource: 'customer' })).toBe('target');
    expect(pricingSourceOf({}, { pricingSource: 'customer' })).toBe('spinpanel');
    expect(pricingSourceOf({ pricingSource: 'target' }, { pricingSource: 'spinpanel' })).toBe('spinpanel');
    expect(pricingSourceOf({ pricingSource: 'spinpanel' }, { pricingSource: 'target' })).toBe('target');
  });
});
