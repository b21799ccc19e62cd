/**
 * Run-record size: Redis bytes (`MEMORY USAGE`) of one run's record with 600 reconciliation lines (50 customers ×
 * 12 products, names and ids as the SpinPanel seed makes them, Autotask-shaped lines), in full detail (the
 * link's last RUN_FULL_DETAIL_RUNS runs) and trimmed to its changed and failed lines (older runs), for a few
 * shares of changed lines. The records are saved through `saveRun` itself on a fresh key prefix of the Redis at
 * REDIS_URL, which is deleted afterwards. Prints JSON.
 *
 *   node --import tsx bench/run-record-bytes.ts          (REDIS_URL as for the tests)
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { ReconLine } from '../connectors/types.ts';
import { Vault } from '../src/links/vault.ts';
import { generateData } from '../src/spinpanel/seed.ts';
import type { StoreContext } from '../src/store/context.ts';
import { createKeys } from '../src/store/keys.ts';
import { listRuns, type RunRecord, saveRun } from '../src/sync/runs.ts';

const CUSTOMERS = 50;
const PRODUCTS = 12;
/** Changed lines per record: none (a quiet day), 1%, 5%, 20%, and every line (a first sync). */
const CHANGED = [0, 6, 30, 120, 600];
/** Of the changed lines, this share failed (they are kept on a trimmed record too). */
const FAILED_SHARE = 0.1;

function recon(changed: number): ReconLine[] {
  const data = generateData({ seed: 7, customers: CUSTOMERS, subscriptionsPerCustomer: PRODUCTS });
  const company = new Map(data.customers.map((c, i) => [c.id, { id: 29_680_000 + i, name: c.name }]));
  const names = new Map(data.customers.map((c) => [c.id, c.name]));
  const failed = Math.round(changed * FAILED_SHARE);
  return data.subscriptions.map((s, i): ReconLine => {
    const price = Number(s.unitPrice.amount);
    const base = {
      customerId: s.customerId,
      customerName: names.get(s.customerId) ?? '',
      productId: s.productId,
      productName: s.productName,
      spinpanelSeats: s.quantity,
      targetCompany: company.get(s.customerId)!,
      unitPriceBefore: price,
      unitPriceAfter: price,
    };
    if (i >= changed) {
      return { ...base, targetUnitsBefore: s.quantity, targetUnitsAfter: s.quantity, action: 'unchanged' };
    }
    const before = Math.max(0, s.quantity - 2);
    return {
      ...base,
      targetUnitsBefore: before,
      targetUnitsAfter: i < failed ? before : s.quantity,
      action: 'increase',
      opKeys: [`adjust:${s.customerId}:${s.productId}`],
      outcome: i < failed ? 'failed' : 'applied',
    };
  });
}

function record(id: string, linkId: string, lines: ReconLine[], at: number): RunRecord {
  const changed = lines.filter((l) => l.action !== 'unchanged');
  const failed = lines.filter((l) => l.outcome === 'failed');
  return {
    id,
    accountId: 'bench',
    linkId,
    trigger: 'schedule',
    dryRun: false,
    status: failed.length > 0 ? 'partial' : 'succeeded',
    attempt: 1,
    startedAt: new Date(at).toISOString(),
    finishedAt: new Date(at + 9_000).toISOString(),
    durationMs: 9_000,
    planned: changed.length > 0 ? { adjustUnits: changed.length } : {},
    applied: changed.length > failed.length ? { adjustUnits: changed.length - failed.length } : {},
    apiCalls: {
      total: 12 + changed.length,
      byHost: { 'api.spinpanel.example': 6, 'webservices2.autotask.net': 6 },
    },
    targetBudget: {
      threshold: 10_000,
      timeframeMinutes: 60,
      usedAtStart: 1_234,
      usedAtEnd: 1_246 + changed.length,
      requestsThisRun: 12 + changed.length,
    },
    errors: failed.map((l) => ({
      opKey: l.opKeys?.[0],
      kind: 'adjustUnits',
      message: 'Autotask refused the adjustment: the contract service is not active on the effective date',
    })),
    quarantined: [],
    unmapped: [],
    recon: lines,
  };
}

async function main() {
  const redis = new Redis(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379', { maxRetriesPerRequest: null });
  const prefix = `bench${randomBytes(4).toString('hex')}`;
  const ctx: StoreContext = {
    redis,
    keys: createKeys(prefix),
    vault: new Vault([{ id: 'k1', key: randomBytes(32) }]),
    now: () => new Date(),
  };
  const bytes = async (id: string) =>
    Number(await redis.call('MEMORY', 'USAGE', ctx.keys.run('bench', id), 'SAMPLES', '0'));
  try {
    const rows = [];
    for (const changed of CHANGED) {
      const linkId = `link-${changed}`;
      const lines = recon(changed);
      const now = Date.now();
      // Two runs of one link with one full-detail run kept: the older is trimmed as the newer is saved.
      await saveRun(ctx, record('older', linkId, lines, now - 60_000), { fullDetailRuns: 1 });
      await saveRun(ctx, record('newer', linkId, lines, now), { fullDetailRuns: 1 });
      const [newer, older] = await listRuns(ctx, 'bench', linkId);
      if (newer?.detail !== 'full' || older?.detail !== 'changes') throw new Error('trimming did not happen');
      const full = await bytes('newer');
      const trimmed = await bytes('older');
      rows.push({
        lines: lines.length,
        changed,
        failed: Math.round(changed * FAILED_SHARE),
        fullDetailBytes: full,
        trimmedBytes: trimmed,
        trimmedLinesKept: older.recon.length,
        jsonBytes: {
          full: Buffer.byteLength((await redis.get(ctx.keys.run('bench', 'newer'))) ?? ''),
          trimmed: Buffer.byteLength((await redis.get(ctx.keys.run('bench', 'older'))) ?? ''),
        },
      });
      await redis.del(ctx.keys.run('bench', 'older'), ctx.keys.run('bench', 'newer'));
    }
    // One entry of a link's run index (sorted set), per run.
    const indexKey = ctx.keys.runs('bench', 'index');
    const ids = Array.from({ length: 1000 }, (_, i) => `${randomBytes(16).toString('hex')}.${i % 3}`);
    await redis.zadd(indexKey, ...ids.flatMap((id, i) => [Date.now() - i, id]));
    const indexBytesPerRun = Math.round(
      Number(await redis.call('MEMORY', 'USAGE', indexKey, 'SAMPLES', '0')) / ids.length,
    );
    const quiet = rows.find((r) => r.changed === 6)!;
    process.stdout.write(
      `${JSON.stringify(
        {
          benchmark: 'run-record-bytes',
          account: { customers: CUSTOMERS, productsPerCustomer: PRODUCTS, lines: CUSTOMERS * PRODUCTS },
          failedShareOfChanged: FAILED_SHARE,
          records: rows,
          indexBytesPerRun,
          // A link synced hourly keeps 90 days of runs: the last 10 in full, the rest trimmed (1% changed each).
          hourlyFor90DaysBytes:
            10 * quiet.fullDetailBytes + (90 * 24 - 10) * quiet.trimmedBytes + 90 * 24 * indexBytesPerRun,
          untrimmedHourlyFor90DaysBytes: 90 * 24 * (quiet.fullDetailBytes + indexBytesPerRun),
        },
        null,
        2,
      )}\n`,
    );
  } finally {
    let cursor = '0';
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
      cursor = next;
      if (keys.length > 0) await redis.del(...keys);
    } while (cursor !== '0');
    redis.disconnect();
  }
}

await main();
