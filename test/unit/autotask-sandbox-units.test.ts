import { describe, expect, it } from 'vitest';
import { compileFilter } from '../../connectors/autotask/sandbox/filter.ts';
import { unitRows, unitsOn } from '../../connectors/autotask/sandbox/units.ts';

const contract = { id: 1, startDate: '2024-01-15T00:00:00Z', endDate: '2024-03-10T00:00:00Z' };
const cs = { id: 7, contractID: 1, serviceID: 3, unitPrice: 10, unitCost: 8, adjustedPrice: null };
const adj = (effectiveDate: string, unitChange: number, adjustedUnitPrice: number | null = null) => ({
  id: 0,
  contractServiceID: 7,
  effectiveDate: `${effectiveDate}T00:00:00Z`,
  unitChange,
  adjustedUnitPrice,
});

describe('sandbox ContractServiceUnits derivation', () => {
  it('cuts a mid-month contract into calendar-month periods, the first and last partial', () => {
    const rows = unitRows(contract, cs, []);
    expect(rows.map((r) => [r.startDate.slice(0, 10), r.endDate.slice(0, 10), r.units])).toEqual([
      ['2024-01-15', '2024-01-31', 0],
      ['2024-02-01', '2024-02-29', 0],
      ['2024-03-01', '2024-03-10', 0],
    ]);
  });

  it('splits a period at an adjustment and prices units from the adjusted price on', () => {
    const adjustments = [
      adj('2024-01-15', 3),
      adj('2024-02-10', 2, 12),
      { ...adj('2024-02-12', 9), contractServiceID: 8 },
    ];
    const rows = unitRows(contract, cs, adjustments);
    expect(
      rows.map((r) => [r.startDate.slice(0, 10), r.endDate.slice(0, 10), r.units, r.price, r.cost]),
    ).toEqual([
      ['2024-01-15', '2024-01-31', 3, 10, 8],
      ['2024-02-01', '2024-02-09', 3, 10, 8],
      ['2024-02-10', '2024-02-29', 5, 12, 8],
      ['2024-03-01', '2024-03-10', 5, 12, 8],
    ]);
    expect(new Set(rows.map((r) => r.id)).size).toBe(4);
    expect(unitsOn(adjustments, 7, '2024-02-09')).toBe(3);
    expect(unitsOn(adjustments, 8, '2024-02-12')).toBe(9);
  });
});

describe('sandbox filter', () => {
  it('compares date fields by instant whether the value is a date or a date-time', () => {
    const row = { id: 1, startDate: '2024-03-01T00:00:00Z' };
    const on = (op: string, value: unknown) =>
      compileFilter('ContractServiceUnits', [{ op, field: 'StartDate', value }])(row);
    expect(on('eq', '2024-03-01')).toBe(true);
    expect(on('lte', '2024-03-01T00:00:00')).toBe(true);
    expect(on('gt', '2024-02-29T23:59:59Z')).toBe(true);
    expect(on('lt', '2024-03-01')).toBe(false);
  });

  it('rejects unknown operators, unknown fields and a second UDF', () => {
    expect(() => compileFilter('Companies', [{ op: 'like', field: 'companyName', value: 'x' }])).toThrow();
    expect(() => compileFilter('Companies', [{ op: 'eq', field: 'nope', value: 1 }])).toThrow();
    const udf = (v: string) => ({ op: 'eq', field: 'Tenant', value: v, udf: true });
    expect(() => compileFilter('Companies', [{ op: 'or', items: [udf('a'), udf('b')] }])).toThrow();
  });
});
