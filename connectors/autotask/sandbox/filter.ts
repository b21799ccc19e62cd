import { businessError } from './errors.ts';
import { type EntityName, fieldName } from './fields.ts';
import type { Row } from './types.ts';

/** A compiled filter: true when the row matches every top-level condition (Autotask ANDs them). */
export type Predicate = (row: Row) => boolean;

const FIELD_OPS = new Set([
  'eq',
  'noteq',
  'gt',
  'gte',
  'lt',
  'lte',
  'beginswith',
  'endswith',
  'contains',
  'exist',
  'notexist',
  'in',
  'notin',
]);

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** Filter properties are case-insensitive too ("Op", "Field" work against Autotask). */
function prop(o: Record<string, unknown>, name: string): unknown {
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === name) return v;
  return undefined;
}

/** Milliseconds of an ISO date or date-time; a value without a zone is taken as UTC, as Autotask does. */
function instant(s: string): number {
  if (/^\d{4}-\d{2}-\d{2}$/.test(s)) return Date.parse(`${s}T00:00:00Z`);
  if (/^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(s)) return Date.parse(`${s}Z`);
  return Date.parse(s);
}
const looksLikeDate = (v: unknown): v is string => typeof v === 'string' && /^\d{4}-\d{2}-\d{2}/.test(v);

function toBool(v: unknown): boolean | undefined {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === '1' || (typeof v === 'string' && v.toLowerCase() === 'true')) return true;
  if (v === 0 || v === '0' || (typeof v === 'string' && v.toLowerCase() === 'false')) return false;
  return undefined;
}

/** Sign of a − b by a's type (SQL Server style: strings compare case-insensitively); undefined if incomparable. */
export function compare(a: unknown, b: unknown): number | undefined {
  if (a === null || a === undefined || b === null || b === undefined) return undefined;
  if (typeof a === 'number') {
    const n = typeof b === 'number' ? b : typeof b === 'string' && b.trim() !== '' ? Number(b) : Number.NaN;
    return Number.isNaN(n) ? undefined : Math.sign(a - n);
  }
  if (typeof a === 'boolean') {
    const bb = toBool(b);
    return bb === undefined ? undefined : Number(a) - Number(bb);
  }
  if (looksLikeDate(a) && looksLikeDate(b)) {
    const [ta, tb] = [instant(a), instant(b)];
    if (!Number.isNaN(ta) && !Number.isNaN(tb)) return Math.sign(ta - tb);
  }
  const [sa, sb] = [String(a).toLowerCase(), String(b).toLowerCase()];
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

function test(op: string, a: unknown, b: unknown): boolean {
  const c = () => compare(a, b);
  const text = () => (a === null || a === undefined ? undefined : String(a).toLowerCase());
  switch (op) {
    case 'eq':
      return b === null ? a === null || a === undefined : c() === 0;
    case 'noteq':
      return b === null ? a !== null && a !== undefined : c() !== 0;
    case 'gt':
      return c() === 1;
    case 'gte':
      return c() === 1 || c() === 0;
    case 'lt':
      return c() === -1;
    case 'lte':
      return c() === -1 || c() === 0;
    case 'beginswith':
      return text()?.startsWith(String(b).toLowerCase()) ?? false;
    case 'endswith':
      return text()?.endsWith(String(b).toLowerCase()) ?? false;
    case 'contains':
      return text()?.includes(String(b).toLowerCase()) ?? false;
    case 'exist':
      return a !== null && a !== undefined && a !== '';
    case 'notexist':
      return a === null || a === undefined || a === '';
    case 'in':
      return (b as unknown[]).some((v) => compare(a, v) === 0);
    case 'notin':
      return !(b as unknown[]).some((v) => compare(a, v) === 0);
    default:
      throw businessError(`Invalid operation: ${op}`);
  }
}

function udfValue(row: Row, label: string): unknown {
  const udfs: unknown = row.userDefinedFields;
  if (!Array.isArray(udfs)) return undefined;
  const hit = udfs.find((u) => isObject(u) && String(u.name).toLowerCase() === label.toLowerCase());
  return isObject(hit) ? hit.value : undefined;
}

function compileOne(entity: EntityName, raw: unknown, udfCount: { n: number }): Predicate {
  if (!isObject(raw)) throw businessError('Each filter item must be an object with an op');
  const opRaw = prop(raw, 'op');
  if (typeof opRaw !== 'string' || opRaw === '') throw businessError('op is required in every filter item');
  const op = opRaw.toLowerCase();
  if (op === 'and' || op === 'or') {
    const items = prop(raw, 'items');
    if (!Array.isArray(items) || items.length === 0) throw businessError(`The ${opRaw} group requires items`);
    const parts = items.map((i) => compileOne(entity, i, udfCount));
    return op === 'and' ? (row) => parts.every((p) => p(row)) : (row) => parts.some((p) => p(row));
  }
  if (!FIELD_OPS.has(op)) throw businessError(`Invalid operation: ${opRaw}`);
  const fieldRaw = prop(raw, 'field');
  if (typeof fieldRaw !== 'string' || fieldRaw === '')
    throw businessError(`field is required for op ${opRaw}`);
  const value = prop(raw, 'value');
  if ((op === 'in' || op === 'notin') && !Array.isArray(value))
    throw businessError(`The ${opRaw} operation requires an array value`);
  if (op !== 'exist' && op !== 'notexist' && value === undefined)
    throw businessError(`value is required for op ${opRaw} on ${fieldRaw}`);
  if (prop(raw, 'udf') === true) {
    if (!fieldName(entity, 'userDefinedFields'))
      throw businessError(`The ${entity} entity has no user-defined fields`);
    udfCount.n += 1;
    if (udfCount.n > 1) throw businessError('Only one user-defined field may be queried at a time');
    return (row) => test(op, udfValue(row, fieldRaw), value);
  }
  const field = fieldName(entity, fieldRaw);
  if (!field || field === 'userDefinedFields')
    throw businessError(`Unable to find ${fieldRaw} in the ${entity} entity.`);
  return (row) => test(op, row[field], value);
}

/** Compiles an Autotask filter array (validated up front, so a bad filter fails even on an empty table). */
export function compileFilter(entity: EntityName, filter: unknown): Predicate {
  if (filter === undefined || filter === null) return () => true;
  if (!Array.isArray(filter)) throw businessError('filter must be an array');
  const udfCount = { n: 0 };
  const parts = filter.map((f) => compileOne(entity, f, udfCount));
  return (row) => parts.every((p) => p(row));
}
