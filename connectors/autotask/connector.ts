import type { z } from 'zod';
import {
  type ApplyResults,
  type Connector,
  type ConnectorDeps,
  CredentialsRejectedError,
  type DesiredState,
  type LinkMapping,
  type Plan,
  type PlanOp,
  TargetError,
  type VerifyResult,
} from '../types.ts';
import {
  AutotaskClient,
  type AutotaskClientOptions,
  AutotaskError,
  classifyAutotaskError,
  type Filter,
} from './client.ts';
import { addDays, managedContractNumber, serviceName } from './mappers.ts';
import {
  type AddContractServiceData,
  type AdjustUnitsData,
  type AutotaskOp,
  type AutotaskState,
  type CreateContractData,
  type CreateServiceData,
  type IdOrRef,
  planAutotask,
  sameServiceName,
  unitsDateFor,
} from './planner.ts';
import {
  AutotaskCredentials,
  AutotaskSettings,
  type AutotaskSettingsInput,
  Company,
  Contract,
  ContractService,
  ContractServiceUnit,
  Service,
} from './schemas.ts';

export interface AutotaskConnectorDeps
  extends ConnectorDeps<AutotaskCredentials, AutotaskSettingsInput | AutotaskSettings> {
  /** e.g. https://webservices.autotask.net/atservicesrest/v1.0/zoneInformation (configurable per link). */
  zoneLookupUrl: string;
  /** A zone cached on the link: skips the lookup. */
  zoneUrl?: string;
  /** Tuning and test seams of the client (sleep, retry bounds, timeout). */
  client?: Partial<
    Omit<AutotaskClientOptions, 'http' | 'credentials' | 'zoneLookupUrl' | 'zoneUrl' | 'signal'>
  >;
}

/** Autotask allows one adjustment per contract service and day; a clash moves the delta up to 6 days on. */
export const MAX_ADJUSTMENT_SHIFT_DAYS = 6;
const DUPLICATE_PERIOD = /duplicate data into contract_service_period/i;

const FIELDS = {
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
  Services: ['name', 'description', 'unitPrice', 'unitCost', 'billingCodeID', 'periodType', 'isActive'],
  ContractServices: ['contractID', 'serviceID', 'unitPrice', 'unitCost'],
  ContractServiceUnits: ['contractID', 'contractServiceID', 'serviceID', 'startDate', 'endDate', 'units'],
};

