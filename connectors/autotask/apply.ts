import { type ApplyResults, TargetError } from '../types.ts';
import { type AutotaskClient, AutotaskError, classifyAutotaskError, type Filter } from './client.ts';
import { addDays } from './mappers.ts';
import type {
  AddContractServiceData,
  AdjustUnitsData,
  CreateContractData,
  CreateServiceData,
  IdOrRef,
  PostChargeData,
  RenewContractData,
  SetPriceData,
  UpdateServiceData,
} from './ops.ts';
import { parseAll } from './read.ts';
import { sameServiceName } from './resolve.ts';
import {
  Contract,
  ContractCharge,
  ContractService,
  ContractServiceUnit,
  FieldsResponse,
  Service,
} from './schemas.ts';
import { unitsOn } from './state.ts';

/**
 * Creates whose answer was lost (timeout, reset) are looked up and, when absent, sent again: at most this many
 * sends per run attempt. The client never re-sends a create itself, and the engine does not repeat the op.
 */
export const MAX_CREATE_TRIES = 3;
const DUPLICATE_PERIOD = /duplicate data into contract_service_period/i;

/** A request that may have reached Autotask without us hearing back: look before sending it again. */
const answerLost = (err: unknown): boolean => classifyAutotaskError(err).kind === 'transient';

/** The lowest id: when a lookup finds more than one (made before this connector), the oldest wins. */
const oldest = (rows: { id: number }[]): number | undefined =>
  rows.length === 0 ? undefined : Math.min(...rows.map((r) => r.id));

/**
 * Create-once: look up by the stable key first (an earlier create may have happened), create, and when
 * Autotask answers `{"itemId": null}` look up again. A create whose answer was lost is looked up before it is
 * sent again, so a slow Autotask never gets the same record twice. `checked`: this run's own read just found
 * no such record, so the first lookup is skipped (one run per link at a time: nobody else makes it meanwhile).
 */
export async function ensure(
  client: Pick<AutotaskClient, 'repeatWhileLost'>,
  what: string,
  find: () => Promise<number | undefined>,
  create: () => Promise<number | null>,
  checked = false,
): Promise<number> {
  let first = true;
  // Only the create's own lost answer repeats the step: a lookup that failed was already retried by the client.
  let lost: unknown;
  return client.repeatWhileLost(
    async () => {
      const existing = checked && first ? undefined : await find();
      first = false;
      if (existing !== undefined) return existing;
      let created: number | null;
      try {
        created = await create();
      } catch (err) {
        if (answerLost(err)) lost = err;
        throw err;
      }
      if (created !== null) return created;
      const found = await find();
      if (found !== undefined) return found;
      throw new TargetError(`Autotask accepted the ${what} but it cannot be found`, undefined, []);
    },
    (err) => err === lost,
    MAX_CREATE_TRIES,
  );
}

/** An id from the plan, or the id an earlier op of this run returned. */
export function resolveId(value: IdOrRef, results: ApplyResults): number {
  if (typeof value === 'number') return value;
  const result = results.get(value.ref);
  if (typeof result === 'number') return result;
  throw new TargetError(`needs the result of ${value.ref}, which has not run successfully`, undefined, []);
}

/**
 * The writes of a plan, each safe to repeat: a create looks its stable key up first, unless `checked` says the
 * plan was just made from a read that found none (the first application of an op of this connector's plan).
 */
