import { addDays } from '../../src/billing/dates.ts';
import { admin, BILLING_CODE, startWorld, type World } from '../helpers/world.ts';
import { lineOf, type TargetDriver, type TargetWorld } from './driver.ts';

const USER = {
  ApiIntegrationCode: 'SPINPANEL-SANDBOX',
  UserName: 'sandbox@example.com',
  Secret: 'sandbox-secret',
};

function dupes<T>(rows: Iterable<T>, key: (r: T) => string, what: string): string[] {
  const n = new Map<string, number>();
  for (const r of rows) n.set(key(r), (n.get(key(r)) ?? 0) + 1);
  return [...n].filter(([, c]) => c > 1).map(([k, c]) => `${what} ${k} ×${c}`);
}

/** The Autotask sandbox as a conformance target: a customer's lines are the contract services of its contract. */
export const autotaskDriver: TargetDriver = {
  name: 'autotask',
  kind: 'quantities',
  async start(opts = {}) {
    const w: World = await startWorld({
      settings: { azureBillingCodeId: 29682802, ...opts.settings },
      ...(opts.now !== undefined ? { now: opts.now } : {}),
      ...(opts.faultRate
        ? {
            autotask: {
              faults: { seed: 7, errorRate: opts.faultRate / 2, throttleRate: opts.faultRate / 2 },
            },
            env: { SYNC_ATTEMPTS: '3' },
          }
        : {}),
    });
    if (opts.accountTimeZone) w.sp.data.account.timeZone = opts.accountTimeZone;
    const db = w.at.db;
    const call = async (method: string, path: string, body?: unknown) => {
      const res = await fetch(`${w.at.apiBaseUrl}V1.0/${path}`, {
        method,
        headers: { 'Content-Type': 'application/json', ...USER },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      const json = (await res.json()) as { itemId?: number };
      if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${JSON.stringify(json)}`);
      return json;
    };
    const companyOf = (customerId: string) => {
      const name = w.sp.data.customers.find((c) => c.id === customerId)?.name;
      return [...db.companies.values()].find((c) => c.companyName === name)?.id as number;
    };
    const contractsOf = (customerId: string) =>
      [...db.contracts.values()].filter((c) => c.companyID === companyOf(customerId)).map((c) => c.id);
    const csOf = (customerId: string, lineName: string) => {
      const services = [...db.services.values()].filter((s) => s.name === lineName).map((s) => s.id);
      const contracts = contractsOf(customerId);
      return [...db.contractServices.values()].filter(
        (cs) => contracts.includes(cs.contractID) && services.includes(cs.serviceID),
      );
    };
    const today = () => w.day();
    const tw: TargetWorld = {
      sp: w.sp,
      sync: (dryRun) => w.sync(dryRun),
      advanceDays: (n) => w.advanceDays(n),
      day: () => w.day(),
      nextBillingPoint: () => w.advanceDays(1),
      expected() {
        const out = new Map<string, number>();
        for (const s of w.sp.data.subscriptions) {
          if (s.status !== 'active' || s.offerType === 'perpetual') continue;
          const k = `${s.customerId}|${lineOf(s)}`;
          out.set(k, (out.get(k) ?? 0) + s.quantity);
        }
        return out;
      },
      linesOf(customerId, lineName) {
        return csOf(customerId, lineName).map((cs) => ({
          quantity: w.at.unitsAt(cs.id as number, today()),
          unitPrice: (cs.adjustedPrice ?? cs.unitPrice) as number,
        }));
      },
      itemCount: () => db.services.size,
      seats(customerId, lineName) {
        const found = csOf(customerId, lineName);
        return found.length === 0
          ? null
          : found.reduce((s, cs) => s + w.at.unitsAt(cs.id as number, today()), 0);
      },
      price(customerId, lineName) {
        const cs = csOf(customerId, lineName)[0];
        return cs ? ((cs.adjustedPrice ?? cs.unitPrice) as number) : null;
      },
      writes: () =>
        w.at.requests.filter(
          (r) => r.method !== 'GET' && !/\/query(\/count)?(\?|$)/i.test(r.path) && r.status < 400,
        ).length,
      oneOffs(customerId) {
        const contracts = contractsOf(customerId);
        return [...db.contractCharges.values()]
          .filter(
            (c) =>
              contracts.includes(c.contractID as number) && String(c.purchaseOrderNumber).startsWith('SPP-'),
          )
          .map((c) => ({
            key: c.purchaseOrderNumber as string,
            quantity: c.unitQuantity as number,
            unitPrice: c.unitPrice as number,
          }));
      },
      changeDates(customerId, lineName) {
        const ids = csOf(customerId, lineName).map((cs) => cs.id);
        return db.adjustments
          .filter((a) => ids.includes(a.contractServiceID as number))
          .map((a) => String(a.effectiveDate).slice(0, 10));
      },
      async handMadeLine(customerId, name, seats) {
        const start = `${today().slice(0, 4)}-01-01`;
        const contract = await call('POST', 'Contracts', {
          contractName: 'Hand-made support contract',
          companyID: companyOf(customerId),
          contractType: 7,
          status: 1,
          startDate: start,
          endDate: addDays(`${Number(start.slice(0, 4)) + 1}-01-01`, -1),
          timeReportingRequiresStartAndStopTimes: 1,
        });
        const service = await call('POST', 'Services', {
          name,
          unitPrice: 20,
          periodType: 2,
          billingCodeID: BILLING_CODE,
        });
        await call('POST', 'ContractServiceAdjustments', {
          contractID: contract.itemId,
          serviceID: service.itemId,
          unitChange: seats,
          effectiveDate: start,
        });
        const mapping = await w.app.services.getMapping(w.accountId, w.link.id);
        mapping.customers[customerId] = { ...mapping.customers[customerId], contractId: contract.itemId };
        await w.app.services.putMapping(admin, w.accountId, w.link.id, mapping);
        const cs = () =>
          [...db.contractServices.values()].find(
            (x) => x.contractID === contract.itemId && x.serviceID === service.itemId,
          );
        return { seats: () => (cs() ? w.at.unitsAt(cs()!.id as number, today()) : null) };
      },
      duplicates: () => [
        ...dupes(db.contracts.values(), (c) => String(c.contractNumber), 'contract'),
        ...dupes(db.services.values(), (s) => String(s.name).toLowerCase(), 'service'),
        ...dupes(
          db.contractServices.values(),
          (cs) => `${cs.contractID}:${cs.serviceID}`,
          'contract service',
        ),
        ...dupes(
          db.adjustments,
          (a) => `${a.contractServiceID}@${String(a.effectiveDate).slice(0, 10)}`,
          'adjustment',
        ),
        ...dupes(db.contractCharges.values(), (c) => String(c.purchaseOrderNumber), 'charge'),
      ],
      calm: () => w.at.configure({ faults: {} }),
      faultsInjected: () => Object.values(w.at.faults.injected).reduce((a, b) => a + b, 0),
      close: () => w.close(),
    };
    return tw;
  },
};
