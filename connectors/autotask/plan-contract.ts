import type {
  DesiredCustomer,
  DesiredLine,
  DesiredState,
  Notice,
  ReconAction,
  ReconLine,
  UsageReconLine,
} from '../types.ts';
import { decimalToNumber, SERVICE_MARKER, serviceName } from './mappers.ts';
import { type AdjustUnitsData, type AutotaskOp, type IdOrRef, isRef, refKeys } from './ops.ts';
import type { ServiceResolver } from './plan-services.ts';
import { linePrice, pricingSourceOf, samePrice } from './pricing.ts';
import { type ContractChoice, maxDay } from './resolve.ts';
import type { AutotaskSettings, Company, ContractService, ContractServiceUnit, Service } from './schemas.ts';
import { type AutotaskState, freeDay, type Indexed, readDateFor, unitsDateFor, unitsOn } from './state.ts';
import { planUsageMonth } from './usage.ts';

/** One target contract and what SpinPanel wants on it (several customers may share a mapped one). */
export interface ContractPlan {
  customer: DesiredCustomer;
  customers: DesiredCustomer[];
  company: Company;
  choice: ContractChoice;
  /** A contributing customer had a product that could not be resolved: retiring anything would be a guess. */
  incomplete: boolean;
  /** By service identity (`id:<n>` or the createService key). */
  groups: Map<string, ServiceGroup>;
}
export interface ServiceGroup {
  service: IdOrRef;
  first: { customer: DesiredCustomer; line: DesiredLine };
  quantity: number;
  contributors: { customer: DesiredCustomer; line: DesiredLine }[];
}

/** What every contract's planning reads and where it writes its operations and report lines. */
export interface PlanEnv {
  desired: DesiredState;
  state: AutotaskState;
  idx: Indexed;
  settings: AutotaskSettings;
  services: ServiceResolver;
  /** Services SpinPanel maps or created: the only ones ever retired from a contract it does not manage. */
  ourServiceIds: Set<number>;
  productOfService: Map<number, string>;
  ops: Record<'contract' | 'cs' | 'price' | 'adjust' | 'charge', AutotaskOp[]>;
  recon: ReconLine[];
  usage: UsageReconLine[];
  notices: Notice[];
}

/** Where a contract's operations go and from when they count. */
interface Target {
  cp: ContractPlan;
  ref: IdOrRef;
  /** The contract's ref, making sure a contract to create is created (only when something needs it). */
  use(): IdOrRef;
  /** Ops every write on this contract waits for (its renewal). */
  prereq: string[];
  span: { start: string; end: string };
  /** Effective date of adjustments: never before the contract starts. */
  date: string;
  ended: boolean;
  readDate: string;
  unitsBefore(cs: ContractService): number;
  company: { id: number; name: string };
}

/** Pure: the contract itself (create or renew), its services, prices, unit deltas and usage charges. */
export function planContract(cp: ContractPlan, env: PlanEnv): void {
  const t = target(cp, env);
  const wanted = new Set<number>();
  for (const group of cp.groups.values()) {
    if (!isRef(group.service)) wanted.add(group.service);
    planGroup(group, t, env);
  }
  planRetirements(wanted, t, env);
  planUsage(t, env);
}

function target(cp: ContractPlan, env: PlanEnv): Target {
  const { choice, customer } = cp;
  const company = { id: cp.company.id, name: cp.company.companyName };
  // Usage keeps a contract in use even for a customer without licences.
  const active =
    cp.groups.size > 0 ||
    (Boolean(env.settings.azureBillingCodeId) && cp.customers.some((c) => c.usage?.length));
  const prereq: string[] = [];
  if ('create' in choice) {
    const op: AutotaskOp = {
      key: `contract:${customer.customerId}`,
      kind: 'createContract',
      customerId: customer.customerId,
      summary: `create contract ${choice.create.contractNumber} "${choice.create.contractName}"`,
      data: { body: choice.create },
    };
    const span = { start: choice.create.startDate, end: choice.create.endDate };
    const date = maxDay(span.start, env.desired.effectiveDate);
    return {
      cp,
      ref: { ref: op.key },
      use: () => {
        if (!env.ops.contract.includes(op)) env.ops.contract.push(op);
        return { ref: op.key };
      },
      prereq,
      span,
      date,
      ended: false,
      readDate: unitsDateFor(date),
      unitsBefore: () => 0,
      company,
    };
  }
  const renewTo = active ? choice.renewTo : undefined;
  if (renewTo) {
    const renew: AutotaskOp = {
      key: `renew:${customer.customerId}`,
      kind: 'renewContract',
      customerId: customer.customerId,
      summary: `renew contract ${choice.id} of ${customer.name}: end ${choice.contract.endDate} → ${renewTo}`,
      data: {
        contractId: choice.id,
        contractNumber: choice.contract.contractNumber ?? '',
        endDate: renewTo,
        ...(choice.contract.status === 0 ? { status: 1 } : {}),
      },
    };
    env.ops.contract.push(renew);
    prereq.push(renew.key);
  }
  const span = { start: choice.contract.startDate, end: renewTo ?? choice.contract.endDate };
  const date = maxDay(span.start, env.desired.effectiveDate);
  const readDate = readDateFor({ endDate: span.end }, unitsDateFor(date));
  // A renewed contract carries on with the units it ended with.
  const beforeDay = renewTo ? choice.contract.endDate : readDate;
  return {
    cp,
    ref: choice.id,
    use: () => choice.id,
    prereq,
    span,
    date,
    ended: span.end < date,
    readDate,
    unitsBefore: (cs) => unitsOn(env.idx.rowsByCs.get(cs.id), beforeDay) ?? 0,
    company,
  };
}

