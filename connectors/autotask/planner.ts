import type { DesiredState, LinkMapping, Notice, Plan } from '../types.ts';
import { SERVICE_MARKER } from './mappers.ts';
import { isRef } from './ops.ts';
import { type ContractPlan, type PlanEnv, planContract } from './plan-contract.ts';
import { serviceResolver } from './plan-services.ts';
import { resolveCompany, resolveContract, toId } from './resolve.ts';
import type { AutotaskSettings } from './schemas.ts';
import { type AutotaskState, indexState } from './state.ts';

export type {
  AddContractServiceData,
  AdjustUnitsData,
  AutotaskOp,
  CreateContractData,
  CreateServiceData,
  IdOrRef,
  PostChargeData,
  Ref,
  RenewContractData,
  SetPriceData,
  UpdateServiceData,
} from './ops.ts';
export { sameServiceName } from './resolve.ts';
export { type AutotaskState, UNITS_LOOKAHEAD_DAYS, unitsDateFor } from './state.ts';
export { SERVICE_MARKER };

/**
 * Pure: the operations that make Autotask's contracts carry SpinPanel's seats, prices and usage, with the
 * reconciliation report. Order: services, contracts, contract services, prices, adjustments, charges — every
 * op's `needs` come earlier.
 */
export function planAutotask(
  desired: DesiredState,
  state: AutotaskState,
  mapping: LinkMapping,
  settings: AutotaskSettings,
): Plan {
  const idx = indexState(state);
  const services = serviceResolver(state, idx, mapping, settings);
  const unmapped: Plan['unmapped'] = [];
  const unmap = (c: { customerId: string; name: string }, reason: string) =>
    unmapped.push({ customerId: c.customerId, name: c.name, reason });

  // Phase 1: every customer to a company and a contract; its products grouped per contract and service.
  const contracts = new Map<string, ContractPlan>();
  for (const customer of desired.customers) {
    const company = resolveCompany(customer, mapping, state, idx, settings);
    if ('reason' in company) {
      // An offboarded customer that never reached Autotask has nothing to retire: no news.
      if (!customer.offboarded) unmap(customer, company.reason);
      continue;
    }
    const choice = resolveContract(customer, company.ok, mapping, state, idx, settings, {
      today: desired.today ?? desired.effectiveDate,
      effectiveDate: desired.effectiveDate,
      unitsDate: state.unitsDate,
    });
    if ('reason' in choice) {
      unmap(customer, choice.reason);
      continue;
    }
    if (customer.offboarded && 'create' in choice.ok) continue;
    const key = 'id' in choice.ok ? `id:${choice.ok.id}` : `new:${customer.customerId}`;
    const cp: ContractPlan = contracts.get(key) ?? {
      customer,
      customers: [],
      company: company.ok,
      choice: choice.ok,
      incomplete: false,
      groups: new Map(),
    };
    contracts.set(key, cp);
    cp.customers.push(customer);
    for (const line of customer.lines) {
      const service = services.resolve(customer, line);
      if ('reason' in service) {
        cp.incomplete = true;
        unmap(customer, service.reason);
        continue;
      }
      const identity = isRef(service.ok) ? service.ok.ref : `id:${service.ok}`;
      const group = cp.groups.get(identity) ?? {
        service: service.ok,
        first: { customer, line },
        quantity: 0,
        contributors: [],
      };
      group.quantity += line.quantity;
      group.contributors.push({ customer, line });
      cp.groups.set(identity, group);
    }
  }

  holdSharedContracts(contracts, mapping, unmap);

  // The services SpinPanel owns on a contract it does not manage: only those may be retired there.
  const productOfService = new Map<number, string>();
  for (const [productId, m] of Object.entries(mapping.products)) {
    const id = toId(m.serviceId);
    if (typeof id === 'number') productOfService.set(id, productId);
  }
  const ourServiceIds = new Set<number>(productOfService.keys());
  for (const s of state.services) if (s.description?.startsWith(SERVICE_MARKER)) ourServiceIds.add(s.id);
  for (const cp of contracts.values()) {
    for (const g of cp.groups.values()) if (!isRef(g.service)) ourServiceIds.add(g.service);
  }

  // Phase 2: per contract, the contract itself, its services, prices, unit deltas and usage charges.
  const env: PlanEnv = {
    desired,
    state,
    idx,
    settings,
    services,
    ourServiceIds,
    productOfService,
    ops: { contract: [], cs: [], price: [], adjust: [], charge: [] },
    recon: [],
    usage: [],
    notices: services.notices(),
  };
  for (const cp of contracts.values()) planContract(cp, env);

  const { ops } = env;
  return {
    ops: [...services.ops(), ...ops.contract, ...ops.cs, ...ops.price, ...ops.adjust, ...ops.charge],
    unmapped,
    recon: env.recon,
    usage: env.usage,
    notices: dedupe(env.notices),
  };
}

/**
 * A contract the mapping also gives to a customer that is not planned on it — billing off, opted out, held back
 * for a quarantined record, gone from SpinPanel, or unmapped itself — holds that customer's seats too: planned
 * from the others' lines alone, its units would drop. Such a contract is left alone and its customers reported.
 */
function holdSharedContracts(
  contracts: Map<string, ContractPlan>,
  mapping: LinkMapping,
  unmap: (c: { customerId: string; name: string }, reason: string) => void,
): void {
  const mappedTo = new Map<number, string[]>();
  for (const [customerId, m] of Object.entries(mapping.customers)) {
    const id = toId(m.contractId);
    if (typeof id === 'number') mappedTo.set(id, [...(mappedTo.get(id) ?? []), customerId]);
  }
  for (const [key, cp] of contracts) {
    if (!('id' in cp.choice)) continue;
    const planned = new Set(cp.customers.map((c) => c.customerId));
    const missing = (mappedTo.get(cp.choice.id) ?? []).find((id) => !planned.has(id));
    if (missing === undefined) continue;
    contracts.delete(key);
    for (const c of cp.customers) {
      unmap(
        c,
        `Autotask contract ${cp.choice.id} is shared with customer ${missing}, which this run does not plan (not billed through this link, opted out, held back or unmapped): nothing on it is changed`,
      );
    }
  }
}

function dedupe(notices: Notice[]): Notice[] {
  const seen = new Set<string>();
  return notices.filter((n) => {
    const k = `${n.customerId ?? ''}|${n.kind}|${n.message}`;
    if (seen.has(k)) return false;
    seen.add(k);
    return true;
  });
}
