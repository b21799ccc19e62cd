import { dayOf } from './dates.ts';
import type { Store } from './db.ts';
import { businessError } from './errors.ts';
import { canonicalBody, makeRow } from './fields.ts';
import { SPECS } from './specs.ts';
import type { Row } from './types.ts';
import { unitsOn } from './units.ts';
import { parseCreate } from './validate.ts';
import { addContractService } from './writes.ts';

const given = (v: unknown) => v !== null && v !== undefined;

/** Finds the contract service an adjustment is for; undefined when it must be created (serviceID only). */
function resolveContractService(s: Store, contract: Row, v: Record<string, unknown>): Row | undefined {
  if (given(v.contractServiceID)) {
    const cs = s.db.contractServices.get(v.contractServiceID as number);
    if (!cs || cs.contractID !== contract.id) {
      throw businessError(
        `contractServiceID ${String(v.contractServiceID)} is not a service of contract ${contract.id}`,
      );
    }
    if (given(v.serviceID) && v.serviceID !== cs.serviceID) {
      throw businessError(`serviceID ${String(v.serviceID)} does not match contractServiceID ${cs.id}`);
    }
    return cs;
  }
  if (!given(v.serviceID)) throw businessError('contractServiceID or serviceID is required');
  const service = s.db.services.get(v.serviceID as number);
  if (!service) throw businessError(`serviceID ${String(v.serviceID)} does not refer to an existing Service`);
  return [...s.db.contractServices.values()].find(
    (cs) => cs.contractID === contract.id && cs.serviceID === service.id,
  );
}

/** The lowest unit count from `from` onward, given the adjustments (new one included). */
function lowestUnitsFrom(existing: Row[], csId: number, from: string): { units: number; day: string } {
  let low = { units: Number.POSITIVE_INFINITY, day: from };
  const days = new Set([from, ...existing.map((a) => dayOf(a.effectiveDate)).filter((d) => d >= from)]);
  for (const day of days) {
    const units = unitsOn(existing, csId, day);
    if (units < low.units) low = { units, day };
  }
  return low;
}

/**
 * Creates a ContractServiceAdjustment (create-only in Autotask). Validates everything before touching the
 * tables, so a refused adjustment leaves no half-made contract service behind.
 */
export function createAdjustment(s: Store, raw: Record<string, unknown>): number {
  const values = parseCreate(
    SPECS.ContractServiceAdjustments,
    canonicalBody('ContractServiceAdjustments', raw),
  );
  const contract = s.db.contracts.get(values.contractID as number);
  if (!contract)
    throw businessError(`contractID ${String(values.contractID)} does not refer to an existing Contract`);
  const day = dayOf(values.effectiveDate as string);
  const [start, end] = [dayOf(contract.startDate), dayOf(contract.endDate)];
  if (day < start || day > end) {
    throw businessError(
      `effectiveDate ${day} must be within the contract's start date ${start} and end date ${end}`,
    );
  }
  let cs = resolveContractService(s, contract, values);
  if (cs) {
    const csId = cs.id;
    if (s.db.adjustments.some((a) => a.contractServiceID === csId && dayOf(a.effectiveDate) === day)) {
      throw businessError('duplicate data into contract_service_period');
    }
  }
  const pending = {
    contractServiceID: cs?.id ?? -1,
    effectiveDate: values.effectiveDate,
    unitChange: values.unitChange,
    id: 0,
  };
  const mine = s.db.adjustments.filter((a) => a.contractServiceID === pending.contractServiceID);
  const low = lowestUnitsFrom([...mine, pending], pending.contractServiceID, day);
  if (low.units < 0) throw businessError(`Units cannot be less than 0 (would be ${low.units} on ${low.day})`);

  if (!cs) {
    const service = s.db.services.get(values.serviceID as number) as Row;
    cs = addContractService(s, contract, {
      serviceID: service.id,
      unitPrice: values.adjustedUnitPrice ?? service.unitPrice,
      unitCost: values.adjustedUnitCost ?? service.unitCost,
    });
  }
  const id = s.nextId('adjustments');
  s.db.adjustments.push(
    makeRow('ContractServiceAdjustments', id, {
      ...values,
      contractServiceID: cs.id,
      serviceID: cs.serviceID,
    }),
  );
  return id;
}
