import type { z } from 'zod';
import { addDays, monthStart } from '../../src/billing/dates.ts';
import { itemLedgerKey } from '../../src/billing/items.ts';
import type { DesiredState, Ledger, LinkMapping } from '../types.ts';
import { type AutotaskClient, AutotaskError, type Filter, MAX_RECORDS } from './client.ts';
import { managedContractNumber, SERVICE_MARKER } from './mappers.ts';
import {
  type AutotaskSettings,
  Company,
  Contract,
  ContractCharge,
  ContractService,
  ContractServiceUnit,
  FieldsResponse,
  Service,
} from './schemas.ts';
import type { AutotaskState } from './state.ts';

export const FIELDS = {
  Companies: ['companyName', 'companyType', 'isActive'],
  Contracts: [
    'contractName',
    'contractNumber',
    'companyID',
    'contractType',
    'status',
    'startDate',
    'endDate',
  ],
  Services: [
    'name',
    'description',
    'unitPrice',
    'unitCost',
    'billingCodeID',
    'periodType',
    'vendorCompanyID',
    'isActive',
  ],
  ContractServices: ['contractID', 'serviceID', 'unitPrice', 'adjustedPrice', 'unitCost'],
  ContractServiceUnits: [
    'contractID',
    'contractServiceID',
    'serviceID',
    'startDate',
    'endDate',
    'units',
    'price',
  ],
  ContractCharges: [
    'contractID',
    'name',
    'datePurchased',
    'unitQuantity',
    'unitPrice',
    'unitCost',
    'purchaseOrderNumber',
    'isBilled',
  ],
};

/** Records Autotask sent that do not have the shape we rely on: a read failure, never "not found". */
export function parseAll<T extends z.ZodType>(schema: T, items: unknown[], entity: string): z.output<T>[] {
  return items.map((item, i) => {
    const r = schema.safeParse(item);
    if (r.success) return r.data;
    const issue = r.error.issues[0];
    const where = issue ? `${issue.path.join('.')}: ${issue.message}` : 'invalid';
    throw new AutotaskError(
      `Autotask returned an unexpected ${entity} record (#${i}, ${where})`,
      200,
      [],
      'permanent',
    );
  });
}

export const numericIds = (values: (number | string | undefined)[]): number[] =>
  values
    .map((v) => (v === undefined || v === '' ? Number.NaN : Number(v)))
    .filter((n) => Number.isSafeInteger(n));

export function dedupe<T extends { id: number }>(rows: T[]): T[] {
  return [...new Map(rows.map((r) => [r.id, r])).values()];
}

/** Conditions a clause adds to a query: Autotask refuses more than 500 per query (`in` values count each). */
const weight = (f: Filter): number =>
  f.op === 'in' && Array.isArray(f.value)
    ? f.value.length
    : (f.items ?? []).reduce((s, i) => s + weight(i), 0) || 1;

/**
 * Records matching ANY of `clauses`, in as few queries as Autotask allows: the clauses are OR-ed into one query
 * of at most 500 conditions (`in` lists split to fit), each paged by the id-walk. One query per entity per run
 * for all but the largest accounts. `also` is AND-ed to every query.
 */
export async function queryAny(
  client: AutotaskClient,
  entity: string,
  clauses: Filter[],
  opts: { includeFields?: string[]; also?: Filter[] } = {},
): Promise<unknown[]> {
  const flat: Filter[] = [];
  for (const c of clauses) {
    if (c.op === 'in' && Array.isArray(c.value)) {
      const values = [...new Set(c.value as unknown[])];
      for (let i = 0; i < values.length; i += MAX_RECORDS)
        flat.push({ ...c, value: values.slice(i, i + MAX_RECORDS) });
    } else flat.push(c);
  }
  const batches: Filter[][] = [];
  let batch: Filter[] = [];
  let used = 0;
  for (const c of flat.filter((f) => !(f.op === 'in' && (f.value as unknown[]).length === 0))) {
    if (batch.length > 0 && used + weight(c) > MAX_RECORDS) {
      batches.push(batch);
      batch = [];
      used = 0;
    }
    batch.push(c);
    used += weight(c);
  }
  if (batch.length > 0) batches.push(batch);
  const out: unknown[] = [];
  const seen = new Set<number>();
  for (const b of batches) {
    const filter: Filter[] = [b.length === 1 ? b[0]! : { op: 'or', items: b }, ...(opts.also ?? [])];
    for (const item of await client.query(entity, filter, { includeFields: opts.includeFields })) {
      const id = (item as { id: number }).id;
      if (!seen.has(id)) out.push(item);
      seen.add(id);
    }
  }
  return out;
}

