import { type Access, action, type Ctx, collection, entity, type Resolved } from './crud.ts';
import type { Company, Customer, Item, PostedSalesInvoice, SalesInvoice, SalesLine } from './db.ts';
import {
  addLine,
  createInvoice,
  deleteInvoice,
  deleteLine,
  POSTED_ERR,
  postInvoice,
  updateInvoice,
  updateLine,
} from './documents.ts';
import {
  badRequest,
  dialog,
  methodNotAllowed,
  recordNotFound,
  segmentNotFound,
  syntaxError,
} from './errors.ts';
import { BC_DEFS, type ReadCtx } from './fields.ts';
import { pinnedValue } from './filter.ts';
import {
  createCustomer,
  createItem,
  deleteCustomer,
  deleteItem,
  updateCustomer,
  updateItem,
} from './masters.ts';
import { bcMetadata } from './metadata.ts';
import { type KeyValues, safeDecode, splitSegment } from './segments.ts';
import { fromWire, isGuid, toWire } from './wire.ts';

/**
 * Business Central API v2.0 (on-premises `/{instance}/api/v2.0`, online `/v2.0/{tenant}/{env}/api/v2.0`):
 * companies by GUID, camelCase entities keyed by `id`, deep insert of lines with an invoice, posting with
 * `Microsoft.NAV.post` (new number, same id), lines read on their own only with a `documentId`.
 */

export interface BcSettings {
  pageSize: number;
  companies: Map<string, Company>;
}

type Doc = SalesInvoice | PostedSalesInvoice;
const MAX_PAGE = 20_000;

/** A BC key is a bare GUID: `customers(5d11…)`, optionally `(id=5d11…)`. */
function guidKey(raw: string): KeyValues {
  const v = safeDecode(raw).replace(/^id=/, '');
  if (!isGuid(v)) throw syntaxError();
  return { id: v.toLowerCase() };
}

export function bcResolve(segs: string[], ctx: Ctx, s: BcSettings, root: string): Resolved {
  const meta = `${root}/$metadata`;
  const [first, ...rest] = segs;
  if (first === undefined)
    return {
      entity: '',
      run: () => ({
        status: 200,
        body: {
          '@odata.context': meta,
          value: ['companies', 'customers', 'items', 'salesInvoices', 'salesInvoiceLines'].map((n) => ({
            name: n,
            kind: 'EntitySet',
            url: n,
          })),
        },
      }),
    };
  if (first === '$metadata' && rest.length === 0)
    return {
      entity: '$metadata',
      run: () => ({ status: 200, text: bcMetadata(BC_DEFS), contentType: 'application/xml;charset=utf-8' }),
    };
  const head = splitSegment(first);
  if (head.name !== 'companies') throw segmentNotFound(head.name);
  if (head.rawKey === undefined) {
    if (rest.length > 0) throw syntaxError();
    return {
      entity: 'companies',
      run: () => {
        if (ctx.method !== 'GET') throw methodNotAllowed(ctx.method, 'companies');
        const value = [...s.companies.values()].map((c) => toWire(BC_DEFS.company, c, { company: c }, false));
        return { status: 200, body: { '@odata.context': `${meta}#companies`, value } };
      },
    };
  }
  const id = guidKey(head.rawKey).id;
  const company = [...s.companies.values()].find((c) => c.id === id);
  if (!company) throw recordNotFound('Company', `Id='{${String(id).toUpperCase()}}'`);
  const context = `${meta}#companies(${company.id})`;
  const base = `${root}/companies(${company.id})`;
  if (rest.length === 0)
    return {
      entity: 'companies',
      company,
      run: () => {
        if (ctx.method !== 'GET') throw methodNotAllowed(ctx.method, 'companies');
        return {
          status: 200,
          body: {
            '@odata.context': `${meta}#companies/$entity`,
            ...toWire(BC_DEFS.company, company, { company }, false),
          },
        };
      },
    };
  return companyRoute(rest, ctx, s, company, context, base);
}