/** One service on the contract: add it, set its price, post the unit delta; one report line per contributor. */
function planGroup(group: ServiceGroup, t: Target, env: PlanEnv): void {
  const { customer: owner, line } = group.first;
  const existing = 'id' in t.cp.choice ? (env.idx.csByContract.get(t.cp.choice.id) ?? []) : [];
  const cs = isRef(group.service) ? undefined : existing.find((c) => c.serviceID === group.service);
  if (!isRef(group.service)) env.services.fixVendor(env.idx.servicesById.get(group.service));
  const before = cs ? t.unitsBefore(cs) : null;
  const price = linePrice(line, owner.currency, env.settings);
  const spinpanelPrices = pricingSourceOf(owner, env.settings) === 'spinpanel';
  if (spinpanelPrices && price.unitPrice === null) {
    env.notices.push({
      customerId: owner.customerId,
      kind: 'currency',
      message: `${line.productName} of ${owner.name} is priced in ${line.unitPrice.currency}, not the customer's ${owner.currency}: its price is not pushed`,
    });
  }
  const pushPrice = spinpanelPrices && price.unitPrice !== null;
  const current = cs ? (cs.adjustedPrice ?? cs.unitPrice ?? null) : null;
  const delta = group.quantity - (before ?? 0);
  const opKeys: string[] = [];

  if (cs && pushPrice && !t.ended && !samePrice(current, price.unitPrice)) {
    const op: AutotaskOp = {
      key: `price:${owner.customerId}:${line.productId}`,
      kind: 'setPrice',
      customerId: owner.customerId,
      summary: `${line.productName} for ${owner.name}: price ${current ?? '—'} → ${price.unitPrice} ${owner.currency}`,
      needs: [...t.prereq],
      data: { contractId: cs.contractID, contractServiceId: cs.id, adjustedPrice: price.unitPrice! },
    };
    env.ops.price.push(op);
    opKeys.push(op.key);
  }
  if (delta !== 0 && !t.ended) {
    let csRef: IdOrRef | undefined = cs?.id;
    if (csRef === undefined) {
      const ref = t.use();
      if (isRef(group.service)) env.services.use(group.service.ref);
      const catalog = isRef(group.service) ? undefined : env.idx.servicesById.get(group.service);
      // Prices left to Autotask: the catalogue's (SpinPanel's only seeds a service created now).
      const unitPrice = pushPrice
        ? price.unitPrice!
        : (catalog?.unitPrice ?? price.unitPrice ?? decimalToNumber(line.unitPrice.amount));
      const unitCost =
        pushPrice && price.unitCost !== null ? price.unitCost : (catalog?.unitCost ?? undefined);
      const op: AutotaskOp = {
        key: `cs:${owner.customerId}:${line.productId}`,
        kind: 'addContractService',
        customerId: owner.customerId,
        summary: `add ${line.productName} to the contract of ${t.cp.customer.name}`,
        needs: [...refKeys(ref, group.service), ...t.prereq],
        data: {
          contractId: ref,
          serviceId: group.service,
          unitPrice,
          ...(unitCost !== undefined ? { unitCost } : {}),
          invoiceDescription: serviceName(line.productName),
        },
      };
      env.ops.cs.push(op);
      opKeys.push(op.key);
      csRef = { ref: op.key };
    }
    const adj = adjustOp(
      owner.customerId,
      line.productId,
      `${line.productName} for ${t.cp.customer.name}`,
      before ?? 0,
      delta,
      t,
      cs ? env.idx.rowsByCs.get(cs.id) : undefined,
      {
        contractId: t.ref,
        contractServiceId: csRef,
        serviceId: group.service,
        ...(pushPrice ? { adjustedUnitPrice: price.unitPrice! } : {}),
        ...(pushPrice && price.unitCost !== null ? { adjustedUnitCost: price.unitCost } : {}),
      },
    );
    env.ops.adjust.push(adj);
    opKeys.push(adj.key);
  }
  const moved = delta !== 0 && !t.ended;
  const action: ReconAction = !moved
    ? opKeys.length > 0
      ? 'price'
      : 'unchanged'
    : before === null
      ? 'add'
      : delta > 0
        ? 'increase'
        : 'decrease';
  for (const c of group.contributors) {
    env.recon.push({
      customerId: c.customer.customerId,
      customerName: c.customer.name,
      productId: c.line.productId,
      productName: c.line.productName,
      spinpanelSeats: c.line.quantity,
      targetUnitsBefore: before,
      targetUnitsAfter: moved ? group.quantity : (before ?? 0),
      targetCompany: t.company,
      action,
      unitPriceBefore: current,
      unitPriceAfter: pushPrice ? price.unitPrice : current,
      ...(opKeys.length > 0 ? { opKeys } : {}),
    });
  }
}

