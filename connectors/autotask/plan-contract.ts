import { planOneOffs, planUsageMonth, type ViewCharge } from '../../src/billing/charges.ts';
import { monthStart } from '../../src/billing/dates.ts';
import {
  type ContainerInput,
  diffContainer,
  type LineChange,
  reconOf,
  type ViewLine,
} from '../../src/billing/lines.ts';
import { samePrice } from '../../src/billing/money.ts';
import type { LedgerEntry } from '../../src/billing/types.ts';
import type {
  DesiredCustomer,
  DesiredLine,
  DesiredState,
  Ledger,
  Notice,
  ReconLine,
  UsageReconLine,
} from '../types.ts';
import { cutName, decimalToNumber } from './mappers.ts';
import { type AutotaskOp, type IdOrRef, isRef, refKeys } from './ops.ts';
import { periodOf, type ServiceResolver } from './plan-services.ts';
import type { ContractChoice } from './resolve.ts';
import type { AutotaskSettings, Company, ContractService } from './schemas.ts';
import { type AutotaskState, adjustedOn, type Indexed, rowOn } from './state.ts';

/** One target contract and what SpinPanel wants on it (several customers may share a mapped one). */
export interface ContractPlan {
  customer: DesiredCustomer;
  customers: DesiredCustomer[];
  company: Company;
  choice: ContractChoice;
  /** A contributing customer had a product that could not be resolved: retiring anything would be a guess. */
  incomplete: boolean;
  wanted: { customer: DesiredCustomer; line: DesiredLine; item: IdOrRef }[];
}

/** What every contract's planning reads and where it writes its operations and report lines. */
export interface PlanEnv {
  desired: DesiredState;
  state: AutotaskState;
  idx: Indexed;
  ledger: Ledger;
  settings: AutotaskSettings;
  services: ServiceResolver;
  ops: Record<'contract' | 'cs' | 'price' | 'adjust' | 'charge', AutotaskOp[]>;
  recon: ReconLine[];
  usage: UsageReconLine[];
  notices: Notice[];
  /** Plan-level ledger entries (observations of `next-period`). */
  ledger_: LedgerEntry[];
}

/** Where a contract's operations go. */
interface Target {
  cp: ContractPlan;
  ref: IdOrRef;
  /** The contract's ref, making sure a contract to create is created (only when something needs it). */
  use(): IdOrRef;
  /** Ops every write on this contract waits for (its renewal). */
  prereq: string[];
  span: { start: string; end: string };
  company: { id: number; name: string };
}

/** The units, price and change days of a contract service, as the billing core's neutral view. */
function viewLine(cs: ContractService, env: PlanEnv, day: string, start: string): ViewLine | undefined {
  const service = env.idx.servicesById.get(cs.serviceID);
  const period = service ? periodOf(service, env.state) : 'month';
  if (!period) return undefined;
  const rows = env.idx.rowsByCs.get(cs.id) ?? [];
  const row = rowOn(rows, day);
  const units = row?.units ?? 0;
  const listed = cs.adjustedPrice ?? cs.unitPrice ?? null;
  // Where Autotask bills it: a units row carries the row's amount (units × rate on a live tenant, the rate on
  // others; NOTES.md (b)). One that is neither for the listed rate is reported, never guessed from.
  const amount = row?.price;
  if (
    typeof amount === 'number' &&
    typeof listed === 'number' &&
    units > 0 &&
    !samePrice(amount, listed) &&
    !samePrice(amount, listed * units)
  ) {
    env.notices.push({
      kind: 'price-mismatch',
      message: `Autotask bills contract service ${cs.id} at ${amount} for ${units} unit(s) today, not its listed ${listed} per unit; check the contract's price adjustments`,
    });
  }
  const unitPrice = listed;
  const days = [env.desired.today, monthStart(env.desired.today)];
  return {
    id: cs.id,
    itemId: cs.serviceID,
    period,
    quantity: units,
    unitPrice,
    changedOn: days.filter((d) => adjustedOn(rows, d, start)),
  };
}

/** Pure: the contract itself (create or renew), its services, prices, unit deltas and charges. */
export function planContract(cp: ContractPlan, env: PlanEnv): void {
  const t = target(cp, env);
  const existing: ViewLine[] = [];
  if ('id' in cp.choice) {
    const renewed = t.prereq.length > 0;
    // A renewed contract carries on with the units it ended with.
    const day = renewed ? cp.choice.contract.endDate : env.desired.today;
    for (const cs of env.idx.csByContract.get(cp.choice.id) ?? []) {
      const v = viewLine(cs, env, day, t.span.start);
      if (v) existing.push(v);
    }
  }
  const input: ContainerInput = {
    key: 'id' in cp.choice ? `id:${cp.choice.id}` : `new:${cp.customer.customerId}`,
    managed: 'create' in cp.choice || cp.choice.managed,
    span: t.span,
    customers: cp.customers,
    wanted: cp.wanted,
    existing,
    incomplete: cp.incomplete,
  };
  const diff = diffContainer(input, {
    desired: env.desired,
    ledger: env.ledger,
    settings: env.settings,
    ourItem: (itemId, productId, period) => env.services.ours(itemId, productId, period),
    itemName: (itemId) => env.services.name(itemId),
  });
  env.notices.push(...diff.notices);
  env.ledger_.push(...diff.ledger);
  for (const change of diff.changes) planChange(change, t, env);
  planCharges(t, env);
}

