import { describe, expect, it } from 'vitest';
import {
  contractBody,
  contractStart,
  cutName,
  decimalToNumber,
  markedProduct,
  serviceBody,
  serviceName,
} from '../../connectors/autotask/mappers.ts';
import { AutotaskSettings } from '../../connectors/autotask/schemas.ts';

const settings = AutotaskSettings.parse({ serviceBillingCodeId: 29682801, contractStartDay: 15 });
const money = (amount: string) => ({ amount, currency: 'EUR' });

describe('autotask mappers', () => {
  it('maps a desired line to a monthly Service with numeric prices and the instance’s periodType', () => {
    const body = serviceBody(
      {
        productId: 'p-1',
        productName: '  Microsoft 365 E3  ',
        period: 'month',
        unitPrice: money('31.20'),
        unitCost: money('26.0000'),
      },
      settings,
      { periodType: 2 },
    );
    expect(body).toEqual({
      name: 'Microsoft 365 E3',
      description: 'SpinPanel product p-1',
      invoiceDescription: 'Microsoft 365 E3',
      unitPrice: 31.2,
      unitCost: 26,
      periodType: 2,
      billingCodeID: 29682801,
      isActive: true,
    });
    expect(markedProduct(body.description)).toBe('p-1');
  });

  it('maps a yearly line to a Service of its own at 12 months’ price, marked with the product', () => {
    const line = {
      productId: 'p-1',
      productName: 'Microsoft 365 E3',
      period: 'year' as const,
      unitPrice: money('31.20'),
      unitCost: money('26.0000'),
    };
    const body = serviceBody(line, settings, { periodType: 5, vendorCompanyId: 300 });
    expect(body).toEqual({
      name: 'Microsoft 365 E3 (yearly)',
      description: 'SpinPanel product p-1 (yearly)',
      invoiceDescription: 'Microsoft 365 E3 (yearly)',
      unitPrice: 374.4,
      unitCost: 312,
      periodType: 5,
      billingCodeID: 29682801,
      isActive: true,
      vendorCompanyID: 300,
    });
    expect(markedProduct(body.description)).toBe('p-1');
    expect(serviceName('x'.repeat(150), 'year')).toBe(`${'x'.repeat(91)} (yearly)`);
  });

  it('takes the price the plan pushes (mark-up applied) and SpinPanel’s amounts only where it has none', () => {
    const line = {
      productId: 'p-1',
      productName: 'E3',
      period: 'month' as const,
      unitPrice: money('31.20'),
      unitCost: money('26.00'),
    };
    expect(
      serviceBody(line, settings, { periodType: 2, price: { unitPrice: 28.6, unitCost: 26 } }),
    ).toMatchObject({ unitPrice: 28.6, unitCost: 26 });
    expect(
      serviceBody(line, settings, { periodType: 2, price: { unitPrice: null, unitCost: null } }),
    ).toMatchObject({ unitPrice: 31.2, unitCost: 26 });
  });

  it('reads the product of a marker only from a description that starts with it', () => {
    expect(markedProduct('SpinPanel product p-9 (yearly)')).toBe('p-9');
    expect(markedProduct('Our own E3. SpinPanel product p-9')).toBeUndefined();
    expect(markedProduct('SpinPanel product ')).toBeUndefined();
    expect(markedProduct(null)).toBeUndefined();
  });

  it('cuts names at 100 characters without splitting a surrogate pair', () => {
    const long = `${'a'.repeat(99)}😀 and more`;
    const cut = cutName(long);
    expect(cut).toBe('a'.repeat(99));
    expect(cutName('x'.repeat(150))).toHaveLength(100);
    expect(cutName(`${'b'.repeat(98)}  c`)).toBe('b'.repeat(98));
  });

  it('rejects money that is not a decimal string', () => {
    expect(() => decimalToNumber('1e3')).toThrow(RangeError);
    expect(decimalToNumber('-0.5')).toBe(-0.5);
  });

  it('builds the managed contract with a stable number and dates around today', () => {
    const body = contractBody({ customerId: 'cust-9', name: 'Contoso' }, 4711, settings, '2025-03-20');
    expect(body).toMatchObject({
      contractName: 'SpinPanel – Contoso',
      contractNumber: 'SP-cust-9',
      contractType: 7,
      status: 1,
      companyID: 4711,
      startDate: '2025-03-15',
      endDate: '2026-03-14',
      timeReportingRequiresStartAndStopTimes: 1,
    });
    expect(
      contractBody({ customerId: 'c', name: 'x'.repeat(200) }, 1, settings, '2025-03-20').contractName,
    ).toHaveLength(100);
  });

  it('starts the contract last month when the start day is still ahead', () => {
    expect(contractStart('2025-03-10', 15)).toBe('2025-02-15');
    expect(contractStart('2025-01-10', 15)).toBe('2024-12-15');
    expect(contractStart('2025-03-15', 15)).toBe('2025-03-15');
    const body = contractBody(
      { customerId: 'c', name: 'n' },
      1,
      { contractStartDay: 1, contractTermMonths: 1 },
      '2024-02-29',
    );
    expect([body.startDate, body.endDate]).toEqual(['2024-02-01', '2024-02-29']);
  });
});
