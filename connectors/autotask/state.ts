import { TargetError } from '../types.ts';
import { addDays } from './mappers.ts';
import type {
  Company,
  Contract,
  ContractCharge,
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

/** What readState returns: plain records, no behaviour, so it can be logged or stored as a dry run. */
export interface AutotaskState {
  /** The day whose ContractServiceUnits rows were read (effectiveDate + 7). */
  unitsDate: string;
  /** Customers' companies (by id, tenant UDF and name) and the vendor company, when one is set. */
  companies: Company[];
  contracts: Contract[];
  services: Service[];
  contractServices: ContractService[];
  /** Rows around the units date, and the last rows of contracts that end before it. */
  units: ContractServiceUnit[];
  /** SpinPanel's usage charges (purchaseOrderNumber `SP-…`) since the first month read; absent: none read. */
  charges?: ContractCharge[];
}

/** `plan` gets back what `readState` returned; anything else is a programming error, said plainly. */
export function assertAutotaskState(state: unknown): asserts state is AutotaskState {
  const s = state as Partial<AutotaskState> | null;
  const lists = ['companies', 'contracts', 'services', 'contractServices', 'units'] as const;
  if (!s || typeof s.unitsDate !== 'string' || !lists.every((k) => Array.isArray(s[k]))) {
    throw new TargetError('the Autotask plan was given a state that readState did not make', undefined, []);
  }
}

export interface Indexed {
  companiesById: Map<number, Company>;
  contractsById: Map<number, Contract>;
  servicesById: Map<number, Service>;
  csByContract: Map<number, ContractService[]>;
  rowsByCs: Map<number, ContractServiceUnit[]>;
}

export function indexState(state: AutotaskState): Indexed {
  const csByContract = new Map<number, ContractService[]>();
  for (const cs of [...state.contractServices].sort((a, b) => a.id - b.id)) {
    const list = csByContract.get(cs.contractID) ?? [];
    list.push(cs);
    csByContract.set(cs.contractID, list);
  }
  const rowsByCs = new Map<number, ContractServiceUnit[]>();
  for (const row of state.units) {
    const list = rowsByCs.get(row.contractServiceID) ?? [];
    list.push(row);
    rowsByCs.set(row.contractServiceID, list);
  }
  return {
    companiesById: new Map(state.companies.map((c) => [c.id, c])),
    contractsById: new Map(state.contracts.map((c) => [c.id, c])),
    servicesById: new Map(state.services.map((s) => [s.id, s])),
    csByContract,
    rowsByCs,
  };
}

/** Units in effect on `day`: the row covering it; where two touch it (a split day), the later start wins. */
export function unitsOn(rows: readonly ContractServiceUnit[] | undefined, day: string): number | undefined {
  let best: ContractServiceUnit | undefined;
  for (const row of rows ?? []) {
    if (row.startDate > day || row.endDate < day) continue;
    if (!best || row.startDate > best.startDate) best = row;
  }
  return best?.units;
}

/** Autotask allows one adjustment per contract service and day; a clash moves the delta up to 6 days on. */
export const MAX_ADJUSTMENT_SHIFT_DAYS = 6;

const isMonthStart = (day: string): boolean => day.endsWith('-01');

/**
 * Whether the rows show an adjustment on `day`: rows split where one takes effect, so a row starting on a day
 * that is no period start (contract start, 1st of a month) is one; on a period start, a change of units from
 * the row before is (without that row, none is assumed: apply still moves on past a refused day).
 */
export function adjustedOn(
  rows: readonly ContractServiceUnit[],
  day: string,
  contractStart: string,
): boolean {
  const row = rows.find((r) => r.startDate === day);
  if (!row) return false;
  if (day !== contractStart && !isMonthStart(day)) return true;
  const prev = rows.find((r) => r.endDate === addDays(day, -1));
  if (!prev) return day === contractStart && row.units !== 0;
  return row.units !== prev.units;
}

/** The first day from `date` without an adjustment of this contract service (else `date`: apply shifts on). */
export function freeDay(rows: readonly ContractServiceUnit[], date: string, contractStart: string): string {
  for (let shift = 0; shift <= MAX_ADJUSTMENT_SHIFT_DAYS; shift++) {
    const day = addDays(date, shift);
    if (!adjustedOn(rows, day, contractStart)) return day;
  }
  return date;
}

/** The day whose units count for a contract: the units date, or the contract's last day when it ends sooner. */
export const readDateFor = (contract: Pick<Contract, 'endDate'>, unitsDate: string): string =>
  contract.endDate < unitsDate ? contract.endDate : unitsDate;
