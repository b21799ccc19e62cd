import { type Access, action, type Ctx, collection, entity, type Resolved } from './crud.ts';
import type { Company, Customer, Item, PostedSalesInvoice, SalesInvoice, SalesLine } from './db.ts';
import {
  addLine,
  createInvoice,
  deleteInvoice,
  deleteLine,
  postInvoice,
  updateInvoice,
  updateLine,
} from './documents.ts';
import {
  badRequest,
  methodNotAllowed,
  odataError,
  recordNotFound,
  relatedNotFound,
  segmentNotFound,
  syntaxError,
} from './errors.ts';
import { type NavDefs, postedLinesSet } from './fields.ts';
import {
  createCustomer,
  createItem,
  deleteCustomer,
  deleteItem,
  updateCustomer,
  updateItem,
} from './masters.ts';
import { navMetadata } from './metadata.ts';
import { companyKey, companySegment, type KeyValues, keyText, parseKey, splitSegment } from './segments.ts';
import type { NavServiceNames } from './types.ts';
import { toWire } from './wire.ts';

/**
 * NAV 2016–2018 OData V4 page web services: `/{instance}/ODataV4/Company('{name}')/{ServiceName}`.
 * No deep insert; lines through the SalesInvoice page's lines part; posting through the bound action
 * `NAV.<postAction>` when published; posted invoices read-only on their own page.
 */

export interface NavSettings {
  instance: string;
  services: NavServiceNames;
  postAction: string | null;
  defs: NavDefs;
  pageSize: number;
  /** The company used when none is named, or whose quotes arrived encoded. */
  defaultCompany(): Company;
  companies: Map<string, Company>;
}

const padLine = (n: number) => String(n).padStart(10, '0');

export function navResolve(segs: string[], ctx: Ctx, s: NavSettings): Resolved {
  const root = `${ctx.url.origin}/${s.instance}/ODataV4`;
  const meta = `${root}/$metadata`;
  const first = segs[0];
  if (first === undefined) return { entity: '', run: () => serviceDocument(s, meta, ctx) };
  if (first === '$metadata' && segs.length === 1) {
    return {
      entity: '$metadata',
      run: () => {
        if (ctx.method !== 'GET') throw methodNotAllowed(ctx.method, '$metadata');
        return { status: 200, text: navMetadata(s.defs), contentType: 'application/xml;charset=utf-8' };
      },
    };
  }
  const head = splitSegment(first);
  if (head.name === 'Company' && head.rawKey === undefined) {
    if (segs.length > 1) throw syntaxError();
    return { entity: 'Company', run: () => companies(s, ctx, `${meta}#Company`) };
  }
  let company: Company;
  let rest = segs;
  if (head.name === 'Company') {
    const name = companyKey(head.rawKey as string);
    company = name === 'default' ? s.defaultCompany() : named(s, name);
    rest = segs.slice(1);
    if (rest.length === 0)
      return { entity: 'Company', company, run: () => oneCompany(s, ctx, company, `${meta}#Company`) };
  } else {
    const q = ctx.url.searchParams.get('company');
    company = q === null ? s.defaultCompany() : named(s, q);
  }
  return companyRoute(
    rest,
    ctx,
    s,
    company,
    `${meta}#${companySegment(company.name)}`,
    `${root}/${companySegment(company.name)}`,
  );
}

function named(s: NavSettings, name: string): Company {
  const c = s.companies.get(name);
  if (!c)
    throw odataError(
      400,
      'Internal_CompanyNotFound',
      `Cannot process the request because the company '${name}' does not exist.`,
    );
  return c;
}

function serviceDocument(s: NavSettings, meta: string, ctx: Ctx) {
  if (ctx.method !== 'GET') throw methodNotAllowed(ctx.method, 'ODataV4');
  const sets = ['Company', ...Object.values(s.services), postedLinesSet(s.services)];
  return {
    status: 200,
    body: { '@odata.context': meta, value: sets.map((n) => ({ name: n, kind: 'EntitySet', url: n })) },
  };
}