export function createAppliers(client: AutotaskClient) {
  async function createService(data: CreateServiceData, checked = false): Promise<number> {
    const find = async () => {
      const rows = parseAll(
        Service,
        await client.query('Services', [{ op: 'eq', field: 'name', value: data.body.name }]),
        'Service',
      );
      return oldest(rows.filter((s) => sameServiceName(s.name, data.body.name)));
    };
    return ensure(
      client,
      `service "${data.body.name}"`,
      find,
      () => client.create('Services', { ...data.body }),
      checked,
    );
  }

  const updateService = (data: UpdateServiceData) =>
    client.update('Services', { id: data.serviceId, ...data.changes });

  async function createContract(data: CreateContractData, checked = false): Promise<number> {
    const number = data.body.contractNumber;
    const find = async () => {
      const rows = parseAll(
        Contract,
        await client.query('Contracts', [{ op: 'eq', field: 'contractNumber', value: number }]),
        'Contract',
      );
      return oldest(rows.filter((c) => c.contractNumber === number));
    };
    return ensure(
      client,
      `contract ${number}`,
      find,
      () => client.create('Contracts', { ...data.body }),
      checked,
    );
  }

  /** Moves the end date (PATCH sends only what changes); repeating it changes nothing. */
  async function renewContract(data: RenewContractData): Promise<number> {
    await client.update('Contracts', {
      id: data.contractId,
      endDate: data.endDate,
      ...(data.status !== undefined ? { status: data.status } : {}),
    });
    return data.contractId;
  }

  async function addContractService(
    data: AddContractServiceData,
    results: ApplyResults,
    checked = false,
  ): Promise<number> {
    const contractId = resolveId(data.contractId, results);
    const serviceId = resolveId(data.serviceId, results);
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
      ...(data.unitCost !== undefined ? { unitCost: data.unitCost } : {}),
      invoiceDescription: data.invoiceDescription,
    };
    return ensure(
      client,
      `service ${serviceId} on contract ${contractId}`,
      find,
      () => client.create(`Contracts/${contractId}/Services`, body),
      checked,
    );
  }

  /** `adjustedPrice` is the one price of a contract service Autotask lets a client change. */
  async function setPrice(data: SetPriceData): Promise<number> {
    await client.update(`Contracts/${data.contractId}/Services`, {
      id: data.contractServiceId,
      adjustedPrice: data.adjustedPrice,
    });
    return data.contractServiceId;
  }

  async function unitsNow(contractServiceID: number, day: string): Promise<number> {
    const rows = parseAll(
      ContractServiceUnit,
      await client.query('ContractServiceUnits', [
        { op: 'eq', field: 'contractServiceID', value: contractServiceID },
        { op: 'lte', field: 'startDate', value: addDays(day, 1) },
        { op: 'gte', field: 'endDate', value: addDays(day, -1) },
      ]),
      'ContractServiceUnit',
    );
    return unitsOn(rows, day) ?? 0;
  }

  /**
   * Posts the difference between the target units and the units Autotask shows now (re-read, so a retry of
   * this op after a post that did land posts nothing). A clash with an adjustment already made that day moves
   * the delta to the next day, but never past the day whose units are re-read: an adjustment dated later would
   * be invisible to the re-read of a retry and to the next run's read, and both would post it again. A post
   * whose answer was lost is re-read before it is sent again.
   */
  async function adjustUnits(data: AdjustUnitsData, results: ApplyResults, checked = false) {
    const contractID = resolveId(data.contractId, results);
    const contractServiceID = resolveId(data.contractServiceId, results);
    const serviceID = resolveId(data.serviceId, results);
    const effectiveDate = data.effectiveDate;
    const readDate = data.readDate ?? effectiveDate;
    let first = true;
    let lost: unknown;
    return client.repeatWhileLost(
      async () => {
        // The plan's delta stands on the first try when it comes from this run's read of the same units.
        const unitChange =
          checked && first
            ? data.unitChange
            : data.targetUnits - (await unitsNow(contractServiceID, readDate));
        first = false;
        if (unitChange === 0) return { itemId: null, unitChange: 0, effectiveDate: null };
        try {
          const itemId = await client.create('ContractServiceAdjustments', {
            contractID,
            contractServiceID,
            serviceID,
            unitChange,
            effectiveDate,
            ...(data.adjustedUnitPrice !== undefined ? { adjustedUnitPrice: data.adjustedUnitPrice } : {}),
            ...(data.adjustedUnitCost !== undefined ? { adjustedUnitCost: data.adjustedUnitCost } : {}),
          });
          return { itemId, unitChange, effectiveDate };
        } catch (err) {
          if (answerLost(err)) {
            // Re-read before sending again: the post may have landed.
            lost = err;
            throw err;
          }
          // Someone (another integration, or the MSP) changed this service on the same day: Autotask takes one
          // adjustment per service and day, and the sync never dates one into the future. The difference is
          // posted by the next day's first run.
          if (err instanceof AutotaskError && err.targetMessages.some((m) => DUPLICATE_PERIOD.test(m))) {
            return { itemId: null, unitChange, effectiveDate, pending: true };
          }
          throw err;
        }
      },
      (err) => err === lost,
      MAX_CREATE_TRIES,
    );
  }

  // The "Operational" charge type's value differs per Autotask instance: read once per connector.
  let chargeType: Promise<number> | undefined;
  function operationalChargeType(): Promise<number> {
    chargeType ??= client
      .metadata('ContractCharges/entityInformation/fields')
      .then((data) => {
        const field = FieldsResponse.parse(data).fields.find((f) => f.name.toLowerCase() === 'chargetype');
        const values = (field?.picklistValues ?? []).filter((v) => v.isActive !== false);
        const pick =
          values.find((v) => v.label.trim().toLowerCase() === 'operational') ??
          values.find((v) => v.isDefaultValue) ??
          values[0];
        const value = Number(pick?.value);
        if (!pick || !Number.isInteger(value)) {
          throw new TargetError('Autotask lists no active chargeType for ContractCharges', undefined, []);
        }
        return value;
      })
      .catch((err) => {
        chargeType = undefined;
        throw err;
      });
    return chargeType;
  }

  /** A usage charge, looked up by its key (purchaseOrderNumber) first, so a month is never posted twice. */
  async function postCharge(data: PostChargeData, results: ApplyResults, checked = false): Promise<number> {
    const contractId = resolveId(data.contractId, results);
    const find = async () =>
      oldest(
        parseAll(
          ContractCharge,
          await client.query('ContractCharges', [
            { op: 'eq', field: 'purchaseOrderNumber', value: data.key },
          ]),
          'ContractCharge',
        ).filter((c) => c.purchaseOrderNumber === data.key),
      );
    const body = { ...data.body, contractID: contractId, chargeType: await operationalChargeType() };
    return ensure(
      client,
      `charge ${data.key}`,
      find,
      () => client.create(`Contracts/${contractId}/Charges`, body),
      checked,
    );
  }

  return {
    createService,
    updateService,
    createContract,
    renewContract,
    addContractService,
    setPrice,
    adjustUnits,
    postCharge,
  };
}
