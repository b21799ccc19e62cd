/**
 * How names and values are written into NAV / BC OData URLs.
 *
 * A string key in a path is an OData string literal: single quotes around it, a quote inside doubled. The
 * delimiting quotes are sent as they are — never `%27` — because NAV, seeing `Company(%27…%27)`, does not
 * recognise the company and silently uses its default company (NOTES 1). The value between them is
 * percent-encoded as a URI component, so `&`, spaces, `"`, `#`, `?`, `/`, `%` and non-ASCII (as UTF-8) cannot
 * end the segment or the path early; encodeURIComponent leaves `'` alone, so the doubled quotes stay literal.
 */

/** A value between the quotes of a key literal: quote doubled, then percent-encoded. */
export function encodeKeyText(value: string): string {
  return encodeURIComponent(value.replaceAll("'", "''"));
}

/** `Company('<name>')`: the company segment of a NAV OData V4 URL. */
export function companySegment(name: string): string {
  return `Company('${encodeKeyText(name)}')`;
}

/** A BC id (an Edm.Guid), written bare in keys and filters. */
export interface Guid {
  guid: string;
}
export const guid = (value: string): Guid => {
  if (!GUID.test(value)) throw new TypeError(`not a GUID: ${JSON.stringify(value.slice(0, 40))}`);
  return { guid: value };
};
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type KeyValue = string | number | Guid;

const isGuid = (v: unknown): v is Guid =>
  typeof v === 'object' && v !== null && typeof (v as Guid).guid === 'string';

function keyLiteral(v: KeyValue): string {
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new TypeError('a key must be a finite number');
    return String(v);
  }
  if (isGuid(v)) return guid(v.guid).guid;
  return `'${encodeKeyText(v)}'`;
}

/** A service or entity-set name as one path segment. */
export const segment = (name: string): string => encodeURIComponent(name);

/**
 * `Set(<key>)` or `Set(Field='…',Other='…')`: one record of an entity set, ready to append to the company
 * root. e.g. `entityKey('SalesInvoice', { Document_Type: 'Invoice', No: '1001' })`.
 */
export function entityKey(set: string, key: KeyValue | Record<string, KeyValue>): string {
  const inner =
    typeof key === 'object' && !isGuid(key)
      ? Object.entries(key)
          .map(([field, v]) => `${fieldName(field)}=${keyLiteral(v)}`)
          .join(',')
      : keyLiteral(key);
  return `${segment(set)}(${inner})`;
}

/** An OData string literal for a `$filter` expression (not yet percent-encoded: the query string does that). */
export function odataString(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

const FIELD = /^[A-Za-z_][A-Za-z0-9_]*$/;
function fieldName(field: string): string {
  if (!FIELD.test(field)) throw new FilterError(`not a field name: ${JSON.stringify(field)}`);
  return field;
}

/** A date in a filter (`invoiceDate ge 2025-03-01`): Edm.Date is written bare. */
export interface DateValue {
  date: string;
}
export type FilterValue = string | number | boolean | null | Guid | DateValue;

export type Filter =
  | { field: string; op: 'eq' | 'ne' | 'gt' | 'ge' | 'lt' | 'le'; value: FilterValue }
  | { field: string; op: 'startswith' | 'endswith' | 'contains'; value: string }
  | { and: Filter[] }
  | { or: Filter[] };

/**
 * A filter that NAV / BC would refuse, built by our own code: a programming error, never sent (and, as a
 * plain Error, classified permanent).
 */
export class FilterError extends Error {
  override name = 'FilterError';
}

function literal(v: FilterValue): string {
  if (v === null) return 'null';
  if (typeof v === 'boolean') return String(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new FilterError('a filter number must be finite');
    return String(v);
  }
  if (typeof v === 'string') return odataString(v);
  if (isGuid(v)) return guid(v.guid).guid;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(v.date)) throw new FilterError(`not a date: ${JSON.stringify(v.date)}`);
  return v.date;
}

function fieldsOf(f: Filter, into = new Set<string>()): Set<string> {
  if ('and' in f) for (const g of f.and) fieldsOf(g, into);
  else if ('or' in f) for (const g of f.or) fieldsOf(g, into);
  else into.add(f.field);
  return into;
}

/**
 * The `$filter` expression of `f`. NAV and BC refuse OR across different fields ("The 'OR' operator is not
 * supported on distinct fields"): such a filter throws FilterError here instead of failing at the target.
 */
export function buildFilter(f: Filter): string {
  if ('and' in f) {
    if (f.and.length === 0) throw new FilterError('an empty `and`');
    return f.and.map((g) => wrap(g)).join(' and ');
  }
  if ('or' in f) {
    if (f.or.length === 0) throw new FilterError('an empty `or`');
    const fields = fieldsOf(f);
    if (fields.size > 1) {
      throw new FilterError(
        `OR across different fields (${[...fields].join(', ')}) is refused by NAV / Business Central: query each field on its own`,
      );
    }
    return f.or.map((g) => wrap(g)).join(' or ');
  }
  const field = fieldName(f.field);
  switch (f.op) {
    case 'startswith':
    case 'endswith':
    case 'contains':
      return `${f.op}(${field},${odataString(f.value)})`;
    default:
      return `${field} ${f.op} ${literal(f.value)}`;
  }
}

/** A nested group of more than one condition goes in parentheses. */
function wrap(g: Filter): string {
  const inner = buildFilter(g);
  const group = 'and' in g ? g.and : 'or' in g ? g.or : undefined;
  return group && group.length > 1 ? `(${inner})` : inner;
}

/** `field eq a or field eq b …`: one field, several values (callers keep lists short: URLs have limits). */
export function anyOf(field: string, values: readonly FilterValue[]): Filter {
  if (values.length === 0) throw new FilterError(`anyOf(${field}) without values`);
  return values.length === 1
    ? { field, op: 'eq', value: values[0]! }
    : { or: values.map((value) => ({ field, op: 'eq' as const, value })) };
}

/**
 * A query string of OData system options, percent-encoded by us (spaces as %20, quotes as %27) so no HTTP
 * library's serializer (axios writes spaces as `+`) decides what reaches the server.
 */
export function queryString(options: Record<string, string | undefined>): string {
  const parts = Object.entries(options)
    .filter((e): e is [string, string] => e[1] !== undefined && e[1] !== '')
    .map(([k, v]) => `${k}=${encodeURIComponent(v).replaceAll("'", '%27')}`);
  return parts.length > 0 ? `?${parts.join('&')}` : '';
}
