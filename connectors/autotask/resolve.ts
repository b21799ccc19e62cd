import type { DesiredCustomer, DesiredLine, LinkMapping } from '../types.ts';
import { type ContractBody, contractBody, managedContractNumber, serviceName, termEnd } from './mappers.ts';
import type { AutotaskSettings, Company, Contract, Service } from './schemas.ts';
import type { AutotaskState, Indexed } from './state.ts';

export type Resolved<T> = { ok: T } | { reason: string };

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

/**
 * Customer → company: the mapped id (checked to exist), else the one active company whose tenant-id UDF holds
 * the customer's Microsoft tenant, else the one active company with exactly its name. Never a guess: none or
 * several is a reason, reported as unmapped.
 */
export function resolveCompany(
  customer: DesiredCustomer,
  mapping: LinkMapping,
  state: AutotaskState,
  idx: Indexed,
  settings: Pick<AutotaskSettings, 'tenantIdUdf'>,
): Resolved<Company> {
  const mapped = toId(mapping.customers[customer.customerId]?.companyId);
  if (mapped === null) return { reason: 'the mapped Autotask company id is not a number' };
  if (mapped !== undefined) {
    const company = idx.companiesById.get(mapped);
    return company ? { ok: company } : { reason: `Autotask company ${mapped} (mapped) does not exist` };
  }
  const label = settings.tenantIdUdf;
  const tenant = customer.microsoftTenantId;
  if (label) {
    const byTenant = state.companies.filter((c) => c.isActive && sameText(udfValue(c, label), tenant));
    if (byTenant.length === 1) return { ok: byTenant[0]! };
    if (byTenant.length > 1) {
      return {
        reason: `${byTenant.length} Autotask companies hold tenant ${tenant} in UDF "${label}"; map the customer to a company id`,
      };
    }
  }
  const name = customer.name.trim();
  const found = state.companies.filter((c) => c.isActive && c.companyName.trim() === name);
  if (found.length === 1) {
    const other = label ? udfValue(found[0]!, label) : undefined;
    // The name matches but the company says it is another tenant: two customers share a name.
    if (other && !sameText(other, tenant)) {
      return {
        reason: `the company named "${name}" holds tenant ${other} in UDF "${label}", not ${tenant}; map the customer to a company id`,
      };
    }
    return { ok: found[0]! };
  }
  return {
    reason:
      found.length === 0
        ? `no company named "${name}"${label ? ` or holding its tenant id in UDF "${label}"` : ''} in Autotask; map the customer to a company id`
        : `${found.length} companies named "${name}" in Autotask; map the customer to a company id`,
  };
}

/**
 * The contract a customer's services go on: an existing one (mapped, or the managed `SP-<customer>` one), or a
 * managed one to create. An expired managed contract is renewed (its end date moved); a mapped contract that
 * has ended is the MSP's to renew, so the customer is reported instead.
 */
export type ContractChoice =
  | { id: number; managed: boolean; contract: Contract; renewTo?: string }
  | { create: ContractBody };

export function resolveContract(
  customer: DesiredCustomer,
  company: Company,
  mapping: LinkMapping,
  state: AutotaskState,
  idx: Indexed,
  settings: Pick<AutotaskSettings, 'contractStartDay' | 'contractTermMonths'>,
  dates: { today: string; effectiveDate: string; unitsDate: string },
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
    if (!contract) {
      return {
        ok: { create: contractBody(customer, company.id, settings, dates.today, dates.unitsDate) },
      };
    }
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
  // Renewed a little ahead (to the units date), so the re-run a week later still reads this term's units.
  const renew = managed && contract.endDate < dates.unitsDate;
  return {
    ok: {
      id: contract.id,
      managed,
      contract,
      ...(renew
        ? {
            renewTo: maxDay(
              contract.endDate,
              termEnd(contract.startDate, settings.contractTermMonths, dates.unitsDate),
            ),
          }
        : {}),
    },
  };
}

/** The later of two YYYY-MM-DD days. */
export const maxDay = (a: string, b: string): string => (a > b ? a : b);

/** Services looked up by name: exactly one, or a reason. */
export function servicesNamed(state: AutotaskState, line: DesiredLine): Service[] {
  const name = serviceName(line.productName);
  return state.services.filter((s) => sameServiceName(s.name, name));
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
