import { dayOf, wireDate } from './dates.ts';
import { picklistValues, type Store, toInternal } from './db.ts';
import { businessError, notFound } from './errors.ts';
import { canonicalBody, makeRow } from './fields.ts';
import { CONTRACT_TYPES, RECURRING_SERVICE, SPECS } from './specs.ts';
import type { Row } from './types.ts';
import { bodyId, parseCreate, parseUpdate } from './validate.ts';

type Body = Record<string, unknown>;

function mustExist<T>(map: Map<number, T>, id: unknown, field: string, what: string): T {
  const row = typeof id === 'number' ? map.get(id) : undefined;
  if (!row) throw businessError(`${field} ${String(id)} does not refer to an existing ${what}`);
  return row;
}

function target(map: Map<number, Row>, body: Body, what: string): Row {
  const id = bodyId(body);
  const row = map.get(id);
  if (!row) throw notFound(`No ${what} with id ${id} was found`);
  return row;
}

function checkContract(s: Store, c: Body): void {
  mustExist(s.db.companies, c.companyID, 'companyID', 'Company');
  if (!CONTRACT_TYPES.has(c.contractType as number))
    throw businessError(`contractType ${String(c.contractType)} is not a valid value`);
  if (c.status !== 0 && c.status !== 1)
    throw businessError(`status ${String(c.status)} is not a valid value`);
  if (dayOf(c.endDate as string) < dayOf(c.startDate as string))
    throw businessError('endDate must be on or after startDate');
}

export function createContract(s: Store, raw: Body): number {
  const values = parseCreate(SPECS.Contracts, canonicalBody('Contracts', raw));
  checkContract(s, values);
  const id = s.nextId('contracts');
  s.db.contracts.set(id, makeRow('Contracts', id, { isDefaultContract: false, ...values }));
  return id;
}

export function updateContract(s: Store, raw: Body): number {
  const body = canonicalBody('Contracts', raw);
  const row = target(s.db.contracts, body, 'Contract');
  const next = { ...row, ...parseUpdate(SPECS.Contracts, body, row) };
  checkContract(s, next);
  s.db.contracts.set(row.id, next);
  return row.id;
}

function checkService(s: Store, v: Body, selfId?: number): void {
  mustExist(s.db.billingCodes, v.billingCodeID, 'billingCodeID', 'BillingCode');
  if (v.vendorCompanyID !== null && v.vendorCompanyID !== undefined) {
    mustExist(s.db.companies, v.vendorCompanyID, 'vendorCompanyID', 'Company');
  }
  const name = String(v.name).toLowerCase();
  for (const other of s.db.services.values()) {
    if (other.id !== selfId && String(other.name).toLowerCase() === name) {
      throw businessError(`name: a Service named '${String(v.name)}' already exists`);
    }
  }
}

export function createService(s: Store, raw: Body): number {
  const values = parseCreate(SPECS.Services, canonicalBody('Services', raw));
  checkService(s, values);
  const periods = picklistValues(s, 'Services', 'periodType');
  if (periods && !periods.includes(values.periodType as number))
    throw businessError(`periodType ${String(values.periodType)} is not a valid value`);
  const id = s.nextId('services');
  const stamp = wireDate(s.today());
  s.db.services.set(
    id,
    makeRow('Services', id, { isActive: true, createDate: stamp, lastModifiedDate: stamp, ...values }),
  );
  return id;
}

export function updateService(s: Store, raw: Body): number {
  const body = canonicalBody('Services', raw);
  const row = target(s.db.services, body, 'Service');
  const next = { ...row, ...parseUpdate(SPECS.Services, body, row), lastModifiedDate: wireDate(s.today()) };
  checkService(s, next, row.id);
  s.db.services.set(row.id, next);
  return row.id;
}

/** The contract a child URL names; the body's contractID, when sent, must agree with it. */
function parentContract(s: Store, parentId: number, body: Body): Row {
  const contract = s.db.contracts.get(parentId);
  if (!contract) throw notFound(`No Contract with id ${parentId} was found`);
  if (body.contractID === undefined || body.contractID === null) body.contractID = parentId;
  else if (Number(body.contractID) !== parentId) {
    throw businessError(
      `contractID ${String(body.contractID)} does not match the parent contract ${parentId}`,
    );
  }
  return contract;
}

