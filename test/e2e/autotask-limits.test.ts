import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import axios from 'axios';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { AutotaskClient } from '../../connectors/autotask/client.ts';
import { type AutotaskSandbox, startAutotaskSandbox } from '../../connectors/autotask/sandbox.ts';
import { isBudgetExhausted } from '../../connectors/types.ts';
import { getRun } from '../../src/sync/runs.ts';
import { freshPrefix, REDIS_URL } from '../helpers/store.ts';
import {
  AUTOTASK_CREDENTIALS,
  admin,
  autotaskUnits,
  expectedSeats,
  isWrite,
  startWorld,
  type World,
} from '../helpers/world.ts';

const run = promisify(execFile);

let sandboxes: AutotaskSandbox[] = [];
let w: World | undefined;
afterEach(async () => {
  await Promise.all(sandboxes.map((s) => s.close()));
  sandboxes = [];
  await w?.close();
  w = undefined;
});

async function sandbox(opts: Parameters<typeof startAutotaskSandbox>[0] = {}) {
  const sb = await startAutotaskSandbox({ companies: [{ companyName: 'Contoso' }], ...opts });
  sandboxes.push(sb);
  return sb;
}

const waitFor = async (cond: () => Promise<boolean>, timeoutMs = 20_000) => {
  const end = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error('timed out waiting for condition');
    await new Promise((r) => setTimeout(r, 25));
  }
};

describe('Autotask limits across processes', () => {
  /** Two worker processes, each firing 30 queries at once at one endpoint of one link. */
  async function hammer(sb: AutotaskSandbox, shared: boolean) {
    const input = {
      redisUrl: REDIS_URL,
      prefix: freshPrefix(),
      zoneLookupUrl: sb.zoneLookupUrl,
      credentials: AUTOTASK_CREDENTIALS,
      n: 30,
      shared,
    };
    // Both processes get ready (tsx start-up takes a while), then start firing together.
    const redis = new Redis(REDIS_URL);
    const go = async () => {
      await waitFor(async () => Number(await redis.get(`${input.prefix}:ready`)) === 2, 30_000);
      await redis.set(`${input.prefix}:go`, '1', 'PX', 60_000);
    };
    const child = () =>
      run(process.execPath, ['--import', 'tsx', 'test/helpers/hammer.ts'], {
        env: { ...process.env, HAMMER: JSON.stringify(input) },
        timeout: 30_000,
      });
    try {
      const [outputs] = await Promise.all([Promise.all([child(), child()]), go()]);
      return outputs.map((o) => JSON.parse(o.stdout) as { ok: number });
    } finally {
      await redis.del(`${input.prefix}:ready`, `${input.prefix}:go`);
      redis.disconnect();
    }
  }

  it('never lets a 4th request onto an endpoint: zero thread-limit refusals (and many without sharing)', async () => {
    const sb = await sandbox({ latencyMs: 40, threadLimit: 3 });
    const shared = await hammer(sb, true);
    expect(shared).toEqual([{ ok: 30 }, { ok: 30 }]);
    const queries = sb.requests.filter((r) => r.entity === 'Companies');
    expect(queries).toHaveLength(60);
    expect(queries.filter((r) => r.status === 429)).toEqual([]);

    // The control: each process on its own keeps to 3, so together they hit Autotask's limit.
    sb.requests.length = 0;
    const alone = await hammer(sb, false);
    expect(alone).toEqual([{ ok: 30 }, { ok: 30 }]); // the client waited those refusals out
    expect(sb.requests.filter((r) => r.status === 429).length).toBeGreaterThan(0);
  }, 60_000);
});

