import { toDay, wireDate } from './dates.ts';
import { businessError } from './errors.ts';

/** `flag` is Autotask's int-typed yes/no (e.g. timeReportingRequiresStartAndStopTimes): 0/1 or a boolean. */
export type Kind = 'int' | 'num' | 'str' | 'bool' | 'day' | 'flag';

export interface FieldSpec {
  kind: Kind;
  required?: boolean;
  /** Max string length. */
  max?: number;
  /** May be sent on update (a read-only field may be re-sent unchanged). */
  updatable?: boolean;
}

export type Specs = Record<string, FieldSpec>;

const missing = (v: unknown) => v === undefined || v === null || v === '';

/** Parses one field as JSON.NET would bind it (numbers may arrive as numeric strings); throws a 500 naming it. */
export function parseValue(field: string, spec: FieldSpec, v: unknown): unknown {
  if (v === null) return null;
  switch (spec.kind) {
    case 'int':
    case 'num': {
      const n = typeof v === 'number' ? v : typeof v === 'string' && v.trim() !== '' ? Number(v) : Number.NaN;
      if (!Number.isFinite(n)) throw businessError(`${field} must be a number`);
      if (spec.kind === 'int' && !Number.isInteger(n)) throw businessError(`${field} must be an integer`);
      return n;
    }
    case 'str': {
      if (typeof v !== 'string') throw businessError(`${field} must be a string`);
      if (spec.max !== undefined && v.length > spec.max) {
        throw businessError(`${field} exceeds the maximum length of ${spec.max} characters`);
      }
      return v;
    }
    case 'bool':
      if (typeof v !== 'boolean') throw businessError(`${field} must be true or false`);
      return v;
    case 'flag':
      if (v === true || v === 1) return 1;
      if (v === false || v === 0) return 0;
      throw businessError(`${field} must be 0 or 1`);
    case 'day': {
      const day = toDay(v);
      if (!day) throw businessError(`${field} must be a valid date (YYYY-MM-DD)`);
      return wireDate(day);
    }
  }
}

/** Validated values of a create body: every required field present, every given field well-typed. */
export function parseCreate(specs: Specs, body: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(specs)) {
    const v = body[field];
    if (spec.required && missing(v)) throw businessError(`${field} is required`);
    if (v !== undefined) out[field] = parseValue(field, spec, v);
  }
  return out;
}

/**
 * Validated changes of a PATCH body against the current row. A read-only field re-sent with its current
 * value is accepted (clients often send the whole record back); changing it is an error.
 */
export function parseUpdate(
  specs: Specs,
  body: Record<string, unknown>,
  current: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [field, spec] of Object.entries(specs)) {
    if (!(field in body)) continue;
    const v = parseValue(field, spec, body[field]);
    if (!spec.updatable) {
      if (v !== current[field]) throw businessError(`${field} is read-only and cannot be changed`);
      continue;
    }
    if (spec.required && missing(v)) throw businessError(`${field} is required`);
    out[field] = v;
  }
  return out;
}

/** The id of the record a PATCH targets (sent in the body, not the URL). */
export function bodyId(body: Record<string, unknown>): number {
  if (missing(body.id)) throw businessError('id is required');
  const id = parseValue('id', { kind: 'int' }, body.id);
  if (typeof id !== 'number') throw businessError('id is required');
  return id;
}
