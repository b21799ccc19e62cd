/**
 * API economy: Autotask calls of a first sync, a no-change resync and a 1% seat change for an account with
 * 50 customers × 40 subscriptions, against the paging minimum and a naive read-each-then-write-each client
 * (both computed from the data). Everything runs in one process against the local sandboxes. Prints JSON.
 *
 *   node --import tsx bench/api-economy.ts          (REDIS_URL as for the tests)
 */

import type { AutotaskRequest } from '../connectors/autotask/sandbox.ts';
import { autotaskUnits, isWrite, serviceNameOf, startWorld, type World } from '../test/helpers/world.ts';

const CUSTOMERS = Number(process.env.BENCH_CUSTOMERS ?? 50);
const SUBSCRIPTIONS = Number(process.env.BENCH_SUBSCRIPTIONS ?? 40);
const PAGE = 500;
const pages = (n: number) => Math.max(1, Math.ceil(n / PAGE));

/** Calls to Autotask between two points, split the way a budget sees them. */
function calls(reqs: AutotaskRequest[]) {
  const writes = reqs.filter(isWrite);
  return {
    total: reqs.length,
    reads: reqs.length - writes.length,
    writes: writes.length,
    byEntity: Object.fromEntries(
      [...new Set(reqs.map((r) => r.entity))]
        .sort()
        .map((e) => [e, reqs.filter((r) => r.entity === e).length]),
    ),
  };
}

/** Units per (customer, service) line as Autotask holds them, found the way an auditor would. */
function lineUnits(w: World): Map<string, number> {
  const out = new Map<string, number>();
  for (const s of w.sp.data.subscriptions) {
    const units = autotaskUnits(w, s.customerId, serviceNameOf(s), w.day());
    if (units !== null) out.set(`${s.customerId}|${serviceNameOf(s)}`, units);
  }
  return out;
}

/**
 * Query requests per entity (each page of the id-walk is one): Companies, Contracts and Services take one query
 * each per run (OR-ed clauses); ContractServices and their units take one query paged as their count needs.
 */
const queriesPerEntity = (reqs: AutotaskRequest[]) =>
  Object.fromEntries(
    [...new Set(reqs.filter((r) => /\/query(\?|$)/i.test(r.path)).map((r) => r.entity))]
      .sort()
      .map((e) => [e, reqs.filter((r) => r.entity === e && /\/query(\?|$)/i.test(r.path)).length]),
  );

async function main() {
  const w = await startWorld({
    spinpanel: { seed: 5, customers: CUSTOMERS, subscriptionsPerCustomer: SUBSCRIPTIONS },
  });
  try {
    const mark = () => w.at.requests.length;
    const spMark = () => w.sp.requests.length;

    // 1. First sync into an empty Autotask.
    let [a, s] = [mark(), spMark()];
    const first = await w.sync();
    const firstCalls = calls(w.at.requests.slice(a));
    const firstSp = w.sp.requests.length - s;
    const lines = lineUnits(w);
    const L = lines.size;
    const C = w.at.db.contracts.size;
    const P = w.at.db.services.size;

    // 2. Nothing changed.
    [a, s] = [mark(), spMark()];
    const resyncStart = a;
    const resync = await w.sync();
    const resyncEnd = mark();
    const resyncCalls = calls(w.at.requests.slice(a));
    const resyncSp = w.sp.requests.length - s;

    // 3. The next day, 1% of the subscriptions change seats (a change the same day as the first sync's would
    // wait for the next day: one adjustment per contract service and day).
    w.advanceDays(1);
    const changedLines = new Set<string>();
    const picked = w.sp.data.subscriptions.filter((sub) => {
      const k = `${sub.customerId}|${serviceNameOf(sub)}`;
      if (
        !lines.has(k) ||
        changedLines.has(k) ||
        changedLines.size >= Math.round(w.sp.data.subscriptions.length / 100)
      )
        return false;
      changedLines.add(k);
      return true;
    });
    picked.forEach((sub, i) => {
      w.sp.setQuantity(sub.id, sub.quantity + (i % 2 === 0 ? 2 : -1));
    });
    [a, s] = [mark(), spMark()];
    const change = await w.sync();
    const changeCalls = calls(w.at.requests.slice(a));
    const after = lineUnits(w);
    const changed = [...after].filter(([k, units]) => lines.get(k) !== units).length;

    // The least any client could do: every page of what the plan needs, and one write per difference.
    const resyncMinimum = pages(C) + pages(C) + pages(P) + pages(L) + pages(L);
    const firstMinimum = { reads: 5, writes: C + P + L + L };
    // A naive client reads each record on its own and writes every line whether or not it changed.
    const naiveResync = { reads: 2 * C + 2 * L, writes: L };
    const naiveFirst = { reads: 2 * C + P + 2 * L, writes: C + P + 2 * L };
    const ratio = (x: number, y: number) => Math.round((x / y) * 100) / 100;

    const out = {
      benchmark: 'api-economy',
      account: {
        customers: CUSTOMERS,
        subscriptions: w.sp.data.subscriptions.length,
        lines: L,
        contracts: C,
        services: P,
      },
      firstSync: {
        status: first.status,
        autotask: firstCalls,
        spinpanelCalls: firstSp,
        minimum: firstMinimum,
        naive: naiveFirst,
        ratioToMinimum: ratio(firstCalls.total, firstMinimum.reads + firstMinimum.writes),
        ratioToNaive: ratio(firstCalls.total, naiveFirst.reads + naiveFirst.writes),
      },
      noChangeResync: {
        status: resync.status,
        autotask: resyncCalls,
        spinpanelCalls: resyncSp,
        pagingMinimum: resyncMinimum,
        readsAboveMinimum: resyncCalls.reads - resyncMinimum,
        queriesPerEntity: queriesPerEntity(w.at.requests.slice(resyncStart, resyncEnd)),
        zoneLookups: resyncCalls.byEntity.zoneInformation ?? 0,
        naive: naiveResync,
        ratioToMinimum: ratio(resyncCalls.total, resyncMinimum),
        ratioToNaive: ratio(resyncCalls.total, naiveResync.reads + naiveResync.writes),
        targetMet:
          resyncCalls.writes === 0 &&
          resyncCalls.reads - resyncMinimum <= 5 &&
          ['Companies', 'Contracts', 'Services'].every(
            (e) => queriesPerEntity(w.at.requests.slice(resyncStart, resyncEnd))[e] === 1,
          ),
      },
      onePercentChange: {
        status: change.status,
        subscriptionsChanged: picked.length,
        linesChanged: changed,
        autotask: changeCalls,
        writesPerChange: ratio(changeCalls.writes, changed),
        naive: naiveResync,
        ratioToMinimum: ratio(changeCalls.total, resyncMinimum + changed),
        ratioToNaive: ratio(changeCalls.total, naiveResync.reads + naiveResync.writes),
        targetMet: changeCalls.writes === changed,
      },
      definitions: {
        pagingMinimum:
          'one page per 500 records of Companies, Contracts, Services, ContractServices and ContractServiceUnits',
        firstSyncMinimum:
          'those 5 pages of an empty database, then one write per contract, service, contract service and adjustment',
        naive:
          'per customer a company and a contract read, per line a contract-service and a units read and a write (first sync: creates too)',
        aboveMinimum:
          'the ThresholdInformation reads that start and end each run (the run record shows the budget), the Services periodType metadata (values differ per instance), the zone lookup of the first run only (cached per link)',
      },
    };
    process.stdout.write(`${JSON.stringify(out, null, 2)}\n`);
  } finally {
    await w.close();
  }
}

await main();
