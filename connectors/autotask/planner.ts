import type {
  DesiredCustomer,
  DesiredLine,
  DesiredState,
  LinkMapping,
  Plan,
  PlanOp,
  ReconLine,
} from '../types.ts';
import {
  addDays,
  type ContractBody,
  contractBody,
  decimalToNumber,
  managedContractNumber,
  type ServiceBody,
  serviceBody,
  serviceName,
} from './mappers.ts';
import type {
  AutotaskSettings,
  Company,
  Contract,
  ContractService,
  ContractServiceUnit,
  Service,
} from './schemas.ts';

/**
 * Units are read `UNITS_LOOKAHEAD_DAYS` after the effective date: apply may shift an adjustment a few days
 * (Autotask allows one per contract service and day), and reading past those days makes a same-day re-run
 * see every adjustment already posted, so nothing is posted twice.
 */
export const UNITS_LOOKAHEAD_DAYS = 7;
export const unitsDateFor = (effectiveDate: string): string => addDays(effectiveDate, UNITS_LOOKAHEAD_DAYS);

/** Services the connector creates carry this in their description, so they can be recognised later. */
export const SERVICE_MARKER = 'SpinPanel product ';

/** What readState returns: plain records, no behaviour, so it can be logged or stored as a dry run. */
export interface AutotaskState {
  /** The day whose ContractServiceUnits rows were read (effectiveDate + 7). */
  unitsDate: string;
  companies: Company[];
  contracts: Contract[];
  services: Service[];
  contractServices: ContractService[];
  units: ContractServiceUnit[];
}

/** A not-yet-created record: the id is found in ApplyResults under this op key. */
export interface Ref {
  ref: string;
}
export type IdOrRef = number | Ref;

export interface CreateServiceData {
  productId: string;
  body: ServiceBody;
}
export interface CreateContractData {
  body: ContractBody;
}
export interface AddContractServiceData {
  contractId: IdOrRef;
  serviceId: IdOrRef;
  unitPrice: number;
  unitCost: number;
  invoiceDescription: string;
}
export interface AdjustUnitsData {
  contractId: IdOrRef;
  contractServiceId: IdOrRef;
  serviceId: IdOrRef;
  unitChange: number;
  effectiveDate: string;
  /** Units the contract service should carry: apply re-reads the current units and posts the difference. */
  targetUnits: number;
  adjustedUnitPrice: number;
  adjustedUnitCost: number;
}

export type AutotaskOp =
  | PlanOp<'createService', CreateServiceData>
  | PlanOp<'createContract', CreateContractData>
  | PlanOp<'addContractService', AddContractServiceData>
  | PlanOp<'adjustUnits', AdjustUnitsData>;

const isRef = (v: IdOrRef): v is Ref => typeof v === 'object';
const refKeys = (...ids: IdOrRef[]): string[] => ids.filter(isRef).map((r) => r.ref);

