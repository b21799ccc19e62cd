import type { DesiredCustomer, DesiredLine, LinkMapping, Notice, PlanOp } from '../types.ts';
import { SERVICE_MARKER, serviceBody, serviceName } from './mappers.ts';
import type { AutotaskOp, CreateServiceData, IdOrRef } from './ops.ts';
import { linePrice } from './pricing.ts';
import { type Resolved, resolveVendor, servicesNamed, toId } from './resolve.ts';
import type { AutotaskSettings, Service } from './schemas.ts';
import type { AutotaskState, Indexed } from './state.ts';

/**
 * Products → Services for one plan. Services are shared by the whole account: one createService per (cut)
 * name, kept only when some contract uses it; the vendor the settings name is looked up once.
 */
export function serviceResolver(
  state: AutotaskState,
  idx: Indexed,
  mapping: LinkMapping,
  settings: AutotaskSettings,
) {
  const vendor = resolveVendor(state, settings.vendorName);
  const vendorId = vendor && 'ok' in vendor ? vendor.ok.id : undefined;
  const vendorProblem = vendor && 'reason' in vendor ? vendor.reason : undefined;
  const created = new Map<string, PlanOp<'createService', CreateServiceData>>();
  const used = new Set<string>();
  const vendorOps: AutotaskOp[] = [];

  function resolve(customer: DesiredCustomer, line: DesiredLine): Resolved<IdOrRef> {
    const mapped = toId(mapping.products[line.productId]?.serviceId);
    if (mapped === null)
      return { reason: `the Autotask service mapped to ${line.productName} is not a number` };
    if (mapped !== undefined) {
      return idx.servicesById.has(mapped)
        ? { ok: mapped }
        : { reason: `Autotask service ${mapped} (mapped to ${line.productName}) does not exist` };
    }
    const found = servicesNamed(state, line);
    const name = serviceName(line.productName);
    if (found.length === 1) return { ok: found[0]!.id };
    if (found.length > 1) {
      return {
        reason: `${found.length} Autotask services named "${name}"; map product ${line.productId} to one`,
      };
    }
    if (!settings.createMissingServices) {
      return {
        reason: `no Autotask service named "${name}"; map product ${line.productId} to a service or turn on createMissingServices`,
      };
    }
    if (vendorProblem) return { reason: `service "${name}" not created: ${vendorProblem}` };
    let op = created.get(name.toLowerCase());
    if (!op) {
      const price = linePrice(line, customer.currency, settings);
      op = {
        key: `service:${line.productId}`,
        kind: 'createService',
        summary: `create service "${name}"`,
        data: {
          productId: line.productId,
          body: serviceBody(line, settings, {
            ...(price.unitPrice !== null ? { price } : {}),
            vendorCompanyId: vendorId,
          }),
        },
      };
      created.set(name.toLowerCase(), op);
    }
    return { ok: { ref: op.key } };
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
    fixVendor,
    /** A created service's op is kept only once a contract service needs it. */
    use: (ref: string) => used.add(ref),
    ops: (): AutotaskOp[] => [...[...created.values()].filter((op) => used.has(op.key)), ...vendorOps],
    notices: (): Notice[] => (vendorProblem ? [{ kind: 'settings', message: vendorProblem }] : []),
  };
}

export type ServiceResolver = ReturnType<typeof serviceResolver>;