function companies(s: NavSettings, ctx: Ctx, context: string) {
  if (ctx.method !== 'GET') throw methodNotAllowed(ctx.method, 'Company');
  const value = [...s.companies.values()].map((c) => toWire(s.defs.company, c, { company: c }, false));
  return { status: 200, body: { '@odata.context': context, value } };
}

function oneCompany(s: NavSettings, ctx: Ctx, c: Company, context: string) {
  if (ctx.method !== 'GET') throw methodNotAllowed(ctx.method, 'Company');
  return {
    status: 200,
    body: { '@odata.context': `${context}/$entity`, ...toWire(s.defs.company, c, { company: c }, false) },
  };
}

function companyRoute(
  segs: string[],
  ctx: Ctx,
  s: NavSettings,
  company: Company,
  context: string,
  base: string,
): Resolved {
  const sv = s.services;
  const opts = (set: string) => ({ context: `${context}/${set}`, pageSize: s.pageSize });
  const [a, b, c] = segs.map(splitSegment);
  if (!a) throw syntaxError();
  const done = (entity: string, run: () => ReturnType<Resolved['run']>): Resolved => ({
    entity,
    company,
    run,
  });
  const keyed = <T extends { id: string; version: number; modifiedAt: string }>(
    acc: Access<T>,
    raw: string,
  ) => entity(acc, parseKey(raw, acc.def), ctx, `${context}/${acc.set}`);
  if (segs.length > 3) throw syntaxError();

  switch (a.name) {
    case sv.customer: {
      if (b) throw segmentNotFound(b.name);
      const acc = customers(ctx, s, company, base);
      return done(a.name, () =>
        a.rawKey === undefined ? collection(acc, ctx, opts(a.name)) : keyed(acc, a.rawKey),
      );
    }
    case sv.item: {
      if (b) throw segmentNotFound(b.name);
      const acc = items(ctx, s, company, base);
      return done(a.name, () =>
        a.rawKey === undefined ? collection(acc, ctx, opts(a.name)) : keyed(acc, a.rawKey),
      );
    }
    case sv.salesInvoice: {
      const inv = invoices(ctx, s, company, base);
      if (a.rawKey === undefined) {
        if (b) throw syntaxError();
        return done(a.name, () => collection(inv, ctx, opts(a.name)));
      }
      const key = parseKey(a.rawKey, inv.def);
      if (!b) return done(a.name, () => entity(inv, key, ctx, `${context}/${a.name}`));
      if (b.name === sv.salesInvoiceLines) {
        const lines = salesLines(ctx, s, company, base, () => {
          const doc = inv.find(key)?.rec;
          if (!doc) throw inv.notFound(key);
          return doc;
        });
        return done(b.name, () =>
          b.rawKey === undefined ? collection(lines, ctx, opts(b.name)) : keyed(lines, b.rawKey),
        );
      }
      if (c) throw syntaxError();
      return done(b.name, () => postAction(ctx, s, company, inv, key, b.name));
    }
    case sv.salesInvoiceLines: {
      if (b) throw segmentNotFound(b.name);
      const lines = salesLines(ctx, s, company, base);
      return done(a.name, () =>
        a.rawKey === undefined ? collection(lines, ctx, opts(a.name)) : keyed(lines, a.rawKey),
      );
    }
    case sv.postedSalesInvoice: {
      const posted = postedInvoices(s, company, base);
      if (a.rawKey === undefined) {
        if (b) throw syntaxError();
        return done(a.name, () => collection(posted, ctx, opts(a.name)));
      }
      const key = parseKey(a.rawKey, posted.def);
      if (!b) return done(a.name, () => entity(posted, key, ctx, `${context}/${a.name}`));
      if (b.name !== postedLinesSet(sv)) throw segmentNotFound(b.name);
      const lines = postedLines(s, company, base, () => {
        const doc = posted.find(key)?.rec;
        if (!doc) throw posted.notFound(key);
        return doc;
      });
      return done(b.name, () =>
        b.rawKey === undefined ? collection(lines, ctx, opts(b.name)) : keyed(lines, b.rawKey),
      );
    }
    case postedLinesSet(sv): {
      if (b) throw segmentNotFound(b.name);
      const lines = postedLines(s, company, base);
      return done(a.name, () =>
        a.rawKey === undefined ? collection(lines, ctx, opts(a.name)) : keyed(lines, a.rawKey),
      );
    }
    default:
      throw segmentNotFound(a.name);
  }
}