/**
 * Retire what is on the contract but no longer wanted. On a mapped contract only SpinPanel's own services
 * count: the MSP's other services there are none of our business.
 */
function planRetirements(wanted: Set<number>, t: Target, env: PlanEnv): void {
  const { choice, customer, incomplete } = t.cp;
  if (!('id' in choice) || incomplete || t.ended) return;
  for (const cs of env.idx.csByContract.get(choice.id) ?? []) {
    if (wanted.has(cs.serviceID)) continue;
    if (!choice.managed && !env.ourServiceIds.has(cs.serviceID)) continue;
    const units = t.unitsBefore(cs);
    if (units === 0) continue;
    const service = env.idx.servicesById.get(cs.serviceID);
    const productId =
      env.productOfService.get(cs.serviceID) ?? markedProduct(service) ?? `service-${cs.serviceID}`;
    const productName = service?.name ?? `Autotask service ${cs.serviceID}`;
    const adj = adjustOp(
      customer.customerId,
      productId,
      `${productName} for ${customer.name}`,
      units,
      -units,
      t,
      env.idx.rowsByCs.get(cs.id),
      {
        contractId: t.ref,
        contractServiceId: cs.id,
        serviceId: cs.serviceID,
      },
    );
    env.ops.adjust.push(adj);
    env.recon.push({
      customerId: customer.customerId,
      customerName: customer.name,
      productId,
      productName,
      spinpanelSeats: 0,
      targetUnitsBefore: units,
      targetUnitsAfter: 0,
      targetCompany: t.company,
      action: 'retire',
      opKeys: [adj.key],
    });
  }
}

/** Each customer's closed usage months, as charges on this contract. */
function planUsage(t: Target, env: PlanEnv): void {
  for (const c of t.cp.customers) {
    for (const month of c.usage ?? []) {
      const planned = planUsageMonth(
        c,
        month,
        env.state.charges ?? [],
        { contractId: t.ref, ...t.span },
        env.settings,
      );
      if (!planned) continue;
      if (planned.notice) env.notices.push(planned.notice);
      const keys: string[] = [];
      for (const post of planned.posts) {
        const ref = t.use();
        const op: AutotaskOp = {
          key: `charge:${post.key}`,
          kind: 'postCharge',
          customerId: c.customerId,
          summary: `post "${post.body.name}" for ${c.name}: ${post.body.unitPrice} ${c.currency}`,
          needs: [...refKeys(ref), ...t.prereq],
          data: { ...post, contractId: ref },
        };
        env.ops.charge.push(op);
        keys.push(op.key);
      }
      env.usage.push({ ...planned.recon, ...(keys.length > 0 ? { opKeys: keys } : {}) });
    }
  }
}

function markedProduct(service: Service | undefined): string | undefined {
  const description = service?.description;
  if (typeof description !== 'string' || !description.startsWith(SERVICE_MARKER)) return undefined;
  return description.slice(SERVICE_MARKER.length).trim() || undefined;
}

function adjustOp(
  customerId: string,
  productId: string,
  what: string,
  before: number,
  delta: number,
  t: Pick<Target, 'date' | 'readDate' | 'prereq' | 'span'>,
  rows: ContractServiceUnit[] | undefined,
  ids: Omit<AdjustUnitsData, 'unitChange' | 'targetUnits' | 'effectiveDate' | 'readDate'>,
): AutotaskOp {
  // A day that already holds an adjustment of this service would be refused: take the next free one.
  const day = rows ? freeDay(rows, t.date, t.span.start) : t.date;
  return {
    key: `adj:${customerId}:${productId}:${t.date}`,
    kind: 'adjustUnits',
    customerId,
    summary: `${what}: ${delta > 0 ? '+' : ''}${delta} (${before} → ${before + delta}) from ${day}`,
    needs: [...refKeys(ids.contractId, ids.contractServiceId, ids.serviceId), ...t.prereq],
    data: {
      ...ids,
      effectiveDate: day,
      readDate: t.readDate,
      unitChange: delta,
      targetUnits: before + delta,
    },
  };
}
