import type { z } from 'zod';
import type { DesiredState, LinkMapping } from '../types.ts';
import { type AutotaskClient, AutotaskError, type Filter, MAX_RECORDS } from './client.ts';
import { addDays, managedContractNumber, serviceName } from './mappers.ts';
import {
  type AutotaskSettings,
  Company,
  Contract,
  ContractCharge,
  ContractService,
  ContractServiceUnit,
  Service,
} from './schemas.ts';
import { type AutotaskState, unitsDateFor } from './state.ts';
import { firstDayOf } from './usage.ts';

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
  ContractServiceUnits: ['contractID', 'contractServiceID', 'serviceID', 'startDate', 'endDate', 'units'],
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

/** Companies whose UDF `label` is one of `values`: one UDF per query, `in` lists of at most 500. */
async function companiesByUdf(client: AutotaskClient, label: string, values: string[]): Promise<unknown[]> {
  const unique = [...new Set(values)];
  const out: unknown[] = [];
  for (let i = 0; i < unique.length; i += MAX_RECORDS) {
    const value = unique.slice(i, i + MAX_RECORDS);
    out.push(...(await client.query('Companies', [{ op: 'in', field: label, value, udf: true }])));
  }
  return out;
}

/**
 * Everything the plan needs, in as few calls as paging allows: each entity is read with `in` filters of up to
 * 500 values, and what a link does not use (tenant UDF, usage) costs no call. Any read failure throws: a
 * failed lookup is never "not found".
 */
export async function readAutotaskState(
  client: AutotaskClient,
  desired: DesiredState,
  mapping: LinkMapping,
  settings: AutotaskSettings,
): Promise<AutotaskState> {
  const customers = desired.customers;
  const unitsDate = unitsDateFor(desired.effectiveDate);
  const udf = settings.tenantIdUdf;
  // With a tenant UDF the records are read whole, so each company's UDF can be checked against its tenant.
  const companyFields = udf ? {} : { includeFields: FIELDS.Companies };

  const mappedCompanyIds = numericIds(customers.map((c) => mapping.customers[c.customerId]?.companyId));
  const names = customers.map((c) => c.name.trim()).filter((n) => n !== '');
  if (settings.vendorName) names.push(settings.vendorName);
  const periods = customers.flatMap((c) => (c.usage ?? []).map((u) => u.period));
  const since = settings.azureBillingCodeId ? firstDayOf(periods) : undefined;
  const chargeFilter: Filter[] = [
    { op: 'beginsWith', field: 'purchaseOrderNumber', value: 'SP-' },
    { op: 'gte', field: 'datePurchased', value: since },
  ];
  const [companiesById, companiesByName, companiesByTenant, chargesRaw] = await Promise.all([
    client.queryIn('Companies', 'id', mappedCompanyIds, [], companyFields),
    client.queryIn('Companies', 'companyName', names, [], companyFields),
    udf
      ? companiesByUdf(
          client,
          udf,
          customers.map((c) => c.microsoftTenantId),
        )
      : [],
    since
      ? client.query('ContractCharges', chargeFilter, { includeFields: FIELDS.ContractCharges })
      : undefined,
  ]);

  const mappedContractIds = numericIds(customers.map((c) => mapping.customers[c.customerId]?.contractId));
  const numbers = customers.map((c) => managedContractNumber(c.customerId));
  const [contractsById, contractsByNumber] = await Promise.all([
    client.queryIn('Contracts', 'id', mappedContractIds, [], { includeFields: FIELDS.Contracts }),
    client.queryIn('Contracts', 'contractNumber', numbers, [], { includeFields: FIELDS.Contracts }),
  ]);
  const contracts = dedupe(parseAll(Contract, [...contractsById, ...contractsByNumber], 'Contract'));
  const contractIds = contracts.map((c) => c.id);
  // A contract that ends before the units date is read at its end: its last units are what a renewal keeps.
  const ending = contracts.filter((c) => c.endDate < unitsDate);

  // The rows around the units date (the planner picks the exact one; a day either side tolerates time zones),
  // and those starting in the week from the effective date: rows split where an adjustment takes effect, so
  // the planner can date a new one on a free day instead of being refused. Mostly the same rows, one page.
  const around: Filter[] = [
    {
      op: 'or',
      items: [
        {
          op: 'and',
          items: [
            { op: 'lte', field: 'startDate', value: addDays(unitsDate, 1) },
            { op: 'gte', field: 'endDate', value: addDays(unitsDate, -1) },
          ],
        },
        {
          op: 'and',
          items: [
            { op: 'gte', field: 'startDate', value: desired.effectiveDate },
            { op: 'lt', field: 'startDate', value: unitsDate },
          ],
        },
      ],
    },
  ];
  const firstEnd = ending.map((c) => c.endDate).sort()[0];
  const unitOpts = { includeFields: FIELDS.ContractServiceUnits };
  const [csRaw, unitsRaw, lastRaw] = await Promise.all([
    client.queryIn('ContractServices', 'contractID', contractIds, [], {
      includeFields: FIELDS.ContractServices,
    }),
    client.queryIn('ContractServiceUnits', 'contractID', contractIds, around, unitOpts),
    firstEnd
      ? client.queryIn(
          'ContractServiceUnits',
          'contractID',
          ending.map((c) => c.id),
          [{ op: 'gte', field: 'endDate', value: addDays(firstEnd, -1) }],
          unitOpts,
        )
      : [],
  ]);
  const contractServices = parseAll(ContractService, csRaw, 'ContractService');

  const productNames = customers.flatMap((c) => c.lines.map((l) => serviceName(l.productName)));
  const serviceIds = [
    ...numericIds(Object.values(mapping.products).map((p) => p.serviceId)),
    ...contractServices.map((cs) => cs.serviceID),
  ];
  const [servicesByName, servicesById] = await Promise.all([
    client.queryIn('Services', 'name', productNames, [], { includeFields: FIELDS.Services }),
    client.queryIn('Services', 'id', serviceIds, [], { includeFields: FIELDS.Services }),
  ]);

  return {
    unitsDate,
    companies: dedupe(
      parseAll(Company, [...companiesById, ...companiesByName, ...companiesByTenant], 'Company'),
    ),
    contracts,
    services: dedupe(parseAll(Service, [...servicesByName, ...servicesById], 'Service')),
    contractServices,
    units: dedupe(parseAll(ContractServiceUnit, [...unitsRaw, ...lastRaw], 'ContractServiceUnit')),
    ...(chargesRaw ? { charges: parseAll(ContractCharge, chargesRaw, 'ContractCharge') } : {}),
  };
}