/**
 * Companies whose UDF `label` is one of `values`: one UDF per query, `in` lists of at most 500. Autotask documents
 * only `eq` on a UDF (NOTES.md (d)): an `in` it refuses falls back to one `eq` query per value.
 */
async function companiesByUdf(client: AutotaskClient, label: string, values: string[]): Promise<unknown[]> {
  const unique = [...new Set(values)];
  const out: unknown[] = [];
  for (let i = 0; i < unique.length; i += MAX_RECORDS) {
    const value = unique.slice(i, i + MAX_RECORDS);
    try {
      out.push(...(await client.query('Companies', [{ op: 'in', field: label, value, udf: true }])));
    } catch (err) {
      if (
        !(err instanceof AutotaskError) ||
        err.failure !== 'permanent' ||
        err.status === 401 ||
        err.status === 403
      )
        throw err;
      for (const v of value) {
        out.push(...(await client.query('Companies', [{ op: 'eq', field: label, value: v, udf: true }])));
      }
    }
  }
  return out;
}

/** The first word of a name (3+ characters), for the `beginsWith` look-up that finds close names to suggest. */
const firstWord = (name: string): string | undefined => {
  const w = name.trim().split(/\s+/)[0] ?? '';
  return w.length >= 3 ? w : undefined;
};

/**
 * Everything the plan needs, one query per entity (OR-ed clauses): records the ledger or the mapping names are
 * read by id; names, markers and close names only for what they do not resolve. What a link does not use (tenant
 * UDF, usage, perpetual licences) costs no call. Any read failure throws: a failed lookup is never "not found".
 */
