import type { Company, Store, Versioned } from './db.ts';
import { badRequest, methodNotAllowed, odataError, type SandboxReply } from './errors.ts';
import type { EntityDef, ReadCtx } from './fields.ts';
import type { Values } from './masters.ts';
import { page, type Row, shape } from './query.ts';
import type { KeyValues } from './segments.ts';
import { checkIfMatch, etagOf, fromWire, toWire, type Wire } from './wire.ts';

/** What a route sees of the request and the server. */
export interface Ctx {
  store: Store;
  method: string;
  /** The request URL (path still percent-encoded). */
  url: URL;
  body: unknown;
  contentType?: string;
  ifMatch?: string;
  prefer?: string;
}

export interface Result {
  status: number;
  body?: unknown;
  /** A non-JSON body (`$metadata`). */
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

/** A resolved request: what it addresses (for the request log, faults and limits) and how to carry it out. */
export interface Resolved {
  entity: string;
  company?: Company;
  run(): Result;
}

/** One entity set of one company, as the generic CRUD handlers below use it. */
export interface Access<T extends Versioned> {
  def: EntityDef;
  set: string;
  rows(): { rec: T; ctx: ReadCtx }[];
  sortKey(rec: T, ctx: ReadCtx): string;
  find(key: KeyValues): { rec: T; ctx: ReadCtx } | undefined;
  notFound(key: KeyValues): SandboxReply;
  /** Absolute URL of one entity (Location header). */
  url(rec: T, ctx: ReadCtx): string;
  lines?(rec: T, ctx: ReadCtx): Wire[];
  create?(values: Values, nested: Record<string, unknown>): { rec: T; ctx: ReadCtx };
  update?(rec: T, values: Values): void;
  remove?(rec: T): void;
}

export interface ListOptions {
  context: string;
  pageSize: number;
  maxPageSize?: number;
}

/** POST and PATCH bodies must be declared JSON. */
function requireJson(ctx: Ctx): void {
  const type = (ctx.contentType ?? '').split(';')[0]?.trim().toLowerCase();
  if (type !== 'application/json')
    throw odataError(
      415,
      'BadRequest',
      `The request entity's media type '${type || 'none'}' is not supported for this resource.`,
    );
}

function rowOf<T extends Versioned>(a: Access<T>, rec: T, rctx: ReadCtx): Row {
  return {
    wire: toWire(a.def, rec, rctx),
    sortKey: a.sortKey(rec, rctx),
    lines: a.lines ? () => (a.lines as NonNullable<Access<T>['lines']>)(rec, rctx) : undefined,
  };
}

function entityResult<T extends Versioned>(
  a: Access<T>,
  rec: T,
  rctx: ReadCtx,
  ctx: Ctx,
  context: string,
  status = 200,
  withLines = false,
): Result {
  const body: Wire = {
    '@odata.context': `${context}/$entity`,
    ...shape(a.def, rowOf(a, rec, rctx), ctx.url),
  };
  // A deep insert answers with what it inserted, lines included.
  if (withLines && a.def.lines && a.lines) body[a.def.lines.property] = a.lines(rec, rctx);
  return {
    status,
    body,
    headers: {
      ETag: etagOf(a.def.type, rec),
      ...(status === 201 ? { Location: a.url(rec, rctx) } : {}),
    },
  };
}

export function collection<T extends Versioned>(a: Access<T>, ctx: Ctx, opts: ListOptions): Result {
  switch (ctx.method) {
    case 'GET': {
      const rows = a.rows().map(({ rec, ctx: r }) => rowOf(a, rec, r));
      rows.sort((x, y) => (x.sortKey < y.sortKey ? -1 : x.sortKey > y.sortKey ? 1 : 0));
      const p = page(a.def, rows, { url: ctx.url, ...opts, prefer: ctx.prefer });
      return { status: 200, body: p.body, headers: p.headers };
    }
    case 'POST': {
      if (!a.create) throw methodNotAllowed('POST', a.set);
      requireJson(ctx);
      const { values, nested } = fromWire(a.def, ctx.body);
      const { rec, ctx: r } = a.create(values, nested);
      return entityResult(a, rec, r, ctx, opts.context, 201, Object.keys(nested).length > 0);
    }
    default:
      throw methodNotAllowed(ctx.method, a.set);
  }
}

export function entity<T extends Versioned>(a: Access<T>, key: KeyValues, ctx: Ctx, context: string): Result {
  const found = a.find(key);
  if (!found) throw a.notFound(key);
  const { rec, ctx: r } = found;
  switch (ctx.method) {
    case 'GET':
      return entityResult(a, rec, r, ctx, context);
    case 'PATCH': {
      if (!a.update) throw methodNotAllowed('PATCH', a.set);
      checkIfMatch(ctx.ifMatch, a.def.type, rec);
      requireJson(ctx);
      const { values, nested } = fromWire(a.def, ctx.body);
      if (Object.keys(nested).length > 0) throw badRequest('Deep update is not supported.');
      a.update(rec, values);
      return entityResult(a, rec, r, ctx, context);
    }
    case 'DELETE':
      if (!a.remove) throw methodNotAllowed('DELETE', a.set);
      checkIfMatch(ctx.ifMatch, a.def.type, rec);
      a.remove(rec);
      return { status: 204 };
    default:
      throw methodNotAllowed(ctx.method, a.set);
  }
}

/** A POST-only bound action that answers 204 No Content. */
export function action(ctx: Ctx, name: string, run: () => void): Result {
  if (ctx.method !== 'POST') throw methodNotAllowed(ctx.method, name);
  run();
  return { status: 204 };
}
