import { type Queue, UnrecoverableError, Worker } from 'bullmq';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { drain } from '../../src/consent/inflight.ts';
import { revokeConsent } from '../../src/consent/revoke.ts';
import { writeLedger } from '../../src/links/ledger.ts';
import type { Link } from '../../src/links/links.ts';
import { putMapping } from '../../src/links/links.ts';
import { readRunHistory, UNLINK_STEPS, type UnlinkStep, unlinkLink } from '../../src/links/unlink.ts';
import { tryLock } from '../../src/queue/lock.ts';
import {
  createSyncQueue,
  enqueueSync,
  queuePrefix,
  scheduleLink,
  schedulerId,
} from '../../src/queue/queues.ts';
import { createUnlinkQueue, enqueueUnlink, recoverUnlinks, unlinkJobId } from '../../src/queue/unlink.ts';
import { readAudit } from '../../src/store/audit.ts';
import { type RunRecord, saveRun } from '../../src/sync/runs.ts';
import { ACCT, admin, consentAndLink, SECRET, SP_KEY, sleep } from '../helpers/lifecycle.ts';
import { dumpPrefix, type TestStore, testStore } from '../helpers/store.ts';

const retry = { attempts: 2, backoffMs: 50 };
const CUSTOMER = 'Van Dijk Installatietechniek';

function run(link: Link, id: string, status: RunRecord['status']): RunRecord {
  return {
    id,
    accountId: ACCT,
    linkId: link.id,
    trigger: 'manual',
    dryRun: false,
    status,
    attempt: 1,
    startedAt: new Date().toISOString(),
    finishedAt: new Date().toISOString(),
    durationMs: 10,
    planned: { adjustUnits: 2 },
    applied: { adjustUnits: 2 },
    apiCalls: { total: 7, byHost: { 'ww1.example': 7 } },
    errors: [{ kind: 'adjustUnits', message: `Company ${CUSTOMER} is inactive` }],
    quarantined: [],
    unmapped: [{ customerId: 'c9', name: CUSTOMER, reason: 'no company' }],
    recon: [
      {
        customerId: 'c1',
        customerName: CUSTOMER,
        productId: 'p1',
        productName: 'Microsoft 365 E3',
        spinpanelSeats: 5,
        targetUnitsBefore: 3,
        targetUnitsAfter: 5,
      },
    ],
  };
}