function target(cp: ContractPlan, env: PlanEnv): Target {
  const { choice, customer } = cp;
  const company = { id: cp.company.id, name: cp.company.companyName };
  const prereq: string[] = [];
  if ('create' in choice) {
    const key = `contract:${customer.customerId}`;
    const op: AutotaskOp = {
      key,
      kind: 'createContract',
      customerId: customer.customerId,
      summary: `create contract ${choice.create.contractNumber} "${choice.create.contractName}"`,
      ledger: [{ kind: 'container', customerId: customer.customerId, id: { ref: key } }],
      data: { body: choice.create },
    };
    return {
      cp,
      ref: { ref: key },
      use: () => {
        if (!env.ops.contract.includes(op)) env.ops.contract.push(op);
        return { ref: key };
      },
      prereq,
      span: { start: choice.create.startDate, end: choice.create.endDate },
      company,
    };
  }
  // Usage and one-offs keep a contract in use even for a customer without licences.
  const active =
    cp.wanted.length > 0 ||
    cp.customers.some((c) => (c.usage?.length ?? 0) > 0 || (c.oneOffs?.length ?? 0) > 0);
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
  return {
    cp,
    ref: choice.id,
    use: () => choice.id,
    prereq,
    span: { start: choice.contract.startDate, end: renewTo ?? choice.contract.endDate },
    company,
  };
}

/** One line's decision as Autotask calls: add the contract service, set its price, post the unit delta. */
function planChange(change: LineChange, t: Target, env: PlanEnv): void {
  const opKeys: string[] = [];
  const owner = change.owner;
  const e = change.existing;
  const service = change.item as IdOrRef;
  if (!isRef(service)) env.services.fixVendor(env.idx.servicesById.get(service));
  const ownership = (id: IdOrRef, container: IdOrRef): LedgerEntry => ({
    kind: 'line',
    id,
    line: { customerId: owner.customerId, productId: change.productId, period: change.period, container },
  });
  // A line the sync takes over (its own item, or its managed contract) is the sync's from now on, whether or
  // not anything changes on it this run: so it is retired when its customer cancels.
  if (e && change.adopt && change.action !== 'held') env.ledger_.push(ownership(e.id as number, t.ref));
  if (e && change.price.set && change.price.pushed !== null) {
    const op: AutotaskOp = {
      key: `price:${change.key}`,
      kind: 'setPrice',
      customerId: owner.customerId,
      summary: `${change.productName} for ${owner.name}: price ${change.price.current ?? '—'} → ${change.price.pushed} ${owner.currency} per ${change.period}`,
      needs: [...t.prereq],
      data: {
        contractId: t.ref as number,
        contractServiceId: e.id as number,
        adjustedPrice: change.price.pushed,
      },
    };
    env.ops.price.push(op);
    opKeys.push(op.key);
  }
  if (change.post) {
    let csRef: IdOrRef | undefined = e ? (e.id as number) : undefined;
    const ledger: LedgerEntry[] = [];
    if (csRef === undefined) {
      const ref = t.use();
      if (isRef(service)) env.services.use(service.ref);
      const catalog = isRef(service) ? undefined : env.idx.servicesById.get(service);
      const line = change.contributors[0]!.line;
      // Prices left to Autotask: the catalogue's (SpinPanel's only seeds a service created now).
      const unitPrice =
        change.price.pushed ??
        catalog?.unitPrice ??
        decimalToNumber(line.unitPrice.amount) * (change.period === 'year' ? 12 : 1);
      const unitCost =
        change.price.pushed !== null && change.price.cost !== null
          ? change.price.cost
          : (catalog?.unitCost ?? undefined);
      const key = `cs:${change.key}`;
      const op: AutotaskOp = {
        key,
        kind: 'addContractService',
        customerId: owner.customerId,
        summary: `add ${change.productName}${change.period === 'year' ? ' (yearly)' : ''} to the contract of ${t.cp.customer.name}`,
        needs: [...refKeys(ref, service), ...t.prereq],
        ledger: [ownership({ ref: key }, ref)],
        data: {
          contractId: ref,
          serviceId: service,
          unitPrice,
          ...(unitCost !== undefined && unitCost !== null ? { unitCost } : {}),
          invoiceDescription: cutName(change.productName),
        },
      };
      env.ops.cs.push(op);
      opKeys.push(op.key);
      csRef = { ref: key };
    }
    ledger.push({ kind: 'adjustment', lineId: csRef, day: change.post.date });
    const { delta, date } = change.post;
    const before = change.before ?? 0;
    const op: AutotaskOp = {
      key: `adj:${change.key}:${date}`,
      kind: 'adjustUnits',
      customerId: owner.customerId,
      summary: `${change.productName} for ${t.cp.customer.name}: ${delta > 0 ? '+' : ''}${delta} (${before} → ${change.after}) from ${date}`,
      needs: [...refKeys(t.ref, csRef, service), ...t.prereq],
      ledger,
      data: {
        contractId: t.ref,
        contractServiceId: csRef,
        serviceId: service,
        effectiveDate: date,
        readDate: date,
        unitChange: delta,
        targetUnits: change.after,
        ...(change.price.pushed !== null ? { adjustedUnitPrice: change.price.pushed } : {}),
        ...(change.price.pushed !== null && change.price.cost !== null
          ? { adjustedUnitCost: change.price.cost }
          : {}),
      },
    };
    env.ops.adjust.push(op);
    opKeys.push(op.key);
  }
  env.recon.push(...reconOf(change, t.company, opKeys));
}