function postAction(
  ctx: Ctx,
  s: NavSettings,
  company: Company,
  inv: Access<SalesInvoice>,
  key: KeyValues,
  name: string,
) {
  if (s.postAction === null && name.startsWith('NAV.'))
    throw odataError(501, 'BadRequest_MethodNotImplemented', 'Entity does not support bound actions');
  if (name !== `NAV.${s.postAction}`) throw segmentNotFound(name);
  return action(ctx, name, () => {
    const doc = inv.find(key)?.rec;
    if (!doc) throw inv.notFound(key);
    postInvoice(ctx.store, company, doc);
  });
}

const code = (v: string | number | undefined) => String(v ?? '').toUpperCase();
const quoted = (v: string) => `'${encodeURIComponent(v.replaceAll("'", "''"))}'`;

function customers(ctx: Ctx, s: NavSettings, company: Company, base: string): Access<Customer> {
  return {
    def: s.defs.customer,
    set: s.services.customer,
    rows: () => [...company.customers.values()].map((rec) => ({ rec, ctx: { company } })),
    sortKey: (r) => r.no,
    find: (k) => {
      const rec = company.customers.get(code(k.No));
      return rec && { rec, ctx: { company } };
    },
    notFound: (k) => recordNotFound('Customer', keyText(k)),
    url: (r) => `${base}/${s.services.customer}(${quoted(r.no)})`,
    create: (values) => ({ rec: createCustomer(ctx.store, company, values, 'nav'), ctx: { company } }),
    update: (rec, values) => updateCustomer(ctx.store, company, rec, values, 'nav'),
    remove: (rec) => deleteCustomer(company, rec),
  };
}

function items(ctx: Ctx, s: NavSettings, company: Company, base: string): Access<Item> {
  return {
    def: s.defs.item,
    set: s.services.item,
    rows: () => [...company.items.values()].map((rec) => ({ rec, ctx: { company } })),
    sortKey: (r) => r.no,
    find: (k) => {
      const rec = company.items.get(code(k.No));
      return rec && { rec, ctx: { company } };
    },
    notFound: (k) => recordNotFound('Item', keyText(k)),
    url: (r) => `${base}/${s.services.item}(${quoted(r.no)})`,
    create: (values) => ({ rec: createItem(ctx.store, company, values, 'nav'), ctx: { company } }),
    update: (rec, values) => updateItem(ctx.store, company, rec, values),
    remove: (rec) => deleteItem(company, rec),
  };
}

function invoices(ctx: Ctx, s: NavSettings, company: Company, base: string): Access<SalesInvoice> {
  return {
    def: s.defs.salesInvoice,
    set: s.services.salesInvoice,
    rows: () => [...company.invoices.values()].map((rec) => ({ rec, ctx: { company } })),
    sortKey: (r) => r.no,
    find: (k) => {
      const rec = k.Document_Type === 'Invoice' ? company.invoices.get(code(k.No)) : undefined;
      return rec && { rec, ctx: { company } };
    },
    notFound: (k) => recordNotFound('Sales Header', keyText(k)),
    url: (r) => `${base}/${s.services.salesInvoice}(Document_Type='Invoice',No=${quoted(r.no)})`,
    lines: (rec) => rec.lines.map((l) => toWire(s.defs.salesLine, l, { company, parent: rec })),
    create: (values, nested) => {
      // Page web services take no deep insert: the lines are a separate page.
      if (Object.keys(nested).length > 0) throw badRequest('Invalid Request Body');
      return { rec: createInvoice(ctx.store, company, values, 'nav'), ctx: { company } };
    },
    update: (rec, values) => updateInvoice(ctx.store, company, rec, values, 'nav'),
    remove: (rec) => deleteInvoice(company, rec),
  };
}