function companyRoute(
  segs: string[],
  ctx: Ctx,
  s: BcSettings,
  company: Company,
  context: string,
  base: string,
): Resolved {
  const opts = (set: string) => ({
    context: `${context}/${set}`,
    pageSize: s.pageSize,
    maxPageSize: MAX_PAGE,
  });
  const [a, b, c] = segs.map(splitSegment);
  if (!a || segs.length > 3) throw syntaxError();
  const done = (entityName: string, run: () => ReturnType<Resolved['run']>): Resolved => ({
    entity: entityName,
    company,
    run,
  });
  const serve = <T extends { id: string; version: number; modifiedAt: string }>(
    acc: Access<T>,
    rawKey?: string,
  ) =>
    rawKey === undefined
      ? collection(acc, ctx, opts(acc.set))
      : entity(acc, guidKey(rawKey), ctx, `${context}/${acc.set}`);
  switch (a.name) {
    case 'customers':
      if (b) throw segmentNotFound(b.name);
      return done(a.name, () => serve(customers(ctx, company, base), a.rawKey));
    case 'items':
      if (b) throw segmentNotFound(b.name);
      return done(a.name, () => serve(items(ctx, company, base), a.rawKey));
    case 'salesInvoices': {
      const inv = invoices(ctx, company, base);
      if (!b) return done(a.name, () => serve(inv, a.rawKey));
      if (a.rawKey === undefined) throw syntaxError();
      const key = guidKey(a.rawKey);
      const doc = () => {
        const found = inv.find(key);
        if (!found) throw inv.notFound(key);
        return found;
      };
      if (b.name === 'salesInvoiceLines') {
        const lines = salesLines(ctx, company, base, () => doc().rec);
        return done(b.name, () => serve(lines, b.rawKey));
      }
      if (c || b.name !== 'Microsoft.NAV.post') throw segmentNotFound(b.name);
      return done(b.name, () =>
        action(ctx, b.name, () => {
          const { rec, ctx: r } = doc();
          if (r.posted) throw dialog('The action can be applied to a draft invoice only.');
          postInvoice(ctx.store, company, rec as SalesInvoice);
        }),
      );
    }
    case 'salesInvoiceLines': {
      if (b) throw segmentNotFound(b.name);
      const lines = salesLines(ctx, company, base);
      return done(a.name, () => {
        // The API loads lines per document: a list needs the document pinned by a documentId filter.
        if (a.rawKey === undefined && ctx.method === 'GET') {
          const pinned = pinnedValue(ctx.url.searchParams.get('$filter'), 'documentId');
          if (pinned === undefined) throw dialog('You must specify an Id or a Document Id to get the lines.');
        }
        return serve(lines, a.rawKey);
      });
    }
    default:
      throw segmentNotFound(a.name);
  }
}

function customers(ctx: Ctx, company: Company, base: string): Access<Customer> {
  return {
    def: BC_DEFS.customer,
    set: 'customers',
    rows: () => [...company.customers.values()].map((rec) => ({ rec, ctx: { company } })),
    sortKey: (r) => r.no,
    find: (k) => {
      const rec = [...company.customers.values()].find((x) => x.id === k.id);
      return rec && { rec, ctx: { company } };
    },
    notFound: (k) => recordNotFound('Customer', `Id='${k.id}'`),
    url: (r) => `${base}/customers(${r.id})`,
    create: (values) => ({ rec: createCustomer(ctx.store, company, values, 'bc'), ctx: { company } }),
    update: (rec, values) => updateCustomer(ctx.store, company, rec, values, 'bc'),
    remove: (rec) => deleteCustomer(company, rec),
  };
}

function items(ctx: Ctx, company: Company, base: string): Access<Item> {
  return {
    def: BC_DEFS.item,
    set: 'items',
    rows: () => [...company.items.values()].map((rec) => ({ rec, ctx: { company } })),
    sortKey: (r) => r.no,
    find: (k) => {
      const rec = [...company.items.values()].find((x) => x.id === k.id);
      return rec && { rec, ctx: { company } };
    },
    notFound: (k) => recordNotFound('Item', `Id='${k.id}'`),
    url: (r) => `${base}/items(${r.id})`,
    create: (values) => ({ rec: createItem(ctx.store, company, values, 'bc'), ctx: { company } }),
    update: (rec, values) => updateItem(ctx.store, company, rec, values),
    remove: (rec) => deleteItem(company, rec),
  };
}

