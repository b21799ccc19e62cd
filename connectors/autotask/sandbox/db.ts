import { wireDate } from './dates.ts';
import { type EntityName, makeRow } from './fields.ts';
import { DEFAULT_PICKLISTS, type PicklistValue } from './specs.ts';
import type { AutotaskSandboxOptions, Row, SandboxDb } from './types.ts';

/** Each table numbers from its own base, so an id of the wrong kind never finds a record by accident. */
const ID_BASE = {
  companies: 29683000,
  contracts: 29684000,
  services: 29685000,
  contractServices: 29686000,
  adjustments: 29687000,
  contractCharges: 29688000,
  billingCodes: 29682800,
} as const;
export type Table = keyof typeof ID_BASE;

export const DEFAULT_BILLING_CODE_ID = 29682801;
/** A material code for usage charges (e.g. Azure consumption). */
export const DEFAULT_MATERIAL_CODE_ID = 29682802;

export interface Store {
  db: SandboxDb;
  /** Picklists per entity and field (see specs.ts); tests may replace values. */
  picklists: Partial<Record<EntityName, Record<string, PicklistValue[]>>>;
  /** Currencies by id: `exchangeRate` turns a customer-currency amount into the internal currency. */
  currencies: Map<number, { id: number; name: string; exchangeRate: number }>;
  /** A fresh id for a table, past every id already in it (tests may seed rows directly). */
  nextId(table: Table): number;
  today(): string;
}

export function createStore(opts: AutotaskSandboxOptions, today: () => string): Store {
  const db: SandboxDb = {
    companies: new Map(),
    contracts: new Map(),
    services: new Map(),
    contractServices: new Map(),
    adjustments: [],
    billingCodes: new Map(),
    contractCharges: new Map(),
  };
  const counters: Record<Table, number> = { ...ID_BASE };
  const taken = (table: Table, id: number): boolean =>
    table === 'adjustments'
      ? db.adjustments.some((a) => a.id === id)
      : (db[table] as Map<number, Row>).has(id);
  const nextId = (table: Table): number => {
    let id = counters[table];
    while (taken(table, id)) id += 1;
    counters[table] = id + 1;
    return id;
  };

  const codes = opts.billingCodes ?? [
    { id: DEFAULT_BILLING_CODE_ID, name: 'Recurring Contract Service', useType: 5 },
    { id: DEFAULT_MATERIAL_CODE_ID, name: 'Azure consumption', useType: 2 },
  ];
  for (const c of codes) {
    db.billingCodes.set(c.id, makeRow('BillingCodes', c.id, { ...c, isActive: true, billingCodeType: 0 }));
  }
  for (const c of opts.companies ?? []) {
    const id = c.id ?? nextId('companies');
    const udfs = Object.entries(c.udfs ?? {}).map(([name, value]) => ({ name, value }));
    db.companies.set(
      id,
      makeRow('Companies', id, {
        companyName: c.companyName,
        companyType: c.companyType ?? 1,
        isActive: c.isActive ?? true,
        currencyID: c.currencyID ?? null,
        createDate: wireDate(today()),
        userDefinedFields: udfs,
      }),
    );
  }
  for (const s of opts.services ?? []) {
    const id = s.id ?? nextId('services');
    db.services.set(
      id,
      makeRow('Services', id, {
        name: s.name,
        unitPrice: s.unitPrice,
        unitCost: s.unitCost ?? null,
        billingCodeID: s.billingCodeID,
        periodType: s.periodType ?? 2,
        isActive: true,
        createDate: wireDate(today()),
        lastModifiedDate: wireDate(today()),
      }),
    );
  }
  const picklists = structuredClone(DEFAULT_PICKLISTS);
  if (opts.chargeTypes) picklists.ContractCharges = { chargeType: opts.chargeTypes };
  const currencies = new Map((opts.currencies ?? []).map((c) => [c.id, c]));
  return { db, nextId, today, picklists, currencies };
}

/** The internal-currency amount of a customer-currency one, for a contract's company (1:1 without a currency). */
export function toInternal(s: Store, contractId: unknown, amount: unknown): number | null {
  if (typeof amount !== 'number') return null;
  const contract = s.db.contracts.get(contractId as number);
  const company = contract ? s.db.companies.get(contract.companyID as number) : undefined;
  const rate = s.currencies.get(company?.currencyID as number)?.exchangeRate ?? 1;
  return Math.round(amount * rate * 10_000) / 10_000;
}

/** Active values of a picklist, or undefined when the field has none. */
export function picklistValues(s: Store, entity: EntityName, field: string): number[] | undefined {
  const list = s.picklists[entity]?.[field];
  return list?.filter((v) => v.isActive !== false).map((v) => v.value);
}