describe('unlinking a revoked link', () => {
  let t: TestStore;
  let syncQueue: Queue;
  let unlinkQueue: Queue;
  let link: Link;
  let consentId: string;
  const deps = () => ({ store: t.ctx, syncQueue, lockTtlMs: 1000 });
  const job = () => ({ accountId: ACCT, linkId: link.id, cause: 'consent.revoked', owner: 'unlink:test' });
  const linkKeys = async () => {
    const found: string[] = [];
    let cursor = '0';
    do {
      const [next, keys] = await t.ctx.redis.scan(cursor, 'MATCH', `${t.ctx.keys.link(ACCT, link.id)}:*`);
      cursor = next;
      found.push(...keys);
    } while (cursor !== '0');
    return found.sort();
  };

  /** A link with everything an unlink must find: schedule, queued and failed jobs, runs, mapping, caches. */
  async function fullLink() {
    ({
      link,
      consent: { id: consentId },
    } = await consentAndLink(t.ctx));
    // A failed run of the link, kept by BullMQ with the target's words.
    await syncQueue.add('sync', { accountId: ACCT, linkId: link.id, epoch: 1, trigger: 'manual' });
    const failer = new Worker(
      'sync',
      async () => {
        throw new UnrecoverableError(`Company ${CUSTOMER} is inactive`);
      },
      { connection: t.ctx.redis.duplicate(), prefix: queuePrefix(t.prefix) },
    );
    while ((await syncQueue.getFailedCount()) < 1) await sleep(10);
    await failer.close();
    await scheduleLink(syncQueue, link, retry);
    await enqueueSync(syncQueue, link, false, retry);
    await syncQueue.add(
      'sync',
      { accountId: ACCT, linkId: link.id, epoch: 1, trigger: 'manual' },
      { delay: 60_000 },
    );
    // Another account's job must survive.
    await syncQueue.add('sync', { accountId: 'other', linkId: link.id, epoch: 1, trigger: 'manual' });
    await putMapping(t.ctx, admin, ACCT, link.id, { customers: { c1: { companyId: 7 } }, products: {} });
    await saveRun(t.ctx, run(link, 'r1', 'succeeded'));
    await saveRun(t.ctx, run(link, 'r2', 'partial'));
    await saveRun(t.ctx, { ...run(link, 'r3', 'cancelled'), dryRun: true, applied: {} });
    const base = t.ctx.keys.link(ACCT, link.id);
    await t.ctx.redis.set(`${base}:snapshot`, JSON.stringify({ customers: [{ name: CUSTOMER }] }));
    await t.ctx.redis.sadd(`${base}:exclusions`, 'c7');
    // The ownership ledger names what the sync made in the target, by product: it goes with the link.
    await writeLedger(
      t.ctx,
      ACCT,
      link.id,
      [{ kind: 'item', productId: 'Microsoft 365 E3', period: 'month', id: 9 }],
      new Map(),
    );
    expect(await t.ctx.redis.exists(t.ctx.keys.ledger(ACCT, link.id))).toBe(1);
    await t.ctx.redis.zadd(t.ctx.keys.linkSlots(ACCT, link.id, 'companies'), Date.now() + 60_000, 'lease');
    await t.ctx.redis.hset(t.ctx.keys.linkUsage(ACCT, link.id), '123', '4');
    await revokeConsent(t.ctx, admin, ACCT, consentId);
  }

  async function expectForgotten() {
    const status = await t.ctx.redis.hmget(t.ctx.keys.link(ACCT, link.id), 'status', 'unlinkedAt');
    expect(status[0]).toBe('unlinked');
    expect(status[1]).toMatch(/^\d{4}-/);
    expect(await t.ctx.redis.exists(t.ctx.keys.credentials(ACCT, link.id))).toBe(0);
    // Only the run-history counts stay under the link's namespace.
    expect(await linkKeys()).toEqual([t.ctx.keys.runHistory(ACCT, link.id)]);
    for (const id of ['r1', 'r2', 'r3']) expect(await t.ctx.redis.exists(t.ctx.keys.run(ACCT, id))).toBe(0);
    expect(await readRunHistory(t.ctx, ACCT, link.id)).toEqual({
      runs: 3,
      'status.succeeded': 1,
      'status.partial': 1,
      'status.cancelled': 1,
      dryRuns: 1,
      apiCalls: 21,
      'applied.adjustUnits': 4,
    });
    expect(await syncQueue.getJobSchedulers()).toEqual([]);
    const left = await syncQueue.getJobs(['waiting', 'delayed', 'prioritized', 'completed', 'failed']);
    expect(left.map((j) => j.data.accountId)).toEqual(['other']);
    const dump = await dumpPrefix(t.ctx.redis, t.prefix);
    for (const secret of [CUSTOMER, SECRET, SP_KEY, 'Microsoft 365 E3']) expect(dump).not.toContain(secret);
    const unlinked = (await readAudit(t.ctx.redis, t.ctx.keys, ACCT)).filter(
      (e) => e.type === 'link.unlinked',
    );
    expect(unlinked).toHaveLength(1);
    expect(unlinked[0]).toMatchObject({
      subject: { linkId: link.id },
      data: { credentialsDestroyed: true, runsSummarised: 3 },
    });
  }

  beforeEach(async () => {
    t = await testStore();
    syncQueue = createSyncQueue(t.ctx.redis, t.prefix);
    unlinkQueue = createUnlinkQueue(t.ctx.redis, t.prefix);
  });
  afterEach(async () => {
    await syncQueue.close();
    await unlinkQueue.close();
    await t.close();
  });

  it('removes schedule and jobs, deletes credentials and every per-link key, keeps run counts, audits', async () => {
    await fullLink();
    expect(await syncQueue.getJobSchedulers()).toHaveLength(1);
    const report = await unlinkLink(deps(), job());
    expect(report).toMatchObject({
      outcome: 'unlinked',
      schedulerRemoved: true,
      credentialsDestroyed: true,
      runsSummarised: 3,
      finishedJobsRemoved: 1,
    });
    // The waiting job, the delayed one, and the scheduler's next run went with the scheduler.
    expect(report.queuedJobsRemoved).toBe(2);
    expect(report.keysDeleted).toBeGreaterThanOrEqual(5);
    await expectForgotten();
  });

  it.each(UNLINK_STEPS)(
    'a crash right after step "%s" is finished by running the job again',
    async (step) => {
      await fullLink();
      const crash = (s: UnlinkStep) => {
        if (s === step) throw new Error(`killed after ${s}`);
      };
      await expect(unlinkLink(deps(), job(), crash)).rejects.toThrow(`killed after ${step}`);
      // The crashed holder's lock has been released by its finally; a really dead one would lapse by TTL.
      await unlinkLink(deps(), job());
      await expectForgotten();
      // And once more: a finished unlink run again changes nothing.
      await unlinkLink(deps(), job());
      await expectForgotten();
    },
  );

  it('leaves the tokens of requests still on the wire, so a revocation waiting on them is not misled', async () => {
    await fullLink();
    // A request of a run that has already let go of its lock (another branch of it failed at the gate).
    const key = t.ctx.keys.inflight(ACCT, link.id);
    await t.ctx.redis.zadd(key, Date.now() + 60_000, 'still-on-the-wire');
    await unlinkLink(deps(), job());
    expect(await drain(t.ctx.redis, key, 50)).toMatchObject({ inFlight: 1, unconfirmed: 1 });
  });

  it('a crashed pass whose run lock outlived it is finished once that lock lapses', async () => {
    await fullLink();
    await expect(
      unlinkLink(deps(), job(), (s) => {
        if (s === 'runs') throw new Error('killed');
      }),
    ).rejects.toThrow('killed');
    // A killed process releases nothing: its lock (same owner, the job id) stays until its TTL.
    await t.ctx.redis.set(t.ctx.keys.runLock(ACCT, link.id), job().owner, 'PX', 400);
    await unlinkLink(deps(), job());
    await expectForgotten();
  });

  it('waits for a sync still holding the run lock before purging its run history', async () => {
    await fullLink();
    const held = await tryLock(t.ctx.redis, t.ctx.keys.runLock(ACCT, link.id), 'running-sync', 1000);
    const pending = unlinkLink(deps(), job());
    await sleep(300);
    expect(await t.ctx.redis.exists(t.ctx.keys.credentials(ACCT, link.id))).toBe(0);
    expect(await t.ctx.redis.exists(t.ctx.keys.run(ACCT, 'r1'))).toBe(1);
    expect(await t.ctx.redis.hget(t.ctx.keys.link(ACCT, link.id), 'status')).toBe('revoked');
    await held!.release();
    await pending;
    await expectForgotten();
  });

  it('refuses a link that is still active, and leaves an erased link erased', async () => {
    ({ link } = await consentAndLink(t.ctx));
    await expect(unlinkLink(deps(), job())).rejects.toBeInstanceOf(UnrecoverableError);
    expect(await t.ctx.redis.exists(t.ctx.keys.credentials(ACCT, link.id))).toBe(1);
    await t.ctx.redis.del(t.ctx.keys.link(ACCT, link.id));
    expect(await unlinkLink(deps(), job())).toMatchObject({ outcome: 'gone' });
    expect(await t.ctx.redis.exists(t.ctx.keys.link(ACCT, link.id))).toBe(0);
  });

  it('queues one unlink job per link, and a worker start queues the ones a crash left behind', async () => {
    await fullLink();
    const first = await enqueueUnlink(unlinkQueue, {
      accountId: ACCT,
      linkId: link.id,
      cause: 'consent.revoked',
    });
    const again = await enqueueUnlink(unlinkQueue, { accountId: ACCT, linkId: link.id, cause: 'erasure' });
    expect(first.id).toBe(unlinkJobId(link.id));
    expect(again.id).toBe(first.id);
    expect(await unlinkQueue.getWaitingCount()).toBe(1);
    await unlinkQueue.obliterate({ force: true });

    const { link: active } = await consentAndLink(t.ctx, { userName: 'other@msp.example' });
    expect(await recoverUnlinks(t.ctx, unlinkQueue)).toEqual([link.id]);
    expect((await unlinkQueue.getWaiting()).map((j) => j.id)).toEqual([unlinkJobId(link.id)]);
    expect(active.status).toBe('active');
    expect(JSON.stringify((await unlinkQueue.getWaiting())[0]?.data)).not.toContain(SECRET);
  });

  it('never shows the scheduler id of another link as removed', async () => {
    await fullLink();
    expect(schedulerId(ACCT, link.id)).toContain(link.id);
    const other = await consentAndLink(t.ctx, { userName: 'other@msp.example' });
    await scheduleLink(syncQueue, other.link, retry);
    await unlinkLink(deps(), job());
    expect((await syncQueue.getJobSchedulers()).map((s) => s.key)).toEqual([
      schedulerId(ACCT, other.link.id),
    ]);
  });
});