/** Drafts and posted invoices in one set, as the API shows them: a posted invoice keeps its draft's id. */
function invoices(ctx: Ctx, company: Company, base: string): Access<Doc> {
  const all = (): { rec: Doc; ctx: ReadCtx }[] => [
    ...[...company.invoices.values()].map((rec) => ({ rec, ctx: { company } })),
    ...[...company.posted.values()].map((rec) => ({ rec, ctx: { company, posted: true } })),
  ];
  return {
    def: BC_DEFS.salesInvoice,
    set: 'salesInvoices',
    rows: all,
    sortKey: (r) => r.no,
    find: (k) => all().find((x) => x.rec.id === k.id),
    notFound: (k) => recordNotFound('Sales Invoice', `Id='${k.id}'`),
    url: (r) => `${base}/salesInvoices(${r.id})`,
    lines: (rec, r) => rec.lines.map((l) => toWire(BC_DEFS.salesLine, l, { ...r, parent: rec })),
    create: (values, nested) => {
      const raw = nested.salesInvoiceLines;
      if (raw !== undefined && !Array.isArray(raw)) throw badRequest('Invalid Request Body');
      const lines = (raw ?? []).map((l) => fromWire(BC_DEFS.salesLine, l).values);
      return { rec: createInvoice(ctx.store, company, values, 'bc', lines), ctx: { company } };
    },
    update: (rec, values) => {
      if (company.posted.get(rec.no) === rec) throw dialog(POSTED_ERR);
      updateInvoice(ctx.store, company, rec as SalesInvoice, values, 'bc');
    },
    remove: (rec) => {
      if (company.posted.get(rec.no) === rec) throw dialog(POSTED_ERR);
      deleteInvoice(company, rec as SalesInvoice);
    },
  };
}

function salesLines(ctx: Ctx, company: Company, base: string, parent?: () => Doc): Access<SalesLine> {
  const docs = (): { doc: Doc; posted: boolean }[] =>
    parent
      ? [{ doc: parent(), posted: company.posted.get(parent().no) === parent() }]
      : [
          ...[...company.invoices.values()].map((doc) => ({ doc, posted: false })),
          ...[...company.posted.values()].map((doc) => ({ doc, posted: true })),
        ];
  const owner = (line: SalesLine) => docs().find((d) => d.doc.lines.includes(line));
  const draft = (d: { doc: Doc; posted: boolean } | undefined): SalesInvoice => {
    if (!d) throw dialog('You must specify an Id or a Document Id to get the lines.');
    if (d.posted) throw dialog(POSTED_ERR);
    return d.doc as SalesInvoice;
  };
  return {
    def: BC_DEFS.salesLine,
    set: 'salesInvoiceLines',
    rows: () =>
      docs().flatMap(({ doc, posted }) =>
        doc.lines.map((rec) => ({ rec, ctx: { company, parent: doc, posted } })),
      ),
    sortKey: (r, c) => `${c.parent?.id}\u0000${String(r.lineNo).padStart(10, '0')}`,
    find: (k) => {
      for (const { doc, posted } of docs()) {
        const rec = doc.lines.find((l) => l.id === k.id);
        if (rec) return { rec, ctx: { company, parent: doc, posted } };
      }
      return undefined;
    },
    notFound: (k) => recordNotFound('Sales Line', `Id='${k.id}'`),
    url: (r) => `${base}/salesInvoiceLines(${r.id})`,
    create: (values) => {
      const target = parent
        ? docs()[0]
        : docs().find((d) => typeof values.documentId === 'string' && d.doc.id === values.documentId);
      if (parent && values.documentId !== undefined && values.documentId !== target?.doc.id)
        throw dialog('The value for documentId cannot be modified.');
      const doc = draft(target);
      return { rec: addLine(ctx.store, company, doc, values, 'bc'), ctx: { company, parent: doc } };
    },
    update: (rec, values) => updateLine(ctx.store, company, draft(owner(rec)), rec, values, 'bc'),
    remove: (rec) => deleteLine(ctx.store, draft(owner(rec)), rec),
  };
}
