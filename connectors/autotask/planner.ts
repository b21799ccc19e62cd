import { matchParty } from '../../src/billing/matching.ts';
import { dedupeNotices, type Unmapped } from '../../src/billing/plan.ts';
import { holdSharedContainers } from '../../src/billing/shared.ts';
import type { LedgerEntry } from '../../src/billing/types.ts';
import type { DesiredState, Ledger, LinkMapping, Plan } from '../types.ts';
import { type ContractPlan, type PlanEnv, planContract } from './plan-contract.ts';
import { serviceResolver } from './plan-services.ts';
import { candidatesOf, resolveContract, toId } from './resolve.ts';
import type { AutotaskSettings } from './schemas.ts';
import { type AutotaskState, indexState } from './state.ts';

export { SERVICE_MARKER } from './mappers.ts';
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
export type { AutotaskState } from './state.ts';

/**
 * Pure: the operations that make Autotask's contracts carry SpinPanel's seats, prices and charges, with the
 * reconciliation report. The billing rules (matching, items, ownership, dates, prices, charges) are the
 * core's; this turns its decisions into Autotask's calls. Order: services, contracts, contract services,
 * prices, adjustments, charges — every op's `needs` come earlier.
 */
export function planAutotask(
  desired: DesiredState,
  state: AutotaskState,
  mapping: LinkMapping,
  settings: AutotaskSettings,
  ledger: Ledger,
): Plan {
  const idx = indexState(state);
  const services = serviceResolver(state, mapping, ledger, settings);
  const candidates = candidatesOf(state, settings);
  const unmapped: Unmapped[] = [];
  const planLedger: LedgerEntry[] = [];
  const unmap = (
    c: { customerId: string; name: string },
    reason: string,
    suggestions?: Unmapped['suggestions'],
  ) =>
    unmapped.push({
      customerId: c.customerId,
      name: c.name,
      reason,
      ...(suggestions?.length ? { suggestions } : {}),
    });

  // Phase 1: every customer to a company and a contract; its lines resolved to services.
  const contracts = new Map<string, ContractPlan>();
  for (const customer of desired.customers) {
    const match = matchParty(customer, candidates, {
      mappedId: toId(mapping.customers[customer.customerId]?.companyId),
      ledgerId: ledger.parties[customer.customerId],
      ...(settings.tenantIdUdf ? { tenantField: `UDF ${settings.tenantIdUdf}` } : {}),
      noun: 'Autotask company',
    });
    if ('reason' in match) {
      // An offboarded customer that never reached Autotask has nothing to retire: no news.
      if (!customer.offboarded) unmap(customer, match.reason, match.suggestions);
      continue;
    }
    const company = idx.companiesById.get(match.ok.id as number)!;
    if (String(ledger.parties[customer.customerId]) !== String(company.id)) {
      planLedger.push({ kind: 'party', customerId: customer.customerId, id: company.id });
    }
    const choice = resolveContract(customer, company, mapping, ledger, state, idx, settings, {
      today: desired.today,
      effectiveDate: desired.effectiveDate,
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
      company,
      choice: choice.ok,
      incomplete: false,
      wanted: [],
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
      cp.wanted.push({ customer, line, item: service.ok });
    }
  }

  const mappedTo = new Map<string, string[]>();
  for (const [customerId, m] of Object.entries(mapping.customers)) {
    const id = toId(m.contractId);
    if (typeof id === 'number') mappedTo.set(`id:${id}`, [...(mappedTo.get(`id:${id}`) ?? []), customerId]);
  }
  for (const held of holdSharedContainers(contracts, mappedTo, 'Autotask contract')) {
    contracts.delete(held.key);
    for (const c of held.customers) unmap(c, held.reason);
  }

  // Phase 2: per contract, the contract itself, its lines and charges.
  const env: PlanEnv = {
    desired,
    state,
    idx,
    ledger,
    settings,
    services,
    ops: { contract: [], cs: [], price: [], adjust: [], charge: [] },
    recon: [],
    usage: [],
    notices: services.notices(),
    ledger_: planLedger,
  };
  for (const cp of contracts.values()) planContract(cp, env);

  const { ops } = env;
  return {
    ops: [...services.ops(), ...ops.contract, ...ops.cs, ...ops.price, ...ops.adjust, ...ops.charge],
    unmapped,
    recon: env.recon,
    usage: env.usage,
    notices: dedupeNotices(env.notices),
    ledger: planLedger,
  };
}