function salesLines(
  ctx: Ctx,
  s: NavSettings,
  company: Company,
  base: string,
  parent?: () => SalesInvoice,
): Access<SalesLine> {
  const docs = () => (parent ? [parent()] : [...company.invoices.values()]);
  const docFor = (values: Record<string, unknown>): SalesInvoice => {
    if (values.documentType !== undefined && values.documentType !== 'Invoice')
      throw relatedNotFound(
        'Sales Header',
        `Document Type='${values.documentType}',No.='${values.documentNo}'`,
      );
    if (parent) {
      const doc = parent();
      if (values.documentNo !== undefined && values.documentNo !== doc.no)
        throw badRequest('Invalid Request Body');
      return doc;
    }
    const no = String(values.documentNo ?? '');
    const doc = company.invoices.get(no);
    if (!doc) throw relatedNotFound('Sales Header', `Document Type='Invoice',No.='${no}'`);
    return doc;
  };
  const locate = (line: SalesLine) => docs().find((d) => d.lines.includes(line)) as SalesInvoice;
  return {
    def: s.defs.salesLine,
    set: s.services.salesInvoiceLines,
    rows: () => docs().flatMap((d) => d.lines.map((rec) => ({ rec, ctx: { company, parent: d } }))),
    sortKey: (r, c) => `${c.parent?.no}\u0000${padLine(r.lineNo)}`,
    find: (k) => {
      if (k.Document_Type !== 'Invoice') return undefined;
      const d = docs().find((x) => x.no === code(k.Document_No));
      const rec = d?.lines.find((l) => l.lineNo === Number(k.Line_No));
      return rec && d && { rec, ctx: { company, parent: d } };
    },
    notFound: (k) => recordNotFound('Sales Line', keyText(k)),
    url: (r, c) =>
      `${base}/${s.services.salesInvoiceLines}(Document_Type='Invoice',Document_No=${quoted(c.parent?.no ?? '')},Line_No=${r.lineNo})`,
    create: (values) => {
      const doc = docFor(values);
      return { rec: addLine(ctx.store, company, doc, values, 'nav'), ctx: { company, parent: doc } };
    },
    update: (rec, values) => updateLine(ctx.store, company, locate(rec), rec, values, 'nav'),
    remove: (rec) => deleteLine(ctx.store, locate(rec), rec),
  };
}

function postedInvoices(s: NavSettings, company: Company, base: string): Access<PostedSalesInvoice> {
  return {
    def: s.defs.posted,
    set: s.services.postedSalesInvoice,
    rows: () => [...company.posted.values()].map((rec) => ({ rec, ctx: { company, posted: true } })),
    sortKey: (r) => r.no,
    find: (k) => {
      const rec = company.posted.get(code(k.No));
      return rec && { rec, ctx: { company, posted: true } };
    },
    notFound: (k) => recordNotFound('Sales Invoice Header', keyText(k)),
    url: (r) => `${base}/${s.services.postedSalesInvoice}(${quoted(r.no)})`,
    lines: (rec) =>
      rec.lines.map((l) => toWire(s.defs.postedLine, l, { company, parent: rec, posted: true })),
  };
}

function postedLines(
  s: NavSettings,
  company: Company,
  base: string,
  parent?: () => PostedSalesInvoice,
): Access<SalesLine> {
  const docs = () => (parent ? [parent()] : [...company.posted.values()]);
  return {
    def: s.defs.postedLine,
    set: postedLinesSet(s.services),
    rows: () =>
      docs().flatMap((d) => d.lines.map((rec) => ({ rec, ctx: { company, parent: d, posted: true } }))),
    sortKey: (r, c) => `${c.parent?.no}\u0000${padLine(r.lineNo)}`,
    find: (k) => {
      const d = docs().find((x) => x.no === code(k.Document_No));
      const rec = d?.lines.find((l) => l.lineNo === Number(k.Line_No));
      return rec && d && { rec, ctx: { company, parent: d, posted: true } };
    },
    notFound: (k) => recordNotFound('Sales Invoice Line', keyText(k)),
    url: (r, c) =>
      `${base}/${postedLinesSet(s.services)}(Document_No=${quoted(c.parent?.no ?? '')},Line_No=${r.lineNo})`,
  };
}
