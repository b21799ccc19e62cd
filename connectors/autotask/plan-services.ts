import { itemLedgerKey, resolveItem, type ViewItem } from '../../src/billing/items.ts';
import { periodPrice } from '../../src/billing/pricing.ts';
import type { Period } from '../../src/billing/types.ts';
import type { DesiredCustomer, DesiredLine, Ledger, LinkMapping, Notice, PlanOp } from '../types.ts';
import { markedProduct, NAME_MAX, SERVICE_MARKER, serviceBody } from './mappers.ts';
import type { AutotaskOp, CreateServiceData, IdOrRef } from './ops.ts';
import { type Resolved, resolveVendor, toId } from './resolve.ts';
import type { AutotaskSettings, Service } from './schemas.ts';
import type { AutotaskState } from './state.ts';

/** Services as the billing core's catalogue view: monthly and yearly ones (others bill no SpinPanel line). */
export function itemsOf(state: AutotaskState): ViewItem[] {
  const out: ViewItem[] = [];
  for (const s of state.services) {
    const period = periodOf(s, state);
    if (!period) continue;
    const productId = markedProduct(s.description);
    out.push({ id: s.id, name: s.name, period, ...(productId ? { productId } : {}) });
  }
  return out;
}

/** A service's billing period; a service without a period type (read without it) counts as monthly. */
export function periodOf(
  s: Pick<Service, 'periodType'>,
  state: Pick<AutotaskState, 'periodTypes'>,
): Period | undefined {
  if (s.periodType === null || s.periodType === undefined) return 'month';
  if (s.periodType === state.periodTypes.month) return 'month';
  if (s.periodType === state.periodTypes.year) return 'year';
  return undefined;
}

/**
 * Products → Services for one plan, through the billing core (mapping, ledger, marker, name). Services are
 * shared by the whole account: one createService per product and period, kept only when some contract uses
 * it; the vendor the settings name is looked up once.
 */
export function serviceResolver(
  state: AutotaskState,
  mapping: LinkMapping,
  ledger: Ledger,
  settings: AutotaskSettings,
) {
  const items = itemsOf(state);
  const vendor = resolveVendor(state, settings.vendorName);
  const vendorId = vendor && 'ok' in vendor ? vendor.ok.id : undefined;
  const vendorProblem = vendor && 'reason' in vendor ? vendor.reason : undefined;
  const created = new Map<string, PlanOp<'createService', CreateServiceData>>();
  const used = new Set<string>();
  const vendorOps: AutotaskOp[] = [];

  function resolve(customer: DesiredCustomer, line: DesiredLine): Resolved<IdOrRef> {
    const choice = resolveItem(line, items, {
      mappedId: toId(mapping.products[line.productId]?.serviceId),
      ledger,
      create: settings.createMissingServices,
      nameMax: NAME_MAX,
      noun: 'Autotask service',
    });
    if ('reason' in choice) return choice;
    if ('ok' in choice) return { ok: choice.ok as number };
    const name = choice.create.name;
    if (vendorProblem) return { reason: `service "${name}" not created: ${vendorProblem}` };
    const key = line.period === 'year' ? `service:${line.productId}:year` : `service:${line.productId}`;
    let op = created.get(key);
    if (!op) {
      const price = periodPrice(line, customer.currency, settings);
      op = {
        key,
        kind: 'createService',
        summary: `create service "${name}"`,
        ledger: [{ kind: 'item', productId: line.productId, period: line.period, id: { ref: key } }],
        data: {
          productId: line.productId,
          body: serviceBody(line, settings, {
            periodType: state.periodTypes[line.period],
            ...(price.unitPrice !== null ? { price } : {}),
            vendorCompanyId: vendorId,
          }),
        },
      };
      created.set(key, op);
    }
    return { ok: { ref: op.key } };
  }

  /** True when a service is the sync's for a product: the ledger's, marked with it, or mapped to it. */
  function ours(serviceId: number | string, productId: string, period: Period): boolean {
    if (String(ledger.items[itemLedgerKey(productId, period)]) === String(serviceId)) return true;
    if (String(toId(mapping.products[productId]?.serviceId)) === String(serviceId)) return true;
    return items.some((i) => String(i.id) === String(serviceId) && i.productId === productId);
  }

  /** A Service SpinPanel created gets the vendor the settings name (once per plan). */
  function fixVendor(service: Service | undefined): void {
    if (vendorId === undefined || !service || service.vendorCompanyID === vendorId) return;
    if (!service.description?.startsWith(SERVICE_MARKER)) return;
    if (vendorOps.some((op) => op.key === `vendor:${service.id}`)) return;
    vendorOps.push({
      key: `vendor:${service.id}`,
      kind: 'updateService',
      summary: `set vendor ${settings.vendorName} on service "${service.name}"`,
      data: { serviceId: service.id, changes: { vendorCompanyID: vendorId } },
    });
  }

  return {
    resolve,
    ours,
    fixVendor,
    name: (id: number | string) => items.find((i) => String(i.id) === String(id))?.name,
    /** A created service's op is kept only once a contract service needs it. */
    use: (ref: string) => used.add(ref),
    ops: (): AutotaskOp[] => [...[...created.values()].filter((op) => used.has(op.key)), ...vendorOps],
    notices: (): Notice[] => (vendorProblem ? [{ kind: 'settings', message: vendorProblem }] : []),
  };
}

export type ServiceResolver = ReturnType<typeof serviceResolver>;