describe('Autotask hourly budget', () => {
  it('spaces requests once the database is at half its budget and stops before the reserve', async () => {
    const sb = await sandbox({ requestThreshold: 100, budgetLatencyMs: { from50: 0, from75: 0 } });
    sb.useBudget(55); // other integrations
    const client = new AutotaskClient({
      http: axios.create({ timeout: 5_000 }),
      credentials: AUTOTASK_CREDENTIALS,
      zoneLookupUrl: sb.zoneLookupUrl,
      budget: { reserve: 0.1, spacingMs: 40 },
    });
    await Promise.all(Array.from({ length: 6 }, () => client.queryPage('Companies', [], { maxRecords: 1 })));
    const seen = sb.requests.filter((r) => r.entity !== 'zoneInformation');
    expect(seen.map((r) => r.entity)).toEqual(['ThresholdInformation', ...Array(6).fill('Companies')]);
    // Five gaps of 40 ms (arrival times jitter by a few ms with connection set-up).
    const at = seen.slice(1).map((r) => r.at);
    for (let i = 1; i < at.length; i++) expect(at[i]! - at[i - 1]!).toBeGreaterThanOrEqual(25);
    expect(at.at(-1)! - at[0]!).toBeGreaterThanOrEqual(190);

    sb.useBudget(27); // with the next run's ThresholdInformation read, 90 of 100: the 10% reserve
    sb.requests.length = 0;
    const nextRun = new AutotaskClient({
      http: axios.create({ timeout: 5_000 }),
      credentials: AUTOTASK_CREDENTIALS,
      zoneLookupUrl: sb.zoneLookupUrl,
      zoneUrl: await client.zoneUrl(),
      budget: { reserve: 0.1, spacingMs: 40 },
    });
    const err = await nextRun.queryPage('Companies', []).catch((e) => e);
    expect(isBudgetExhausted(err)).toBe(true);
    expect(err.retryAt).toBeGreaterThan(Date.now());
    // It read the budget and sent nothing else.
    expect(sb.requests.map((r) => r.entity)).toEqual(['ThresholdInformation']);
  });

  it('a run logs its Autotask requests in the link’s shared Redis log and leaves no thread slot held', async () => {
    w = await startWorld({ spinpanel: { customers: 2, subscriptionsPerCustomer: 2 } });
    const before = w.at.requests.length; // linking verified the credentials outside any run
    const run = await w.sync();
    expect(run.status).toBe('succeeded');
    const sent = w.at.requests.slice(before).filter((r) => r.entity !== 'zoneInformation').length;
    const { redis, keys } = w.app.store;
    const log = await redis.hgetall(keys.linkUsage(w.accountId, w.link.id));
    expect(Object.values(log).reduce((n, v) => n + Number(v), 0)).toBe(sent);
    const slots = await redis.keys(keys.linkSlots(w.accountId, w.link.id, '*'));
    for (const key of slots) expect(await redis.zcard(key)).toBe(0);
  });

  it('a run that meets the spent budget is deferred, not failed, and resumes to the exact state', async () => {
    w = await startWorld({
      worker: true,
      env: { AUTOTASK_BUDGET_SPACING_MS: '2' },
      autotask: { budgetLatencyMs: { from50: 0, from75: 0 } },
      spinpanel: { customers: 3, subscriptionsPerCustomer: 3 },
    });
    // Room for the reads and a few writes, not for the whole first sync.
    const used = w.at.requests.filter((r) => r.entity !== 'zoneInformation').length;
    w.at.configure({ requestThreshold: used + 30 });
    const { runId } = await w.app.services.syncNow(admin, w.accountId, w.link.id, { dryRun: false });
    await waitFor(
      async () =>
        (await getRun(w!.app.store, w!.accountId, w!.link.id, runId).catch(() => null))?.status ===
        'deferred',
    );
    const deferred = await getRun(w.app.store, w.accountId, w.link.id, runId);
    expect(deferred.errors.at(-1)).toMatchObject({
      kind: 'deferred',
      message: expect.stringMatching(/hourly request budget/),
    });
    const job = (await w.app.queue.getJob(runId))!;
    await waitFor(async () => (await job.getState()) === 'delayed');
    expect((await w.app.queue.getJob(runId))!.attemptsMade).toBe(0); // no attempt spent
    const writesBefore = w.at.requests.filter(isWrite).length;
    expect(writesBefore).toBeGreaterThan(0);
    expect(w.at.requests.filter((r) => r.status === 429)).toEqual([]); // we stopped before Autotask had to refuse
    // The record shows the budget it stopped at, without spending a request on one more look.
    expect(deferred.targetBudget).toMatchObject({ threshold: used + 30, usedAtEndEstimated: true });
    expect(deferred.targetBudget!.usedAtEnd).toBeGreaterThanOrEqual(Math.floor((used + 30) * 0.9)); // the reserve
    expect(w.at.requests.at(-1)?.entity).not.toBe('ThresholdInformation');

    // The window has room again: the same job resumes and finishes the sync.
    w.at.configure({ requestThreshold: 10_000 });
    await job.promote();
    await waitFor(
      async () => (await getRun(w!.app.store, w!.accountId, w!.link.id, runId)).status === 'succeeded',
    );
    for (const [k, seats] of expectedSeats(w)) {
      const [customerId, serviceName] = k.split('|') as [string, string];
      expect(autotaskUnits(w, customerId, serviceName), k).toBe(seats);
    }
    expect(w.at.db.contracts.size).toBe(3);
  });
});