/** Each customer's closed usage months and perpetual purchases, as charges on this contract. */
function planCharges(t: Target, env: PlanEnv): void {
  const existing: ViewCharge[] = (env.state.charges ?? [])
    .filter((c) => typeof c.purchaseOrderNumber === 'string')
    .map((c) => ({
      key: c.purchaseOrderNumber as string,
      quantity: c.unitQuantity ?? 1,
      unitPrice: c.unitPrice ?? null,
    }));
  const usageCode = env.settings.azureBillingCodeId;
  const oneOffCode = env.settings.oneOffBillingCodeId ?? usageCode;
  for (const c of t.cp.customers) {
    for (const month of c.usage ?? []) {
      if (usageCode === undefined) break;
      const planned = planUsageMonth(c, month, existing, t.span, env.settings);
      if (planned.notice) env.notices.push(planned.notice);
      const keys = planned.posts.map((post) => postOp(c, post, usageCode, t, env));
      env.usage.push({ ...planned.recon, ...(keys.length > 0 ? { opKeys: keys } : {}) });
    }
    if ((c.oneOffs?.length ?? 0) === 0) continue;
    if (oneOffCode === undefined) {
      env.notices.push({
        customerId: c.customerId,
        kind: 'settings',
        message: `perpetual licences of ${c.name} are not charged: set oneOffBillingCodeId (or azureBillingCodeId)`,
      });
      continue;
    }
    const planned = planOneOffs(
      c,
      c.oneOffs ?? [],
      existing,
      env.ledger,
      t.span,
      env.desired.today,
      env.settings,
    );
    env.notices.push(...planned.notices);
    for (const post of planned.posts) {
      const key = postOp(c, post, oneOffCode, t, env);
      env.recon.push({
        customerId: c.customerId,
        customerName: c.name,
        productId: post.productId ?? '',
        productName: post.name,
        spinpanelSeats: post.quantity,
        targetUnitsBefore: null,
        targetUnitsAfter: post.quantity,
        targetCompany: t.company,
        action: 'add',
        unitPriceAfter: post.unitPrice,
        effectiveDate: post.date,
        opKeys: [key],
      });
    }
  }
}

function postOp(
  c: DesiredCustomer,
  post: {
    key: string;
    name: string;
    description: string;
    date: string;
    quantity: number;
    unitPrice: number;
    unitCost: number;
  },
  billingCodeID: number,
  t: Target,
  env: PlanEnv,
): string {
  const ref = t.use();
  const key = `charge:${post.key}`;
  env.ops.charge.push({
    key,
    kind: 'postCharge',
    customerId: c.customerId,
    summary: `post "${post.name}" for ${c.name}: ${post.quantity} × ${post.unitPrice} ${c.currency}`,
    needs: [...refKeys(ref), ...t.prereq],
    ledger: [{ kind: 'charge', key: post.key, id: { ref: key } }],
    data: {
      contractId: ref,
      key: post.key,
      body: {
        name: cutName(post.name),
        description: post.description,
        datePurchased: post.date,
        unitQuantity: post.quantity,
        unitPrice: post.unitPrice,
        unitCost: post.unitCost,
        billingCodeID,
        isBillableToCompany: true,
        purchaseOrderNumber: post.key,
      },
    },
  });
  return key;
}