/** Mapping ids may arrive as strings from an admin form; Autotask ids are positive integers. */
function toId(value: number | string | undefined): number | undefined | null {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

interface Indexed {
  companiesById: Map<number, Company>;
  contractsById: Map<number, Contract>;
  servicesById: Map<number, Service>;
  csByContract: Map<number, ContractService[]>;
  unitsByCs: Map<number, number>;
}

function indexState(state: AutotaskState): Indexed {
  const csByContract = new Map<number, ContractService[]>();
  for (const cs of [...state.contractServices].sort((a, b) => a.id - b.id)) {
    const list = csByContract.get(cs.contractID) ?? [];
    list.push(cs);
    csByContract.set(cs.contractID, list);
  }
  // The row covering the units date; when two touch it (a split day), the later start is the one in effect.
  const best = new Map<number, ContractServiceUnit>();
  for (const row of state.units) {
    if (row.startDate > state.unitsDate || row.endDate < state.unitsDate) continue;
    const seen = best.get(row.contractServiceID);
    if (!seen || row.startDate > seen.startDate) best.set(row.contractServiceID, row);
  }
  return {
    companiesById: new Map(state.companies.map((c) => [c.id, c])),
    contractsById: new Map(state.contracts.map((c) => [c.id, c])),
    servicesById: new Map(state.services.map((s) => [s.id, s])),
    csByContract,
    unitsByCs: new Map([...best].map(([id, row]) => [id, row.units])),
  };
}

type Resolved<T> = { ok: T } | { reason: string };

function resolveCompany(
  customer: DesiredCustomer,
  mapping: LinkMapping,
  state: AutotaskState,
  idx: Indexed,
): Resolved<Company> {
  const mapped = toId(mapping.customers[customer.customerId]?.companyId);
  if (mapped === null) return { reason: 'the mapped Autotask company id is not a number' };
  if (mapped !== undefined) {
    const company = idx.companiesById.get(mapped);
    return company ? { ok: company } : { reason: `Autotask company ${mapped} (mapped) does not exist` };
  }
  const name = customer.name.trim();
  const found = state.companies.filter((c) => c.isActive && c.companyName.trim() === name);
  if (found.length === 1) return { ok: found[0]! };
  return {
    reason:
      found.length === 0
        ? `no company named "${name}" in Autotask; map the customer to a company id`
        : `${found.length} companies named "${name}" in Autotask; map the customer to a company id`,
  };
}

type ContractChoice = { id: number; managed: boolean } | { create: ContractBody };

function resolveContract(
  customer: DesiredCustomer,
  company: Company,
  mapping: LinkMapping,
  state: AutotaskState,
  idx: Indexed,
  settings: AutotaskSettings,
  today: string,
): Resolved<ContractChoice> {
  const mapped = toId(mapping.customers[customer.customerId]?.contractId);
  if (mapped === null) return { reason: 'the mapped Autotask contract id is not a number' };
  let contract: Contract | undefined;
  if (mapped !== undefined) {
    contract = idx.contractsById.get(mapped);
    if (!contract) return { reason: `Autotask contract ${mapped} (mapped) does not exist` };
  } else {
    const number = managedContractNumber(customer.customerId);
    contract = state.contracts.filter((c) => c.contractNumber === number).sort((a, b) => a.id - b.id)[0];
    if (!contract) return { ok: { create: contractBody(customer, company.id, settings, today) } };
  }
  if (contract.companyID !== company.id) {
    return {
      reason: `Autotask contract ${contract.id} belongs to company ${contract.companyID}, not ${company.id} (${company.companyName})`,
    };
  }
  return { ok: { id: contract.id, managed: mapped === undefined } };
}

/** One target contract and the products SpinPanel wants on it (several customers may share a mapped one). */
interface ContractPlan {
  customer: DesiredCustomer;
  choice: ContractChoice;
  /** A contributing customer had a product that could not be resolved: retiring anything would be a guess. */
  incomplete: boolean;
  /** By service identity (`id:<n>` or the createService key). */
  groups: Map<string, ServiceGroup>;
}
interface ServiceGroup {
  service: IdOrRef;
  first: { customerId: string; line: DesiredLine };
  quantity: number;
  contributors: { customer: DesiredCustomer; line: DesiredLine }[];
}

/**
 * Pure: the operations that make Autotask's contracts carry SpinPanel's seat counts. Order: services,
 * contracts, contract services, adjustments, so every op's `needs` come earlier in the list.
 */
export function planAutotask(
  desired: DesiredState,
  state: AutotaskState,
  mapping: LinkMapping,
  settings: AutotaskSettings,
): Plan {
  const idx = indexState(state);
  const date = desired.effectiveDate;
  const unmapped: Plan['unmapped'] = [];
  const recon: ReconLine[] = [];
  const serviceOps: AutotaskOp[] = [];
  const contractOps: AutotaskOp[] = [];
  const csOps: AutotaskOp[] = [];
  const adjOps: AutotaskOp[] = [];

  // Services are shared by the whole account: one createService per (cut) name.
  const newServices = new Map<string, PlanOp<'createService', CreateServiceData>>();
  const usedServiceKeys = new Set<string>();
  const productOfService = new Map<number, string>();
  for (const [productId, m] of Object.entries(mapping.products)) {
    const id = toId(m.serviceId);
    if (typeof id === 'number') productOfService.set(id, productId);
  }

  function resolveService(line: DesiredLine): Resolved<IdOrRef> {
    const mapped = toId(mapping.products[line.productId]?.serviceId);
    if (mapped === null)
      return { reason: `the Autotask service mapped to ${line.productName} is not a number` };
    if (mapped !== undefined) {
      return idx.servicesById.has(mapped)
        ? { ok: mapped }
        : { reason: `Autotask service ${mapped} (mapped to ${line.productName}) does not exist` };
    }
    const name = serviceName(line.productName);
    // Autotask keeps Service names unique regardless of case, and so does its `eq` filter.
    const found = state.services.filter((s) => sameServiceName(s.name, name));
    if (found.length === 1) return { ok: found[0]!.id };
    if (found.length > 1) {
      return {
        reason: `${found.length} Autotask services named "${name}"; map product ${line.productId} to one`,
      };
    }
    let op = newServices.get(name.toLowerCase());
    if (!op) {
      op = {
        key: `service:${line.productId}`,
        kind: 'createService',
        summary: `create service "${name}"`,
        data: { productId: line.productId, body: serviceBody(line, settings) },
      };
      newServices.set(name.toLowerCase(), op);
    }
    return { ok: { ref: op.key } };
  }

  // Phase 1: resolve every customer to a company and a contract, and group its products per contract.
  const contracts = new Map<string, ContractPlan>();
  for (const customer of desired.customers) {
    const company = resolveCompany(customer, mapping, state, idx);
    if ('reason' in company) {
      unmapped.push({ customerId: customer.customerId, name: customer.name, reason: company.reason });
      continue;
    }
    const choice = resolveContract(customer, company.ok, mapping, state, idx, settings, date);
    if ('reason' in choice) {
      unmapped.push({ customerId: customer.customerId, name: customer.name, reason: choice.reason });
      continue;
    }
    const contractKey = 'id' in choice.ok ? `id:${choice.ok.id}` : `new:${customer.customerId}`;
    let cp = contracts.get(contractKey);
    if (!cp) {
      cp = { customer, choice: choice.ok, incomplete: false, groups: new Map() };
      contracts.set(contractKey, cp);
    }
    for (const line of customer.lines) {
      const service = resolveService(line);
      if ('reason' in service) {
        cp.incomplete = true;
        unmapped.push({ customerId: customer.customerId, name: customer.name, reason: service.reason });
        continue;
      }
      const identity = isRef(service.ok) ? service.ok.ref : `id:${service.ok}`;
      const group = cp.groups.get(identity) ?? {
        service: service.ok,
        first: { customerId: customer.customerId, line },
        quantity: 0,
        contributors: [],
      };
      group.quantity += line.quantity;
      group.contributors.push({ customer, line });
      cp.groups.set(identity, group);
    }
  }

  // The Ids SpinPanel owns on a contract it does not manage: only those may be retired there.
  const ourServiceIds = new Set<number>(productOfService.keys());
  for (const s of state.services) if (s.description?.startsWith(SERVICE_MARKER)) ourServiceIds.add(s.id);
  for (const cp of contracts.values()) {
    for (const g of cp.groups.values()) if (!isRef(g.service)) ourServiceIds.add(g.service);
  }

  // Phase 2: per contract, contract services and unit deltas.
  for (const cp of contracts.values()) {
    const { customer, choice } = cp;
    let contractRef: IdOrRef;
    let contractOp: AutotaskOp | undefined;
    if ('id' in choice) {
      contractRef = choice.id;
    } else {
      contractOp = {
        key: `contract:${customer.customerId}`,
        kind: 'createContract',
        customerId: customer.customerId,
        summary: `create contract ${choice.create.contractNumber} "${choice.create.contractName}"`,
        data: { body: choice.create },
      };
      contractRef = { ref: contractOp.key };
    }
    const existing = typeof contractRef === 'number' ? (idx.csByContract.get(contractRef) ?? []) : [];
    const desiredServiceIds = new Set<number>();

    for (const group of cp.groups.values()) {
      const { customerId, line } = group.first;
      if (!isRef(group.service)) desiredServiceIds.add(group.service);
      const cs = isRef(group.service) ? undefined : existing.find((c) => c.serviceID === group.service);
      const before = cs ? (idx.unitsByCs.get(cs.id) ?? 0) : null;
      for (const c of group.contributors) {
        recon.push({
          customerId: c.customer.customerId,
          customerName: c.customer.name,
          productId: c.line.productId,
          productName: c.line.productName,
          spinpanelSeats: c.line.quantity,
          targetUnitsBefore: before,
          targetUnitsAfter: group.quantity,
        });
      }
      const delta = group.quantity - (before ?? 0);
      if (delta === 0) continue;

      let csRef: IdOrRef;
      if (cs) {
        csRef = cs.id;
      } else {
        if (contractOp && !contractOps.includes(contractOp)) contractOps.push(contractOp);
        if (isRef(group.service)) usedServiceKeys.add(group.service.ref);
        const csOp: AutotaskOp = {
          key: `cs:${customerId}:${line.productId}`,
          kind: 'addContractService',
          customerId,
          summary: `add ${line.productName} to the contract of ${customer.name}`,
          needs: refKeys(contractRef, group.service),
          data: {
            contractId: contractRef,
            serviceId: group.service,
            unitPrice: decimalToNumber(line.unitPrice.amount),
            unitCost: decimalToNumber(line.unitCost.amount),
            invoiceDescription: serviceName(line.productName),
          },
        };
        csOps.push(csOp);
        csRef = { ref: csOp.key };
      }
      adjOps.push(
        adjustOp(
          customerId,
          line.productId,
          `${line.productName} for ${customer.name}`,
          date,
          before ?? 0,
          delta,
          {
            contractId: contractRef,
            contractServiceId: csRef,
            serviceId: group.service,
            adjustedUnitPrice: decimalToNumber(line.unitPrice.amount),
            adjustedUnitCost: decimalToNumber(line.unitCost.amount),
          },
        ),
      );
    }

    // Retire what is on the contract but no longer wanted. On a mapped contract only SpinPanel's own
    // services count: the MSP's other services there are none of our business.
    if (typeof contractRef !== 'number' || cp.incomplete) continue;
    const managed = 'managed' in choice && choice.managed;
    for (const cs of existing) {
      if (desiredServiceIds.has(cs.serviceID)) continue;
      if (!managed && !ourServiceIds.has(cs.serviceID)) continue;
      const units = idx.unitsByCs.get(cs.id) ?? 0;
      if (units === 0) continue;
      const service = idx.servicesById.get(cs.serviceID);
      const productId =
        productOfService.get(cs.serviceID) ?? markedProduct(service) ?? `service-${cs.serviceID}`;
      const productName = service?.name ?? `Autotask service ${cs.serviceID}`;
      recon.push({
        customerId: customer.customerId,
        customerName: customer.name,
        productId,
        productName,
        spinpanelSeats: 0,
        targetUnitsBefore: units,
        targetUnitsAfter: 0,
      });
      adjOps.push(
        adjustOp(customer.customerId, productId, `${productName} for ${customer.name}`, date, units, -units, {
          contractId: contractRef,
          contractServiceId: cs.id,
          serviceId: cs.serviceID,
          adjustedUnitPrice: cs.unitPrice ?? service?.unitPrice ?? 0,
          adjustedUnitCost: cs.unitCost ?? service?.unitCost ?? 0,
        }),
      );
    }
  }

  for (const op of newServices.values()) if (usedServiceKeys.has(op.key)) serviceOps.push(op);
  return { ops: [...serviceOps, ...contractOps, ...csOps, ...adjOps], unmapped, recon };
}

export const sameServiceName = (a: string, b: string): boolean =>
  a.trim().toLowerCase() === b.trim().toLowerCase();

function markedProduct(service: Service | undefined): string | undefined {
  const description = service?.description;
  if (typeof description !== 'string' || !description.startsWith(SERVICE_MARKER)) return undefined;
  return description.slice(SERVICE_MARKER.length).trim() || undefined;
}

function adjustOp(
  customerId: string,
  productId: string,
  what: string,
  date: string,
  before: number,
  delta: number,
  ids: Omit<AdjustUnitsData, 'unitChange' | 'effectiveDate' | 'targetUnits'>,
): AutotaskOp {
  return {
    key: `adj:${customerId}:${productId}:${date}`,
    kind: 'adjustUnits',
    customerId,
    summary: `${what}: ${delta > 0 ? '+' : ''}${delta} (${before} → ${before + delta}) from ${date}`,
    needs: refKeys(ids.contractId, ids.contractServiceId, ids.serviceId),
    data: { ...ids, unitChange: delta, effectiveDate: date, targetUnits: before + delta },
  };
}
