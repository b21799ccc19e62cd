import { createHash } from 'node:crypto';
import type { Versioned } from './db.ts';
import {
  badRequest,
  entityChanged,
  missingConcurrencyToken,
  odataError,
  readOnlyControl,
  stringTooLong,
} from './errors.ts';
import type { EntityDef, FieldDef, ReadCtx } from './fields.ts';

/** Converting records to and from the wire, and their ETags. */

export type Wire = Record<string, unknown>;

/**
 * NAV/BC ETags are weak and wrap a base64 string of a quoted token of key and row version, e.g.
 * `W/"JzQ0O0VnQUFB…Jyc="` (`'44;…;'`). Clients must send them back verbatim.
 */
export function etagOf(type: string, rec: { id: string; version: number }): string {
  const key = createHash('sha256').update(`${type}:${rec.id}`).digest('base64');
  return `W/"${Buffer.from(`'${key.length};${key}1;${rec.version}0;00;'`).toString('base64')}"`;
}

/**
 * Checks `If-Match` against the record's current ETag: absent or not an ETag → 400 `BadRequest_InvalidToken`;
 * another version → 409 `Request_EntityChanged`; `*` always matches.
 */
export function checkIfMatch(ifMatch: string | undefined, type: string, rec: Versioned): void {
  const v = ifMatch?.trim();
  if (!v) throw missingConcurrencyToken();
  if (v === '*') return;
  const m = /^W\/"([A-Za-z0-9+/=]+)"$/.exec(v);
  if (
    !m ||
    !Buffer.from(m[1] as string, 'base64')
      .toString()
      .startsWith("'")
  )
    throw missingConcurrencyToken();
  if (v !== etagOf(type, rec)) throw entityChanged();
}

function wireValue(f: FieldDef, stored: unknown): unknown {
  if (f.kind === 'option') {
    const hit = f.options?.find(([, s]) => s === stored);
    return hit ? hit[0] : stored;
  }
  return stored ?? null;
}

/** A record as the API shows it: `@odata.etag` first, then every field of the entity in order. */
// biome-ignore lint/suspicious/noExplicitAny: records of every table pass through here
export function toWire(def: EntityDef, rec: any, ctx: ReadCtx, withEtag = true): Wire {
  const out: Wire = {};
  if (withEtag) out['@odata.etag'] = etagOf(def.type, rec);
  for (const f of def.fields) out[f.name] = f.get ? f.get(rec, ctx) : wireValue(f, rec[f.prop as string]);
  return out;
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}$/;
const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isGuid = (s: string): boolean => GUID.test(s);

function convert(def: EntityDef, f: FieldDef, v: unknown): unknown {
  const typeName = `${def.namespace}.${def.type}`;
  const expect = (edm: string) =>
    badRequest(
      `Cannot convert a primitive value to the expected type '${edm}'. See the inner exception for more details. (property '${f.name}' on type '${typeName}')`,
    );
  switch (f.kind) {
    case 'code':
    case 'text': {
      if (v === null) return '';
      if (typeof v !== 'string') throw expect('Edm.String');
      if (f.max !== undefined && v.length > f.max) throw stringTooLong(v, f.max);
      return f.kind === 'code' ? v.toUpperCase() : v;
    }
    case 'decimal':
    case 'int':
      if (typeof v !== 'number' || !Number.isFinite(v))
        throw expect(f.kind === 'int' ? 'Edm.Int32' : 'Edm.Decimal');
      if (f.kind === 'int' && !Number.isInteger(v)) throw expect('Edm.Int32');
      return v;
    case 'bool':
      if (typeof v !== 'boolean') throw expect('Edm.Boolean');
      return v;
    case 'date':
      if (typeof v !== 'string' || !ISO_DATE.test(v) || Number.isNaN(Date.parse(v)))
        throw badRequest('Unable to convert value to Date');
      return v;
    case 'guid':
      if (typeof v !== 'string' || !GUID.test(v))
        throw odataError(
          400,
          'Application_InvalidGUID',
          'Invalid format of GUID string. The correct format of the GUID string is: CDEF7890-ABCD-0123-1234-567890ABCDEF where 0-9, A-F symbolizes hexadecimal digits.',
        );
      return v.toLowerCase();
    case 'option': {
      const hit = typeof v === 'string' ? f.options?.find(([w]) => w === v) : undefined;
      if (!hit)
        throw odataError(
          400,
          'Application_EvaluateException',
          `The value "${String(v)}" cannot be evaluated into type Option.`,
        );
      return hit[1];
    }
    case 'datetime':
      return v;
  }
}

/**
 * The request body as stored values by property. Annotations (`@odata.etag` and the like) are ignored, as OData
 * readers do: an ETag in the body is no `If-Match`. Navigation properties are returned apart (deep insert).
 */
export function fromWire(
  def: EntityDef,
  body: unknown,
): { values: Record<string, unknown>; nested: Record<string, unknown> } {
  if (typeof body !== 'object' || body === null || Array.isArray(body))
    throw badRequest('Invalid Request Body');
  const values: Record<string, unknown> = {};
  const nested: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(body)) {
    if (k.includes('@')) continue;
    if (def.lines && k === def.lines.property) {
      nested[k] = v;
      continue;
    }
    const f = def.fields.find((x) => x.name === k);
    if (!f)
      throw badRequest(
        `The property '${k}' does not exist on type '${def.namespace}.${def.type}'. Make sure to only use property names that are defined by the type.`,
      );
    if (f.readOnly || !f.prop) throw readOnlyControl(f.name.replaceAll('_', ' '));
    values[f.prop] = convert(def, f, v);
  }
  return { values, nested };
}
