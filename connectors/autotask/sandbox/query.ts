import { type Store, toInternal } from './db.ts';
import { badRequest, businessError } from './errors.ts';
import { type EntityName, fieldName } from './fields.ts';
import { compileFilter } from './filter.ts';
import type { Row } from './types.ts';
import { unitRows } from './units.ts';

export const MAX_RECORDS = 500;

export interface QuerySpec {
  max: number;
  include?: string[];
  filter: unknown;
}

/** JSON.NET binds the query model case-insensitively ("maxRecords" works as well as "MaxRecords"). */
function prop(o: Record<string, unknown>, name: string): unknown {
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === name) return v;
  return undefined;
}

export function parseQuerySpec(entity: EntityName, raw: unknown, fallbackMax = MAX_RECORDS): QuerySpec {
  if (raw === undefined || raw === null) raw = {};
  if (typeof raw !== 'object' || Array.isArray(raw)) throw badRequest('The query must be a JSON object');
  const o = raw as Record<string, unknown>;
  const maxRaw = prop(o, 'maxrecords');
  const max = maxRaw === undefined || maxRaw === null ? fallbackMax : Number(maxRaw);
  if (!Number.isInteger(max) || max < 1 || max > MAX_RECORDS) {
    throw businessError('maxCountOfRecordsToReturn must be between 1 and 500');
  }
  const includeRaw = prop(o, 'includefields');
  let include: string[] | undefined;
  if (Array.isArray(includeRaw) && includeRaw.length > 0) {
    include = includeRaw.map((f) => {
      const name = typeof f === 'string' ? fieldName(entity, f) : undefined;
      if (!name) throw businessError(`Unable to find ${String(f)} in the ${entity} entity.`);
      return name;
    });
  }
  return { max, include, filter: prop(o, 'filter') };
}

/**
 * The contract services a ContractServiceUnits filter can match, from its top-level `eq`/`in` conditions on
 * contractServiceID or contractID (the filter still runs on the rows; this only spares deriving the rest).
 */
function unitsScope(filter: unknown): ((cs: Row) => boolean) | undefined {
  if (!Array.isArray(filter)) return undefined;
  const tests: ((cs: Row) => boolean)[] = [];
  for (const c of filter as Record<string, unknown>[]) {
    const field = typeof c?.field === 'string' ? c.field.toLowerCase() : '';
    const key = field === 'contractserviceid' ? 'id' : field === 'contractid' ? 'contractID' : undefined;
    if (!key || c.udf) continue;
    const op = String(c.op).toLowerCase();
    if (op === 'eq') tests.push((cs) => cs[key] === Number(c.value));
    if (op === 'in' && Array.isArray(c.value)) {
      const set = new Set(c.value.map(Number));
      tests.push((cs) => set.has(cs[key]));
    }
  }
  return tests.length > 0 ? (cs) => tests.every((t) => t(cs)) : undefined;
}

/** Every row of an entity, ordered by id. ContractServiceUnits are derived on each read (`filter` narrows them). */
export function tableRows(entity: EntityName, s: Store, filter?: unknown): Row[] {
  const { db } = s;
  let rows: Row[];
  switch (entity) {
    case 'Companies':
      rows = [...db.companies.values()];
      break;
    case 'Contracts':
      rows = [...db.contracts.values()];
      break;
    case 'Services':
      rows = [...db.services.values()];
      break;
    case 'ContractServices':
      rows = [...db.contractServices.values()];
      break;
    case 'ContractCharges':
      rows = [...db.contractCharges.values()];
      break;
    case 'BillingCodes':
      rows = [...db.billingCodes.values()];
      break;
    case 'ContractServiceAdjustments':
      rows = [...db.adjustments];
      break;
    case 'ContractServiceUnits': {
      // Adjustments grouped once per query: scanning all of them per contract service is quadratic.
      const byCs = new Map<number, Row[]>();
      for (const a of db.adjustments) {
        const list = byCs.get(a.contractServiceID) ?? [];
        list.push(a);
        byCs.set(a.contractServiceID, list);
      }
      const scope = unitsScope(filter);
      const services = [...db.contractServices.values()];
      rows = (scope ? services.filter(scope) : services).flatMap((cs) => {
        const contract = db.contracts.get(cs.contractID);
        const adjs = byCs.get(cs.id) ?? [];
        return contract ? unitRows(contract, cs, adjs, (a) => toInternal(s, contract.id, a)) : [];
      });
      break;
    }
  }
  return rows.sort((a, b) => a.id - b.id);
}

export function project(row: Row, include: string[] | undefined): Row {
  if (!include) return structuredClone(row);
  const out: Row = { id: row.id };
  for (const f of include) out[f] = structuredClone(row[f]);
  return out;
}

/** Matching rows after `afterId`, ordered by id, cut at `max`; `more` tells whether the cut dropped any. */
export function runQuery(
  entity: EntityName,
  rows: Row[],
  spec: QuerySpec,
  afterId?: number,
): { items: Row[]; more: boolean; lastId?: number } {
  const match = compileFilter(entity, spec.filter);
  const hits = rows.filter((r) => (afterId === undefined || r.id > afterId) && match(r));
  const page = hits.slice(0, spec.max);
  return {
    items: page.map((r) => project(r, spec.include)),
    more: hits.length > page.length,
    lastId: page.at(-1)?.id,
  };
}

export function countQuery(entity: EntityName, rows: Row[], filter: unknown): number {
  const match = compileFilter(entity, filter);
  return rows.filter(match).length;
}
