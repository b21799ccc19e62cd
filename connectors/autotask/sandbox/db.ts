import { wireDate } from './dates.ts';
import { makeRow } from './fields.ts';
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

export interface Store {
  db: SandboxDb;
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
        periodType: s.periodType ?? 1,
        isActive: true,
        createDate: wireDate(today()),
        lastModifiedDate: wireDate(today()),
      }),
    );
  }
  return { db, nextId, today };
}
