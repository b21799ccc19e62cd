import { badRequest, odataError, unknownProperty } from './errors.ts';
import type { EntityDef } from './fields.ts';
import { compileFilter } from './filter.ts';
import type { Wire } from './wire.ts';

/** One row of a collection: its wire form, the key it is paged by, and its lines for `$expand`. */
export interface Row {
  wire: Wire;
  /** Sort key in the entity's key order; rows arrive sorted by it. */
  sortKey: string;
  lines?: () => Wire[];
}

export interface Page {
  body: Wire;
  headers: Record<string, string>;
}

const KNOWN = new Set([
  '$filter',
  '$select',
  '$top',
  '$skip',
  '$orderby',
  '$count',
  '$expand',
  '$skiptoken',
  '$schemaversion',
  '$format',
]);

function checkOptions(url: URL): void {
  for (const k of url.searchParams.keys()) {
    if (k.startsWith('$') && !KNOWN.has(k)) throw badRequest(`The query parameter '${k}' is not supported.`);
  }
}

function nonNegative(url: URL, name: string): number | undefined {
  const v = url.searchParams.get(name);
  if (v === null) return undefined;
  if (!/^\d+$/.test(v)) throw badRequest(`Invalid value '${v}' for $${name.slice(1)} query option found.`);
  return Number(v);
}

function selected(def: EntityDef, url: URL): string[] | undefined {
  const v = url.searchParams.get('$select');
  if (v === null) return undefined;
  const names = v.split(',').map((s) => s.trim());
  for (const n of names) {
    if (n !== '*' && !def.fields.some((f) => f.name === n) && def.lines?.property !== n)
      throw unknownProperty(n, `${def.namespace}.${def.type}`);
  }
  return names.includes('*') ? undefined : names;
}

function expandsLines(def: EntityDef, url: URL): boolean {
  const v = url.searchParams.get('$expand');
  if (v === null) return false;
  for (const n of v.split(',').map((s) => s.trim())) {
    if (n !== def.lines?.property) throw unknownProperty(n, `${def.namespace}.${def.type}`);
  }
  return true;
}

/** Applies `$select` and `$expand` to one entity. */
export function shape(def: EntityDef, row: Row, url: URL): Wire {
  checkOptions(url);
  const sel = selected(def, url);
  const out: Wire = {};
  for (const [k, v] of Object.entries(row.wire)) {
    if (k.startsWith('@') || !sel || sel.includes(k)) out[k] = v;
  }
  if (def.lines && expandsLines(def, url)) out[def.lines.property] = row.lines?.() ?? [];
  return out;
}

function orderBy(def: EntityDef, url: URL): ((a: Row, b: Row) => number) | undefined {
  const v = url.searchParams.get('$orderby');
  if (v === null) return undefined;
  const parts = v.split(',').map((p) => {
    const [name, dir] = p.trim().split(/\s+/);
    if (!name || !def.fields.some((f) => f.name === name)) throw unknownProperty(name ?? '', def.type);
    if (dir !== undefined && dir !== 'asc' && dir !== 'desc') throw badRequest(`Syntax error in '$orderby'.`);
    return { name, sign: dir === 'desc' ? -1 : 1 };
  });
  return (a, b) => {
    for (const { name, sign } of parts) {
      const [x, y] = [a.wire[name] as string | number, b.wire[name] as string | number];
      if (x < y) return -sign;
      if (x > y) return sign;
    }
    return a.sortKey < b.sortKey ? -1 : a.sortKey > b.sortKey ? 1 : 0;
  };
}

interface Token {
  after?: string;
  offset?: number;
}
const encodeToken = (t: Token) => `'${Buffer.from(JSON.stringify(t)).toString('base64url')}'`;
function decodeToken(raw: string): Token {
  try {
    return JSON.parse(Buffer.from(raw.replace(/^'|'$/g, ''), 'base64url').toString());
  } catch {
    throw badRequest(`The skip token value '${raw}' is invalid.`);
  }
}

/** `Prefer: odata.maxpagesize=N` asks for smaller pages than the server's; larger asks are capped. */
function preferredPageSize(prefer: string | undefined): number | undefined {
  const m = prefer ? /odata\.maxpagesize\s*=\s*(\d+)/i.exec(prefer) : null;
  return m ? Number(m[1]) : undefined;
}

/**
 * One page of a collection with server-driven paging: at most `pageSize` rows and an `@odata.nextLink` carrying a
 * `$skiptoken` while more remain. With `$top` the answer is cut at the page size and has no nextLink, so rows past
 * the page are silently missing (NAV/BC behaviour the spec warns about).
 */
export function page(
  def: EntityDef,
  rows: Row[],
  opts: { url: URL; context: string; pageSize: number; prefer?: string; maxPageSize?: number },
): Page {
  const { url } = opts;
  checkOptions(url);
  const filter = compileFilter(def, url.searchParams.get('$filter'));
  const sel = selected(def, url);
  const expand = expandsLines(def, url);
  const sort = orderBy(def, url);
  let matched = rows.filter((r) => filter(r.wire));
  if (sort) matched = [...matched].sort(sort);
  const headers: Record<string, string> = {};
  const asked = preferredPageSize(opts.prefer);
  if (opts.maxPageSize !== undefined && asked !== undefined && asked > opts.maxPageSize) {
    throw odataError(413, 'BadRequest', `The page size ${asked} exceeds the maximum of ${opts.maxPageSize}.`);
  }
  const size = asked !== undefined && asked > 0 ? Math.min(asked, opts.pageSize) : opts.pageSize;
  if (asked !== undefined) headers['Preference-Applied'] = `odata.maxpagesize=${size}`;
  const top = nonNegative(url, '$top');
  const skip = nonNegative(url, '$skip') ?? 0;
  const tokenRaw = url.searchParams.get('$skiptoken');
  let start = skip;
  if (tokenRaw !== null) {
    const t = decodeToken(tokenRaw);
    if (t.after !== undefined) {
      const after = t.after;
      const i = matched.findIndex((r) => r.sortKey > after);
      start = i < 0 ? matched.length : i;
    } else start = t.offset ?? 0;
  }
  let taken: Row[];
  let next: string | undefined;
  if (top !== undefined) {
    taken = matched.slice(skip, skip + top).slice(0, size);
  } else {
    taken = matched.slice(start, start + size);
    if (start + size < matched.length) {
      const last = taken[taken.length - 1] as Row;
      const token = encodeToken(sort ? { offset: start + size } : { after: last.sortKey });
      next = nextLink(url, token);
    }
  }
  const value = taken.map((r) => {
    const out: Wire = {};
    for (const [k, v] of Object.entries(r.wire)) if (k.startsWith('@') || !sel || sel.includes(k)) out[k] = v;
    if (expand && def.lines) out[def.lines.property] = r.lines?.() ?? [];
    return out;
  });
  const body: Wire = { '@odata.context': sel ? `${opts.context}(${sel.join(',')})` : opts.context };
  if (url.searchParams.get('$count') === 'true') body['@odata.count'] = matched.length;
  body.value = value;
  if (next) body['@odata.nextLink'] = next;
  return { body, headers };
}

function nextLink(url: URL, token: string): string {
  const parts: string[] = [];
  for (const [k, v] of url.searchParams) {
    if (k === '$skiptoken' || k === '$skip') continue;
    parts.push(`${k}=${encodeURIComponent(v)}`);
  }
  parts.push(`$skiptoken=${encodeURIComponent(token)}`);
  return `${url.origin}${url.pathname}?${parts.join('&')}`;
}
