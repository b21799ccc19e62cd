import { maxDay } from '../../src/billing/dates.ts';
import type { PartyCandidate } from '../../src/billing/matching.ts';
import type { DesiredCustomer, Ledger, LinkMapping } from '../types.ts';
import { type ContractBody, contractBody, managedContractNumber, termEnd } from './mappers.ts';
import type { AutotaskSettings, Company, Contract } from './schemas.ts';
import type { AutotaskState, Indexed } from './state.ts';

export { maxDay };

export type Resolved<T> = { ok: T } | { reason: string };

/** Autotask company type "Customer": vendors, leads, prospects and the rest are never billed. */
export const COMPANY_TYPE_CUSTOMER = 1;

/** Mapping ids may arrive as strings from an admin form; Autotask ids are non-negative integers. */
export function toId(value: number | string | undefined): number | undefined | null {
  if (value === undefined || value === '') return undefined;
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isSafeInteger(n) && n >= 0 ? n : null;
}

/** Autotask keeps Service names unique regardless of case, and so does its `eq` filter. */
export const sameServiceName = (a: string, b: string): boolean =>
  a.trim().toLowerCase() === b.trim().toLowerCase();

const sameText = (a: unknown, b: string): boolean =>
  typeof a === 'string' && a.trim().toLowerCase() === b.trim().toLowerCase();

/** The value of a company's UDF, by label (labels are case-insensitive, as in Autotask's filters). */
export function udfValue(company: Company, label: string): string | undefined {
  const hit = company.userDefinedFields?.find((u) => sameText(u.name, label));
  return typeof hit?.value === 'string' && hit.value.trim() !== '' ? hit.value.trim() : undefined;
}

/** Companies as the billing core's candidates: customers only (a null type: a record read without it). */
export function candidatesOf(
  state: AutotaskState,
  settings: Pick<AutotaskSettings, 'tenantIdUdf'>,
): PartyCandidate[] {
  const label = settings.tenantIdUdf;
  return state.companies.map((c) => {
    const tenantId = label ? udfValue(c, label) : undefined;
    return {
      id: c.id,
      name: c.companyName,
      active: c.isActive,
      customerKind:
        c.companyType === null || c.companyType === undefined || c.companyType === COMPANY_TYPE_CUSTOMER,
      ...(tenantId ? { tenantId } : {}),
    };
  });
}

/**
 * The contract a customer's services go on: an existing one (mapped, or the managed one the ledger or the
 * `SP-<customer>` number names), or a managed one to create. An expired managed contract is renewed (its end
 * date moved); a mapped contract that has ended is the MSP's to renew, so the customer is reported instead.
 */
export type ContractChoice =
  | { id: number; managed: boolean; contract: Contract; renewTo?: string }
  | { create: ContractBody };

export function resolveContract(
  customer: DesiredCustomer,
  company: Company,
  mapping: LinkMapping,
  ledger: Ledger,
  state: AutotaskState,
  idx: Indexed,
  settings: Pick<AutotaskSettings, 'contractStartDay' | 'contractTermMonths'>,
  dates: { today: string; effectiveDate: string },
): Resolved<ContractChoice> {
  const mapped = toId(mapping.customers[customer.customerId]?.contractId);
  if (mapped === null) return { reason: 'the mapped Autotask contract id is not a number' };
  let contract: Contract | undefined;
  if (mapped !== undefined) {
    contract = idx.contractsById.get(mapped);
    if (!contract) return { reason: `Autotask contract ${mapped} (mapped) does not exist` };
  } else {
    const made = toId(ledger.containers[customer.customerId]);
    const number = managedContractNumber(customer.customerId);
    contract =
      (typeof made === 'number' ? idx.contractsById.get(made) : undefined) ??
      state.contracts.filter((c) => c.contractNumber === number).sort((a, b) => a.id - b.id)[0];
    if (!contract) return { ok: { create: contractBody(customer, company.id, settings, dates.today) } };
  }
  if (contract.companyID !== company.id) {
    return {
      reason: `Autotask contract ${contract.id} belongs to company ${contract.companyID}, not ${company.id} (${company.companyName})`,
    };
  }
  const managed = mapped === undefined;
  if (contract.endDate < dates.effectiveDate && !managed) {
    return {
      reason: `Autotask contract ${contract.id} (mapped) ended on ${contract.endDate}; extend it in Autotask or map another`,
    };
  }
  const renew = managed && contract.endDate < dates.today;
  return {
    ok: {
      id: contract.id,
      managed,
      contract,
      ...(renew
        ? {
            renewTo: maxDay(
              contract.endDate,
              termEnd(contract.startDate, settings.contractTermMonths, dates.today),
            ),
          }
        : {}),
    },
  };
}

/**
 * The vendor company a setting names: the one active company with exactly that name (case-insensitive, as
 * Autotask's `eq`), or a reason.
 */
export function resolveVendor(
  state: AutotaskState,
  vendorName: string | undefined,
): Resolved<Company> | null {
  if (!vendorName) return null;
  const found = state.companies.filter((c) => c.isActive && sameText(c.companyName, vendorName));
  if (found.length === 1) return { ok: found[0]! };
  return {
    reason:
      found.length === 0
        ? `vendor "${vendorName}" (setting vendorName) is not an active Autotask company`
        : `${found.length} Autotask companies are named "${vendorName}" (setting vendorName)`,
  };
}
