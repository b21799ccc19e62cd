/**
 * Write throughput against Autotask's thread cap: with 100 ms of latency per request, 3 threads per endpoint
 * allow at most 30 writes a second on one endpoint. Every line of an account changes seats, so the sync posts
 * one ContractServiceAdjustment per line; the rate is measured from the sandbox's arrival times. The same
 * scenario runs with operations applied one by one (SYNC_APPLY_CONCURRENCY=1) in the same process, side by
 * side. Prints JSON.
 *
 *   node --import tsx bench/throughput.ts           (REDIS_URL as for the tests)
 */
import { addDays } from '../connectors/autotask/mappers.ts';
import { startWorld } from '../test/helpers/world.ts';

const LATENCY_MS = Number(process.env.BENCH_LATENCY_MS ?? 100);
const THREADS = 3;
const CAP = (THREADS * 1000) / LATENCY_MS;

async function measure(customers: number, concurrency: number) {
  const w = await startWorld({
    spinpanel: { seed: 9, customers, subscriptionsPerCustomer: 12 },
    // The budget is another benchmark's subject: a large threshold keeps its pacing out of this one.
    autotask: { requestThreshold: 1_000_000 },
    env: { SYNC_APPLY_CONCURRENCY: String(concurrency) },
  });
  try {
    const first = await w.sync();
    if (first.status !== 'succeeded') throw new Error(`first sync ${first.status}`);
    // As if the first sync ran yesterday: one adjustment per contract service and day is Autotask's rule.
    for (const adj of w.at.db.adjustments)
      adj.effectiveDate = `${addDays(String(adj.effectiveDate).slice(0, 10), -1)}T00:00:00Z`;
    for (const sub of w.sp.data.subscriptions) w.sp.setQuantity(sub.id, sub.quantity + 1);
    w.at.configure({ latencyMs: LATENCY_MS });
    const from = w.at.requests.length;
    const run = await w.sync();
    const reqs = w.at.requests.slice(from);
    const posts = reqs.filter((r) => r.entity === 'ContractServiceAdjustments' && r.method === 'POST');
    const refused = reqs.filter((r) => r.status === 429).length;
    const span = (posts.at(-1)!.at - posts[0]!.at) / 1000;
    const rate = (posts.length - 1) / span;
    return {
      concurrency,
      status: run.status,
      adjustments: posts.length,
      threadLimitRefusals: refused,
      seconds: Math.round(span * 100) / 100,
      writesPerSecond: Math.round(rate * 10) / 10,
      ratioToCap: Math.round((rate / CAP) * 1000) / 1000,
    };
  } finally {
    await w.close();
  }
}

const concurrent = await measure(Number(process.env.BENCH_CUSTOMERS ?? 50), 6);
const oneByOne = await measure(5, 1);
process.stdout.write(
  `${JSON.stringify(
    {
      benchmark: 'throughput',
      latencyMs: LATENCY_MS,
      threadsPerEndpoint: THREADS,
      capWritesPerSecond: CAP,
      concurrent,
      oneByOne,
      speedup: Math.round((concurrent.writesPerSecond / oneByOne.writesPerSecond) * 100) / 100,
      targetMet: concurrent.ratioToCap >= 0.9,
    },
    null,
    2,
  )}\n`,
);
