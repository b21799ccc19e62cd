import type { BcDefs, EntityDef, FieldDef, Kind, NavDefs } from './fields.ts';

/** CSDL (`$metadata`) for both APIs, with each Text/Code field's `MaxLength` so clients can cut text to fit. */

const EDM: Record<Kind, string> = {
  code: 'Edm.String',
  text: 'Edm.String',
  decimal: 'Edm.Decimal',
  int: 'Edm.Int32',
  date: 'Edm.Date',
  datetime: 'Edm.DateTimeOffset',
  option: 'Edm.String',
  bool: 'Edm.Boolean',
  guid: 'Edm.Guid',
};

const esc = (s: string) => s.replaceAll('&', '&amp;').replaceAll('"', '&quot;').replaceAll('<', '&lt;');
const enumName = (def: EntityDef, f: FieldDef) => `${def.type}_${f.name}`;
/** Option captions that are no identifiers are encoded as XML names are (' ' → '_x0020_'). */
const memberName = (w: string) =>
  w.replace(/[^A-Za-z0-9_]/g, (c) => `_x${c.charCodeAt(0).toString(16).padStart(4, '0')}_`);

function property(def: EntityDef, f: FieldDef): string {
  const type = f.kind === 'option' ? `${def.namespace}.${enumName(def, f)}` : EDM[f.kind];
  const attrs = [`Name="${esc(f.name)}"`, `Type="${type}"`];
  if (def.keys.includes(f.name)) attrs.push('Nullable="false"');
  if (f.max !== undefined) attrs.push(`MaxLength="${f.max}"`);
  if (f.kind === 'decimal') attrs.push('Scale="Variable"');
  return `<Property ${attrs.join(' ')} />`;
}

function entityType(def: EntityDef, lineType?: EntityDef): string {
  const keys = def.keys.map((k) => `<PropertyRef Name="${esc(k)}" />`).join('');
  const props = def.fields.map((f) => property(def, f)).join('');
  const nav =
    def.lines && lineType
      ? `<NavigationProperty Name="${esc(def.lines.property)}" Type="Collection(${def.namespace}.${esc(lineType.type)})" ContainsTarget="true" />`
      : '';
  return `<EntityType Name="${esc(def.type)}"><Key>${keys}</Key>${props}${nav}</EntityType>`;
}

function enums(def: EntityDef): string {
  return def.fields
    .filter((f) => f.kind === 'option')
    .map(
      (f) =>
        `<EnumType Name="${esc(enumName(def, f))}">${(f.options ?? [])
          .map(([w], i) => `<Member Name="${esc(memberName(w))}" Value="${i}" />`)
          .join('')}</EnumType>`,
    )
    .join('');
}

function document(namespace: string, types: string, container: string): string {
  return (
    '<?xml version="1.0" encoding="utf-8"?>' +
    '<edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx"><edmx:DataServices>' +
    `<Schema Namespace="${namespace}" xmlns="http://docs.oasis-open.org/odata/ns/edm">${types}` +
    `<EntityContainer Name="${namespace === 'NAV' ? 'NAV' : 'default'}">${container}</EntityContainer>` +
    '</Schema></edmx:DataServices></edmx:Edmx>'
  );
}

const set = (name: string, def: EntityDef) =>
  `<EntitySet Name="${esc(name)}" EntityType="${def.namespace}.${esc(def.type)}" />`;

export function navMetadata(d: NavDefs): string {
  const all = [d.company, d.customer, d.item, d.salesInvoice, d.salesLine, d.posted, d.postedLine];
  const types =
    all.map((def) => enums(def)).join('') +
    [
      entityType(d.company),
      entityType(d.customer),
      entityType(d.item),
      entityType(d.salesInvoice, d.salesLine),
      entityType(d.salesLine),
      entityType(d.posted, d.postedLine),
      entityType(d.postedLine),
    ].join('');
  return document('NAV', types, all.map((def) => set(def.type, def)).join(''));
}

export function bcMetadata(d: BcDefs): string {
  const all = [d.company, d.customer, d.item, d.salesInvoice, d.salesLine];
  const types =
    all.map((def) => enums(def)).join('') +
    [
      entityType(d.company),
      entityType(d.customer),
      entityType(d.item),
      entityType(d.salesInvoice, d.salesLine),
      entityType(d.salesLine),
    ].join('');
  return document(
    'Microsoft.NAV',
    types,
    [
      set('companies', d.company),
      set('customers', d.customer),
      set('items', d.item),
      set('salesInvoices', d.salesInvoice),
      set('salesInvoiceLines', d.salesLine),
    ].join(''),
  );
}