/** Adds a service to a recurring-service contract; also used when an adjustment names a missing one. */
export function addContractService(s: Store, contract: Row, values: Body): Row {
  if (contract.contractType !== RECURRING_SERVICE) {
    throw businessError('Services can only be added to Recurring Service contracts (contractType 7)');
  }
  mustExist(s.db.services, values.serviceID, 'serviceID', 'Service');
  for (const cs of s.db.contractServices.values()) {
    if (cs.contractID === contract.id && cs.serviceID === values.serviceID) {
      throw businessError(`serviceID ${String(values.serviceID)} is already on contract ${contract.id}`);
    }
  }
  const id = s.nextId('contractServices');
  // unitPrice/adjustedPrice are in the customer's currency; the internalCurrency* twins in the MSP's own.
  const row = makeRow('ContractServices', id, {
    ...values,
    contractID: contract.id,
    internalCurrencyUnitPrice: toInternal(s, contract.id, values.unitPrice),
    internalCurrencyAdjustedPrice: toInternal(s, contract.id, values.adjustedPrice),
  });
  s.db.contractServices.set(id, row);
  return row;
}

export function createContractService(s: Store, parentId: number, raw: Body): number {
  const body = canonicalBody('ContractServices', raw);
  const contract = parentContract(s, parentId, body);
  return addContractService(s, contract, parseCreate(SPECS.ContractServices, body)).id;
}

export function updateContractService(s: Store, parentId: number | undefined, raw: Body): number {
  const body = canonicalBody('ContractServices', raw);
  const row = target(s.db.contractServices, body, 'ContractService');
  if (parentId !== undefined && row.contractID !== parentId)
    throw notFound(`No ContractService with id ${row.id} on contract ${parentId}`);
  const changes = parseUpdate(SPECS.ContractServices, body, row);
  const next = { ...row, ...changes };
  if ('adjustedPrice' in changes)
    next.internalCurrencyAdjustedPrice = toInternal(s, row.contractID, changes.adjustedPrice);
  s.db.contractServices.set(row.id, next);
  return row.id;
}

function chargeTotals(c: Body): Body {
  const q = (c.unitQuantity as number) ?? 0;
  return {
    extendedCost: c.unitCost === null || c.unitCost === undefined ? null : q * (c.unitCost as number),
    billableAmount: c.unitPrice === null || c.unitPrice === undefined ? null : q * (c.unitPrice as number),
  };
}

function checkCharge(s: Store, c: Body): void {
  const none = (v: unknown) => v === null || v === undefined;
  if (none(c.productID) && none(c.billingCodeID))
    throw businessError('productID or billingCodeID is required');
  if (!none(c.billingCodeID)) mustExist(s.db.billingCodes, c.billingCodeID, 'billingCodeID', 'BillingCode');
  const types = picklistValues(s, 'ContractCharges', 'chargeType');
  if (types && !types.includes(c.chargeType as number))
    throw businessError(`chargeType ${String(c.chargeType)} is not a valid value`);
}

export function createCharge(s: Store, parentId: number, raw: Body): number {
  const body = canonicalBody('ContractCharges', raw);
  parentContract(s, parentId, body);
  const values = parseCreate(SPECS.ContractCharges, body);
  checkCharge(s, values);
  const id = s.nextId('contractCharges');
  const row = makeRow('ContractCharges', id, {
    isBillableToCompany: true,
    status: 1,
    ...values,
    isBilled: false,
    createDate: wireDate(s.today()),
  });
  s.db.contractCharges.set(id, { ...row, ...chargeTotals(row) });
  return id;
}

function unbilledCharge(s: Store, parentId: number, id: number): Row {
  const row = s.db.contractCharges.get(id);
  if (!row || row.contractID !== parentId)
    throw notFound(`No ContractCharge with id ${id} on contract ${parentId}`);
  if (row.isBilled)
    throw businessError('The charge has been billed (isBilled=true) and can no longer be changed');
  return row;
}

export function updateCharge(s: Store, parentId: number, raw: Body): number {
  const body = canonicalBody('ContractCharges', raw);
  const row = unbilledCharge(s, parentId, bodyId(body));
  const next = { ...row, ...parseUpdate(SPECS.ContractCharges, body, row) };
  checkCharge(s, next);
  s.db.contractCharges.set(row.id, { ...next, ...chargeTotals(next) });
  return row.id;
}

export function deleteCharge(s: Store, parentId: number, id: number): number {
  unbilledCharge(s, parentId, id);
  s.db.contractCharges.delete(id);
  return id;
}