export async function readAutotaskState(
  client: AutotaskClient,
  desired: DesiredState,
  mapping: LinkMapping,
  settings: AutotaskSettings,
  ledger: Ledger,
  itemNames: (line: { productName: string; period: 'month' | 'year' }) => string,
): Promise<AutotaskState> {
  const customers = desired.customers;
  const today = desired.today;
  const udf = settings.tenantIdUdf;
  // With a tenant UDF the records are read whole, so each company's UDF can be checked against its tenant.
  const companyFields = udf ? {} : { includeFields: FIELDS.Companies };

  const known = (c: { customerId: string }) =>
    mapping.customers[c.customerId]?.companyId !== undefined || ledger.parties[c.customerId] !== undefined;
  const partyIds = numericIds([
    ...customers.map((c) => mapping.customers[c.customerId]?.companyId),
    ...customers.map((c) => ledger.parties[c.customerId]),
  ]);
  const open = customers.filter((c) => !known(c));
  const names = open.map((c) => c.name.trim()).filter((n) => n !== '');
  if (settings.vendorName) names.push(settings.vendorName);
  const words = [...new Set(open.map((c) => firstWord(c.name)).filter((w): w is string => Boolean(w)))];
  const periods = customers.flatMap((c) => (c.usage ?? []).map((u) => u.period));
  const since = settings.azureBillingCodeId ? firstDayOf(periods) : undefined;
  const oneOffs = customers.some((c) => (c.oneOffs ?? []).length > 0);
  const chargeClauses: Filter[] = [
    ...(since
      ? [
          {
            op: 'and',
            items: [
              { op: 'beginsWith', field: 'purchaseOrderNumber', value: 'SP-' },
              { op: 'gte', field: 'datePurchased', value: since },
            ],
          },
        ]
      : []),
    ...(oneOffs ? [{ op: 'beginsWith', field: 'purchaseOrderNumber', value: 'SPP-' }] : []),
  ];
  const [periodTypes, companiesRaw, companiesByTenant, chargesRaw] = await Promise.all([
    readPeriodTypes(client),
    queryAny(
      client,
      'Companies',
      [
        { op: 'in', field: 'id', value: partyIds },
        { op: 'in', field: 'companyName', value: names },
        ...words.map((w) => ({ op: 'beginsWith', field: 'companyName', value: w })),
      ],
      companyFields,
    ),
    udf && open.length > 0
      ? companiesByUdf(
          client,
          udf,
          open.map((c) => c.microsoftTenantId),
        )
      : [],
    chargeClauses.length > 0
      ? queryAny(client, 'ContractCharges', chargeClauses, { includeFields: FIELDS.ContractCharges })
      : undefined,
  ]);

  const contractIds = numericIds([
    ...customers.map((c) => mapping.customers[c.customerId]?.contractId),
    ...customers.map((c) => ledger.containers[c.customerId]),
  ]);
  const numbers = customers
    .filter((c) => ledger.containers[c.customerId] === undefined)
    .map((c) => managedContractNumber(c.customerId));
  const contracts = dedupe(
    parseAll(
      Contract,
      await queryAny(
        client,
        'Contracts',
        [
          { op: 'in', field: 'id', value: contractIds },
          { op: 'in', field: 'contractNumber', value: numbers },
        ],
        { includeFields: FIELDS.Contracts },
      ),
      'Contract',
    ),
  );
  const ids = contracts.map((c) => c.id);
  // A contract that ended before today is read at its end: its last units are what a renewal keeps.
  const ending = contracts.filter((c) => c.endDate < today);
  const first = monthStart(today);
  const unitClauses: Filter[] = [
    // The row covering today: one per contract service (a row starting today shows a change dated today;
    // on the 1st, without the row before, the ledger says whether the sync already changed it)…
    {
      op: 'and',
      items: [
        { op: 'lte', field: 'startDate', value: today },
        { op: 'gte', field: 'endDate', value: today },
      ],
    },
    // …and under next-period the rows either side of the 1st of the month, where its changes are dated.
    ...(desired.policy === 'next-period'
      ? [
          {
            op: 'and',
            items: [
              { op: 'lte', field: 'startDate', value: first },
              { op: 'gte', field: 'endDate', value: addDays(first, -1) },
            ],
          },
        ]
      : []),
    ...(ending.length > 0
      ? [
          {
            op: 'and',
            items: [
              { op: 'in', field: 'contractID', value: ending.map((c) => c.id) },
              { op: 'gte', field: 'endDate', value: addDays(ending.map((c) => c.endDate).sort()[0]!, -1) },
            ],
          },
        ]
      : []),
  ];
  const [csRaw, unitsRaw] = await Promise.all([
    ids.length > 0
      ? client.queryIn('ContractServices', 'contractID', ids, [], { includeFields: FIELDS.ContractServices })
      : [],
    ids.length > 0
      ? client.queryIn('ContractServiceUnits', 'contractID', ids, [{ op: 'or', items: unitClauses }], {
          includeFields: FIELDS.ContractServiceUnits,
        })
      : [],
  ]);
  const contractServices = parseAll(ContractService, csRaw, 'ContractService');

  const serviceIds = numericIds([
    ...Object.values(mapping.products).map((p) => p.serviceId),
    ...Object.values(ledger.items),
    ...contractServices.map((cs) => cs.serviceID),
  ]);
  const unresolved = customers.flatMap((c) =>
    c.lines.filter(
      (l) =>
        ledger.items[itemLedgerKey(l.productId, l.period)] === undefined &&
        !mapping.products[l.productId]?.serviceId,
    ),
  );
  const serviceNames = unresolved.map((l) => itemNames(l));
  const servicesRaw = await queryAny(
    client,
    'Services',
    [
      { op: 'in', field: 'id', value: serviceIds },
      { op: 'in', field: 'name', value: serviceNames },
      ...(unresolved.length > 0 ? [{ op: 'beginsWith', field: 'description', value: SERVICE_MARKER }] : []),
    ],
    { includeFields: FIELDS.Services },
  );

  return {
    today,
    periodTypes,
    companies: dedupe(parseAll(Company, [...companiesRaw, ...companiesByTenant], 'Company')),
    contracts,
    services: dedupe(parseAll(Service, servicesRaw, 'Service')),
    contractServices,
    units: dedupe(parseAll(ContractServiceUnit, unitsRaw, 'ContractServiceUnit')),
    ...(chargesRaw ? { charges: parseAll(ContractCharge, chargesRaw, 'ContractCharge') } : {}),
  };
}

/** The first day of the earliest month: charges are read from there on. */
export const firstDayOf = (periods: readonly string[]): string | undefined => {
  const first = [...periods].sort()[0];
  return first ? `${first}-01` : undefined;
};

/**
 * The Service periodType values of this Autotask instance, by label: picklist values differ per instance (a
 * live tenant has 2 Monthly … 5 Yearly; see NOTES.md), so none is hard-coded.
 */
export async function readPeriodTypes(client: AutotaskClient): Promise<{ month: number; year: number }> {
  const fields = FieldsResponse.parse(await client.metadata('Services/entityInformation/fields')).fields;
  const values = fields.find((f) => f.name.toLowerCase() === 'periodtype')?.picklistValues ?? [];
  const byLabel = (label: string) => {
    const v = values.find((x) => x.label.trim().toLowerCase() === label && x.isActive !== false);
    const n = Number(v?.value);
    return v && Number.isInteger(n) ? n : undefined;
  };
  const month = byLabel('monthly');
  const year = byLabel('yearly');
  if (month === undefined || year === undefined) {
    throw new AutotaskError(
      'Autotask lists no active "Monthly" and "Yearly" periodType for Services',
      200,
      [],
      'permanent',
    );
  }
  return { month, year };
}
