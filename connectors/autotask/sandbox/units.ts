import { addDays, dayOf, monthEnd, wireDate } from './dates.ts';
import type { Row } from './types.ts';

/** Units in effect on `day`: the sum of every unit change that took effect on or before it. */
export function unitsOn(adjustments: readonly Row[], contractServiceId: number, day: string): number {
  let units = 0;
  for (const a of adjustments) {
    if (a.contractServiceID === contractServiceId && dayOf(a.effectiveDate) <= day)
      units += a.unitChange as number;
  }
  return units;
}

/** The latest adjustment on or before `day` that set a value for `field`, else undefined. */
function adjusted(
  adjs: readonly Row[],
  day: string,
  field: 'adjustedUnitPrice' | 'adjustedUnitCost',
): unknown {
  let best: Row | undefined;
  for (const a of adjs) {
    if (a[field] === null || a[field] === undefined || dayOf(a.effectiveDate) > day) continue;
    if (!best || a.effectiveDate >= best.effectiveDate) best = a;
  }
  return best?.[field];
}

/**
 * ContractServiceUnits of one contract service, as Autotask derives them: one period per calendar month of
 * the contract, split where an adjustment takes effect. The id is derived from the service and the period
 * start, so it stays the same across reads (and only new periods get new ids).
 */
export function unitRows(
  contract: Row,
  cs: Row,
  allAdjustments: readonly Row[],
  toInternal: (amount: unknown) => number | null = (a) => (typeof a === 'number' ? a : null),
): Row[] {
  const start = dayOf(contract.startDate);
  const end = dayOf(contract.endDate);
  if (end < start) return [];
  const adjs = allAdjustments.filter((a) => a.contractServiceID === cs.id);
  const starts = new Set<string>([start]);
  for (let m = addDays(monthEnd(start), 1); m <= end; m = addDays(monthEnd(m), 1)) starts.add(m);
  for (const a of adjs) {
    const d = dayOf(a.effectiveDate);
    if (d > start && d <= end) starts.add(d);
  }
  const sorted = [...starts].sort();
  return sorted.map((from, i) => {
    const next = sorted[i + 1];
    const to = next ? addDays(next, -1) : end;
    const price = adjusted(adjs, from, 'adjustedUnitPrice') ?? cs.adjustedPrice ?? cs.unitPrice;
    return {
      id: cs.id * 1e8 + Number(from.replaceAll('-', '')),
      contractID: cs.contractID,
      contractServiceID: cs.id,
      serviceID: cs.serviceID,
      startDate: wireDate(from),
      endDate: wireDate(to),
      units: unitsOn(adjs, cs.id, from),
      price,
      cost: adjusted(adjs, from, 'adjustedUnitCost') ?? cs.unitCost,
      internalCurrencyPrice: toInternal(price),
      vendorCompanyID: null,
      approveAndPostDate: null,
    };
  });
}