/** Records Autotask sent that do not have the shape we rely on: a read failure, never "not found". */
function parseAll<T extends z.ZodType>(schema: T, items: unknown[], entity: string): z.output<T>[] {
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

const numericIds = (values: (number | string | undefined)[]): number[] =>
  values
    .map((v) => (v === undefined || v === '' ? Number.NaN : Number(v)))
    .filter((n) => Number.isSafeInteger(n));

/** The lowest id: when a lookup finds more than one (made before this connector), the oldest wins. */
const oldest = (rows: { id: number }[]): number | undefined =>
  rows.length === 0 ? undefined : Math.min(...rows.map((r) => r.id));

export function createAutotaskConnector(deps: AutotaskConnectorDeps): Connector {
  const credentials = AutotaskCredentials.parse(deps.credentials);
  const settings = AutotaskSettings.parse(deps.settings);
  const client = new AutotaskClient({
    ...deps.client,
    http: deps.http,
    credentials,
    zoneLookupUrl: deps.zoneLookupUrl,
    zoneUrl: deps.zoneUrl,
    signal: deps.signal,
  });

  async function verify(): Promise<VerifyResult> {
    let zoneUrl: string;
    try {
      zoneUrl = await client.zoneUrl();
    } catch (err) {
      // Autotask cannot place this user in any zone: the user name is wrong (or not an API user).
      throw rejectedOrRethrow(err, () => true);
    }
    try {
      // Company 0 is the Autotask owner (the MSP itself): a cheap authenticated call with a useful name.
      const owner = await client.queryPage('Companies', [{ op: 'eq', field: 'id', value: 0 }], {
        maxRecords: 1,
        includeFields: ['companyName'],
      });
      const name = (owner[0] as { companyName?: unknown } | undefined)?.companyName;
      return {
        displayName: typeof name === 'string' && name ? name : `Autotask (${new URL(zoneUrl).host})`,
        details: { zoneUrl, userName: credentials.userName },
      };
    } catch (err) {
      throw rejectedOrRethrow(err, (e) => e.status === 401 || e.status === 403);
    }
  }

  async function readState(desired: DesiredState, mapping: LinkMapping): Promise<AutotaskState> {
    const customers = desired.customers;
    const unitsDate = unitsDateFor(desired.effectiveDate);

    const mappedCompanyIds = numericIds(customers.map((c) => mapping.customers[c.customerId]?.companyId));
    const names = customers.map((c) => c.name.trim()).filter((n) => n !== '');
    const [companiesById, companiesByName] = await Promise.all([
      client.queryIn('Companies', 'id', mappedCompanyIds, [], { includeFields: FIELDS.Companies }),
      client.queryIn('Companies', 'companyName', names, [], { includeFields: FIELDS.Companies }),
    ]);

    const mappedContractIds = numericIds(customers.map((c) => mapping.customers[c.customerId]?.contractId));
    const numbers = customers.map((c) => managedContractNumber(c.customerId));
    const [contractsById, contractsByNumber] = await Promise.all([
      client.queryIn('Contracts', 'id', mappedContractIds, [], { includeFields: FIELDS.Contracts }),
      client.queryIn('Contracts', 'contractNumber', numbers, [], { includeFields: FIELDS.Contracts }),
    ]);
    const contracts = dedupe(parseAll(Contract, [...contractsById, ...contractsByNumber], 'Contract'));
    const contractIds = contracts.map((c) => c.id);

    // Rows around the units date; the planner picks the exact one (tolerates time zones in date filters).
    const around: Filter[] = [
      { op: 'lte', field: 'startDate', value: addDays(unitsDate, 1) },
      { op: 'gte', field: 'endDate', value: addDays(unitsDate, -1) },
    ];
    const [csRaw, unitsRaw] = await Promise.all([
      client.queryIn('ContractServices', 'contractID', contractIds, [], {
        includeFields: FIELDS.ContractServices,
      }),
      client.queryIn('ContractServiceUnits', 'contractID', contractIds, around, {
        includeFields: FIELDS.ContractServiceUnits,
      }),
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
      companies: dedupe(parseAll(Company, [...companiesById, ...companiesByName], 'Company')),
      contracts,
      services: dedupe(parseAll(Service, [...servicesByName, ...servicesById], 'Service')),
      contractServices,
      units: parseAll(ContractServiceUnit, unitsRaw, 'ContractServiceUnit'),
    };
  }

  function plan(desired: DesiredState, state: unknown, mapping: LinkMapping): Plan {
    // `state` is what readState returned for this run.
    return planAutotask(desired, state as AutotaskState, mapping, settings);
  }

  async function apply(op: PlanOp, results: ApplyResults): Promise<unknown> {
    const o = op as AutotaskOp;
    switch (o.kind) {
      case 'createService':
        return ensureService(o.data);
      case 'createContract':
        return ensureContract(o.data);
      case 'addContractService':
        return ensureContractService(o.data, results);
      case 'adjustUnits':
        return adjustUnits(o.data, results);
      default:
        throw new TargetError(`unknown Autotask operation ${String(op.kind)}`, undefined, []);
    }
  }

  /** Looks up before creating, and after a create answered without an id, by the service name. */
  async function ensureService(data: CreateServiceData): Promise<number> {
    const find = async () => {
      const rows = parseAll(
        Service,
        await client.query('Services', [{ op: 'eq', field: 'name', value: data.body.name }]),
        'Service',
      );
      return oldest(rows.filter((s) => sameServiceName(s.name, data.body.name)));
    };
    return ensure(`service "${data.body.name}"`, find, () => client.create('Services', { ...data.body }));
  }

  async function ensureContract(data: CreateContractData): Promise<number> {
    const number = data.body.contractNumber;
    const find = async () => {
      const rows = parseAll(
        Contract,
        await client.query('Contracts', [{ op: 'eq', field: 'contractNumber', value: number }]),
        'Contract',
      );
      return oldest(rows.filter((c) => c.contractNumber === number));
    };
    return ensure(`contract ${number}`, find, () => client.create('Contracts', { ...data.body }));
  }

  async function ensureContractService(data: AddContractServiceData, results: ApplyResults): Promise<number> {
    const contractId = resolve(data.contractId, results);
    const serviceId = resolve(data.serviceId, results);
    const find = async () => {
      const filter: Filter[] = [
        { op: 'eq', field: 'contractID', value: contractId },
        { op: 'eq', field: 'serviceID', value: serviceId },
      ];
      return oldest(
        parseAll(ContractService, await client.query('ContractServices', filter), 'ContractService'),
      );
    };
    const body = {
      contractID: contractId,
      serviceID: serviceId,
      unitPrice: data.unitPrice,
      unitCost: data.unitCost,
      invoiceDescription: data.invoiceDescription,
    };
    return ensure(`service ${serviceId} on contract ${contractId}`, find, () =>
      client.create(`Contracts/${contractId}/Services`, body),
    );
  }

  /**
   * Posts the difference between the target units and the units Autotask shows now (re-read, so a retry
   * of this op after a timed-out post that did land posts nothing). A clash with an adjustment already
   * made that day moves the delta to the next day.
   */
  async function adjustUnits(data: AdjustUnitsData, results: ApplyResults) {
    const contractID = resolve(data.contractId, results);
    const contractServiceID = resolve(data.contractServiceId, results);
    const serviceID = resolve(data.serviceId, results);
    const unitsDate = unitsDateFor(data.effectiveDate);
    const rows = parseAll(
      ContractServiceUnit,
      await client.query('ContractServiceUnits', [
        { op: 'eq', field: 'contractServiceID', value: contractServiceID },
        { op: 'lte', field: 'startDate', value: addDays(unitsDate, 1) },
        { op: 'gte', field: 'endDate', value: addDays(unitsDate, -1) },
      ]),
      'ContractServiceUnit',
    );
    const row = rows
      .filter((r) => r.startDate <= unitsDate && r.endDate >= unitsDate)
      .sort((a, b) => (a.startDate < b.startDate ? 1 : -1))[0];
    const unitChange = data.targetUnits - (row?.units ?? 0);
    if (unitChange === 0) return { itemId: null, unitChange: 0, effectiveDate: null };

    const tried: string[] = [];
    for (let shift = 0; shift <= MAX_ADJUSTMENT_SHIFT_DAYS; shift++) {
      const effectiveDate = addDays(data.effectiveDate, shift);
      try {
        const itemId = await client.create('ContractServiceAdjustments', {
          contractID,
          contractServiceID,
          serviceID,
          unitChange,
          effectiveDate,
          adjustedUnitPrice: data.adjustedUnitPrice,
          adjustedUnitCost: data.adjustedUnitCost,
        });
        return { itemId, unitChange, effectiveDate };
      } catch (err) {
        if (!(err instanceof AutotaskError) || !err.targetMessages.some((m) => DUPLICATE_PERIOD.test(m)))
          throw err;
        tried.push(effectiveDate);
      }
    }
    throw new TargetError(
      `Autotask already has an adjustment of contract service ${contractServiceID} on each day ${tried[0]} to ${tried.at(-1)}`,
      500,
      ['duplicate data into contract_service_period'],
    );
  }

  return { kind: 'autotask', verify, readState, plan, apply, classify: classifyAutotaskError };
}

/**
 * Create-once: look up by the stable key first (a create that timed out may have happened), create, and
 * when Autotask answers `{"itemId": null}` look up again.
 */
async function ensure(
  what: string,
  find: () => Promise<number | undefined>,
  create: () => Promise<number | null>,
): Promise<number> {
  const existing = await find();
  if (existing !== undefined) return existing;
  const created = await create();
  if (created !== null) return created;
  const found = await find();
  if (found !== undefined) return found;
  throw new TargetError(`Autotask accepted the ${what} but it cannot be found`, undefined, []);
}

/** An id from the plan, or the id an earlier op of this run returned. */
function resolve(value: IdOrRef, results: ApplyResults): number {
  if (typeof value === 'number') return value;
  const result = results.get(value.ref);
  if (typeof result === 'number') return result;
  throw new TargetError(`needs the result of ${value.ref}, which has not run successfully`, undefined, []);
}

function dedupe<T extends { id: number }>(rows: T[]): T[] {
  return [...new Map(rows.map((r) => [r.id, r])).values()];
}

/** A definite refusal becomes CredentialsRejectedError quoting Autotask; "try later" failures stay as they are. */
function rejectedOrRethrow(err: unknown, isRejection: (e: AutotaskError) => boolean): unknown {
  if (err instanceof AutotaskError && err.failure === 'permanent' && isRejection(err)) {
    const words = err.targetMessages.length > 0 ? err.targetMessages.join('; ') : `HTTP ${err.status ?? '?'}`;
    return new CredentialsRejectedError(words, { cause: err });
  }
  return err;
}
