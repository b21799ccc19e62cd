import type { Money } from '../domain/types.ts';

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
export function roundToCents(micros: bigint): bigint {
  const neg = micros < 0n;
  const abs = neg ? -micros : micros;
  const cents = (abs + 5_000n) / 10_000n;
  return neg ? -cents : cents;
}

/** Rounded to cents, as the JSON number targets take (exact: cents / 100 is the nearest double). */
export const microsToNumber = (micros: bigint): number => Number(roundToCents(micros)) / 100;

/** Rounded to cents, as a decimal string (`12.60`). */
export function microsToDecimal(micros: bigint): string {
  const cents = roundToCents(micros);
  const neg = cents < 0n;
  const abs = neg ? -cents : cents;
  return `${neg ? '-' : ''}${abs / 100n}.${String(abs % 100n).padStart(2, '0')}`;
}

/** A decimal amount normalised (no trailing zeros past the cents): the same price always reads the same. */
export const normalAmount = (amount: string): string => microsToDecimal(toMicros(amount));

/** `micros × (1 + percent / 100)`, the percent taken to 4 decimals. */
export function markUp(micros: bigint, percent: number): bigint {
  const p = BigInt(Math.round(percent * 10_000));
  return (micros * (1_000_000n + p)) / 1_000_000n;
}

/** Targets keep money to 2 decimals on invoices: prices within half a cent are the same price. */
export const samePrice = (a: number | null | undefined, b: number | null | undefined): boolean =>
  typeof a === 'number' && typeof b === 'number' && Math.abs(a - b) < 0.005;

export const inCurrency = (money: Money, currency: string): boolean => money.currency === currency;

/** A decimal string as a JSON number: targets' money fields are numbers. */
export function decimalToNumber(value: string): number {
  const n = Number(value);
  if (!/^-?\d+(\.\d+)?$/.test(value) || !Number.isFinite(n)) throw new RangeError(`not a decimal: ${value}`);
  return n;
}
