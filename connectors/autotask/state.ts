import { addDays } from '../../src/billing/dates.ts';
import { TargetError } from '../types.ts';
import type {
  Company,
  Contract,
  ContractCharge,
  ContractService,
  ContractServiceUnit,
  Service,
} from './schemas.ts';

/** What readState returns: plain records, no behaviour, so it can be logged or stored as a dry run. */
export interface AutotaskState {
  /** The run's local day: units are read as they stand on it. */
  today: string;
  /** Service periodType values of this instance. */
  periodTypes: { month: number; year: number };
  /** Customers' companies (by id, tenant UDF, name and close names) and the vendor company, when one is set. */
  companies: Company[];
  contracts: Contract[];
  services: Service[];
  contractServices: ContractService[];
  /** Rows around today and the 1st of the month, and the last rows of contracts that ended. */
  units: ContractServiceUnit[];
  /** SpinPanel's usage (`SP-…`) and perpetual (`SPP-…`) charges; absent: none read. */
  charges?: ContractCharge[];
}

/** `plan` gets back what `readState` returned; anything else is a programming error, said plainly. */
export function assertAutotaskState(state: unknown): asserts state is AutotaskState {
  const s = state as Partial<AutotaskState> | null;
  const lists = ['companies', 'contracts', 'services', 'contractServices', 'units'] as const;
  if (!s || typeof s.today !== 'string' || !s.periodTypes || !lists.every((k) => Array.isArray(s[k]))) {
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

/** The row in effect on `day`: the one covering it; where two touch it (a split day), the later start wins. */
export function rowOn(
  rows: readonly ContractServiceUnit[] | undefined,
  day: string,
): ContractServiceUnit | undefined {
  let best: ContractServiceUnit | undefined;
  for (const row of rows ?? []) {
    if (row.startDate > day || row.endDate < day) continue;
    if (!best || row.startDate > best.startDate) best = row;
  }
  return best;
}

/** Units in effect on `day`. */
export const unitsOn = (rows: readonly ContractServiceUnit[] | undefined, day: string): number | undefined =>
  rowOn(rows, day)?.units;

const isMonthStart = (day: string): boolean => day.endsWith('-01');

/**
 * Whether the rows show an adjustment on `day`: rows split where one takes effect, so a row starting on a day
 * that is no period start (contract start, 1st of a month) is one; on a period start, a change of units from
 * the row before is (without that row, none is assumed; the ledger is the second guard).
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
