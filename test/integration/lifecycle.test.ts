import type { AxiosInstance } from 'axios';
import type { Queue, Worker } from 'bullmq';
import pino from 'pino';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { Connector } from '../../connectors/types.ts';
import { type Actor, grantConsent } from '../../src/consent/consents.ts';
import { Gate } from '../../src/consent/gate.ts';
import { createLifecycleServices } from '../../src/consent/lifecycle.ts';
import { revokeConsent } from '../../src/consent/revoke.ts';
import {
  type CreateLinkDeps,
  createLink,
  getLink,
  getMapping,
  type Link,
  readSecrets,
} from '../../src/links/links.ts';
import { createSyncQueue, enqueueSync, scheduleLink, schedulerId } from '../../src/queue/queues.ts';
import { createUnlinkQueue, createUnlinkWorker } from '../../src/queue/unlink.ts';
import { createSyncWorker } from '../../src/queue/worker.ts';
import { type SpinPanelSandbox, startSpinPanelSandbox } from '../../src/spinpanel/sandbox.ts';
import { readAudit } from '../../src/store/audit.ts';
import { getRun, listRuns, saveRun } from '../../src/sync/runs.ts';
import {
  ACCT,
  admin,
  consentAndLink,
  fakeDeps,
  type HeldServer,
  heldServer,
  SP_KEY,
  waitFor,
} from '../helpers/lifecycle.ts';
import { type TestStore, testStore } from '../helpers/store.ts';

const retry = { attempts: 3, backoffMs: 50 };
const user: Actor = { userId: 'user-7', role: 'user' };
const operator: Actor = { userId: 'ops-1', role: 'operator' };
const reseller: Actor = { userId: 'res-1', role: 'reseller' };

describe('revocation, suspension and relinking', () => {
  let t: TestStore;
  let sp: SpinPanelSandbox;
  let target: HeldServer;
  let syncQueue: Queue;
  let unlinkQueue: Queue;
  const workers: Worker[] = [];
  let link: Link;
  let consentId: string;
  /** What the fake connector is doing, so a test can revoke at a known moment. */
  const seen = { reading: 0, aborted: 0 };
  let lifecycle: ReturnType<typeof createLifecycleServices>;

  /** A connector whose readState makes one request through the gate, then waits on the run's signal. */
  const connector = (http: AxiosInstance, signal?: AbortSignal) =>
    ({
      kind: 'autotask',
      verify: async () => ({ displayName: 'x' }),
      async readState() {
        seen.reading++;
        await http.get(`${target.url}/read`);
        await new Promise((resolve, reject) => {
          const stop = () => {
            clearTimeout(timer);
            seen.aborted++;
            reject(signal?.reason);
          };
          const timer = setTimeout(resolve, 20_000);
          if (signal?.aborted) stop();
          else signal?.addEventListener('abort', stop);
        });
        return {};
      },
      plan: () => ({ ops: [], unmapped: [], recon: [] }),
      apply: async () => null,
      classify: (e: unknown) => ({ kind: 'permanent', message: String(e) }),
    }) as Connector;

  const startSyncWorker = () => {
    const w = createSyncWorker({
      connection: t.ctx.redis.duplicate(),
      prefix: t.prefix,
      concurrency: 2,
      engine: {
        store: t.ctx,
        gate: new Gate(t.ctx.redis, t.ctx.keys),
        spinpanelUrl: sp.url,
        httpTimeoutMs: 5000,
        makeConnector: (_l, _s, http, signal) => connector(http, signal),
      },
      logger: pino({ level: process.env.DBG ? 'debug' : 'silent' }),
    });
    workers.push(w);
    return w;
  };

  beforeEach(async () => {
    t = await testStore();
    sp = await startSpinPanelSandbox({
      customers: 2,
      subscriptionsPerCustomer: 1,
      apiKey: SP_KEY,
      accountId: ACCT,
    });
    target = await heldServer();
    syncQueue = createSyncQueue(t.ctx.redis, t.prefix);
    unlinkQueue = createUnlinkQueue(t.ctx.redis, t.prefix);
    lifecycle = createLifecycleServices({ store: t.ctx, syncQueue, unlinkQueue, retry, waitMs: 5000 });
    Object.assign(seen, { reading: 0, aborted: 0 });
    ({
      link,
      consent: { id: consentId },
    } = await consentAndLink(t.ctx));
    await scheduleLink(syncQueue, link, retry);
  });
  afterEach(async () => {
    await Promise.all(workers.splice(0).map((w) => w.close()));
    await syncQueue.close();
    await unlinkQueue.close();
    await target.close();
    await sp.close();
    await t.close();
  });

  describe('revoke', () => {
    it('answers after the request on the wire was answered, and cancels the run in whichever worker has it', async () => {
      const [a, b] = [startSyncWorker(), startSyncWorker()];
      await Promise.all([a.cancelReady, b.cancelReady]);
      target.set({ delayMs: 300 });
      const job = await enqueueSync(syncQueue, link, false, retry);
      await waitFor(() => target.log.length === 1);
      const answer = await lifecycle.revokeConsent(admin, ACCT, consentId);
      const answeredAt = Date.now();
      // The one request on the wire was answered before the revocation was.
      expect(target.log[0]!.answered).toBeLessThanOrEqual(answeredAt);
      expect(answer.confirmed).toBe(true);
      expect(answer.stopped).toEqual([
        expect.objectContaining({
          linkId: link.id,
          runningSyncs: 1,
          workersNotified: 2,
          inFlight: expect.objectContaining({ inFlight: 1, finished: 1, unconfirmed: 0 }),
        }),
      ]);
      expect(answer.unscheduled).toEqual([link.id]);
      expect(answer.unlink).toEqual([{ linkId: link.id, jobId: `unlink.${link.id}`, state: 'queued' }]);
      // The connector sits in a 20 s wait after its request: only the cancel message ends it this soon.
      await waitFor(async () => (await job.getState()) === 'failed', 3000);
      expect(seen.aborted).toBe(1);
      const run = await getRun(t.ctx, ACCT, link.id, job.id!);
      expect(run.status).toBe('cancelled');
      expect(run.errors.at(-1)?.message).toMatch(/the link is revoked/);
      expect(target.log).toHaveLength(1);
    });

    it('says so when a request on the wire outlives the wait', async () => {
      startSyncWorker();
      lifecycle = createLifecycleServices({ store: t.ctx, syncQueue, unlinkQueue, retry, waitMs: 100 });
      target.set({ delayMs: 1500 });
      await enqueueSync(syncQueue, link, false, retry);
      await waitFor(() => target.log.length === 1);
      const answer = await lifecycle.revokeConsent(admin, ACCT, consentId);
      expect(answer.confirmed).toBe(false);
      expect(answer.stopped[0]?.inFlight).toMatchObject({ inFlight: 1, unconfirmed: 1 });
    });

    it('waits for the credentials check of a link being made under the consent, and refuses that link', async () => {
      const gate = new Gate(t.ctx.redis, t.ctx.keys);
      const checking: CreateLinkDeps = {
        ...fakeDeps,
        verify: async (_t, _c, _s, under) => {
          const http = gate.verifyClient(under.accountId, under.consentId, { timeoutMs: 5000 });
          await http.get(`${target.url}/verify`);
          return { displayName: 'checked' };
        },
      };
      target.set({ delayMs: 300 });
      const making = createLink(t.ctx, checking, admin, ACCT, {
        target: 'autotask',
        consentId,
        credentials: { userName: 'new@msp.example', secret: 's', integrationCode: 'X' },
        spinpanelApiKey: SP_KEY,
        settings: {},
      }).catch((e: unknown) => e);
      await waitFor(() => target.log.length === 1);
      const answer = await lifecycle.revokeConsent(admin, ACCT, consentId);
      expect(target.log[0]!.answered).toBeLessThanOrEqual(Date.now());
      expect(answer.linking).toMatchObject({ inFlight: 1, finished: 1, unconfirmed: 0 });
      expect(answer.confirmed).toBe(true);
      expect(await making).toMatchObject({ code: 'consent_required', message: /revoked while the link/ });
      // A check that starts after the revocation does not leave.
      const late = gate.verifyClient(ACCT, consentId, { timeoutMs: 5000 }).get(`${target.url}/late`);
      await expect(late).rejects.toThrow(/consent is revoked/);
      expect(target.log).toHaveLength(1);
    });

    it('asked again after a crash before its unlink jobs were queued, queues them', async () => {
      // The revocation's MULTI alone: as if the process died right after it.
      await revokeConsent(t.ctx, admin, ACCT, consentId);
      expect(await unlinkQueue.getJob(`unlink.${link.id}`)).toBeUndefined();
      await expect(lifecycle.revokeConsent(admin, ACCT, consentId)).rejects.toMatchObject({
        status: 409,
        code: 'already_revoked',
      });
      expect(await (await unlinkQueue.getJob(`unlink.${link.id}`))?.getState()).toBe('waiting');
    });

    it('a schedule written while the revocation committed is taken back', async () => {
      await lifecycle.suspendLink(admin, ACCT, link.id);
      // The revocation commits and removes the schedule between the resume's read and its schedule write.
      const upsert = syncQueue.upsertJobScheduler.bind(syncQueue);
      Object.assign(syncQueue, {
        upsertJobScheduler: async (...args: Parameters<typeof upsert>) => {
          Object.assign(syncQueue, { upsertJobScheduler: upsert });
          await lifecycle.revokeConsent(admin, ACCT, consentId);
          return upsert(...args);
        },
      });
      await lifecycle.resumeLink(admin, ACCT, link.id);
      expect((await getLink(t.ctx, ACCT, link.id)).status).toBe('revoked');
      expect(await syncQueue.getJobSchedulers()).toEqual([]);
    });

    it('a mapping written while the link was unlinked is not left behind', async () => {
      const linkKey = t.ctx.keys.link(ACCT, link.id);
      const set = t.ctx.redis.set.bind(t.ctx.redis);
      Object.assign(t.ctx.redis, {
        // The unlink purges between the status check and the write.
        set: async (...args: Parameters<typeof set>) => {
          Object.assign(t.ctx.redis, { set });
          await t.ctx.redis.hset(linkKey, 'status', 'unlinked');
          return set(...args);
        },
      });
      const put = lifecycle.putMapping(admin, ACCT, link.id, {
        customers: { c1: { companyId: 3 } },
        products: {},
      });
      await expect(put).rejects.toMatchObject({ status: 409, code: 'link_closed' });
      expect(await t.ctx.redis.exists(t.ctx.keys.mapping(ACCT, link.id))).toBe(0);
    });

    it('with waitForUnlink, answers once the unlink job has forgotten the link', async () => {
      const unlinker = createUnlinkWorker({
        connection: t.ctx.redis.duplicate(),
        prefix: t.prefix,
        deps: { store: t.ctx, syncQueue, lockTtlMs: 1000 },
        logger: pino({ level: 'silent' }),
      });
      workers.push(unlinker);
      const answer = await lifecycle.revokeConsent(admin, ACCT, consentId, { waitForUnlink: true });
      expect(answer.unlink[0]).toMatchObject({
        state: 'completed',
        report: { outcome: 'unlinked', credentialsDestroyed: true, schedulerRemoved: false },
      });
      expect((await getLink(t.ctx, ACCT, link.id)).status).toBe('unlinked');
      await expect(readSecrets(t.ctx, ACCT, link.id)).rejects.toThrow(/no stored credentials/);
    });
  });

  describe('suspend and resume', () => {
    it('is for admins and resellers only', async () => {
      for (const who of [user, operator]) {
        await expect(lifecycle.suspendLink(who, ACCT, link.id)).rejects.toMatchObject({ status: 403 });
      }
      await lifecycle.suspendLink(reseller, ACCT, link.id);
      await expect(lifecycle.resumeLink(user, ACCT, link.id)).rejects.toMatchObject({ status: 403 });
    });

    it('suspend closes the gate, cancels the run and the schedule, and deletes nothing', async () => {
      const w = startSyncWorker();
      await w.cancelReady;
      await lifecycle.putMapping(admin, ACCT, link.id, { customers: { c1: { companyId: 3 } }, products: {} });
      const running = await enqueueSync(syncQueue, link, false, retry);
      await waitFor(() => seen.reading === 1 && target.log[0]?.answered !== undefined);
      const queued = await syncQueue.add(
        'sync',
        { accountId: ACCT, linkId: link.id, epoch: link.epoch, trigger: 'manual' },
        { delay: 60_000 },
      );
      const answer = await lifecycle.suspendLink(admin, ACCT, link.id);
      expect(answer.link).toMatchObject({ status: 'suspended', epoch: link.epoch + 1 });
      expect(answer).toMatchObject({ unscheduled: true, queuedJobsRemoved: 1, confirmed: true });
      expect(answer.stopped).toMatchObject({ runningSyncs: 1, inFlight: { unconfirmed: 0 } });
      await waitFor(async () => (await running.getState()) === 'failed', 3000);
      expect((await getRun(t.ctx, ACCT, link.id, running.id!)).errors.at(-1)?.message).toMatch(/suspended/);
      expect(await syncQueue.getJob(queued.id!)).toBeUndefined();
      // Kept: credentials, mapping, run history.
      expect((await readSecrets(t.ctx, ACCT, link.id)).spinpanelApiKey).toBe(SP_KEY);
      expect((await getMapping(t.ctx, ACCT, link.id)).customers).toEqual({ c1: { companyId: 3 } });
      expect(await listRuns(t.ctx, ACCT, link.id)).toHaveLength(1);
      await expect(lifecycle.suspendLink(admin, ACCT, link.id)).rejects.toMatchObject({
        status: 409,
        code: 'link_suspended',
      });
      // A job carrying the old epoch is refused at the gate.
      await expect(
        new Gate(t.ctx.redis, t.ctx.keys).assertOpen({ accountId: ACCT, linkId: link.id, epoch: link.epoch }),
      ).rejects.toThrow(/suspended/);
    });

    it('resume re-opens under a new epoch and schedules again; both are audited', async () => {
      await lifecycle.suspendLink(admin, ACCT, link.id);
      expect(await syncQueue.getJobSchedulers()).toEqual([]);
      const resumed = await lifecycle.resumeLink(admin, ACCT, link.id);
      expect(resumed).toMatchObject({ status: 'active', epoch: link.epoch + 2 });
      const [scheduler] = await syncQueue.getJobSchedulers();
      expect(scheduler?.key).toBe(schedulerId(ACCT, link.id));
      expect(scheduler?.template?.data).toMatchObject({ epoch: link.epoch + 2 });
      const types = (await readAudit(t.ctx.redis, t.ctx.keys, ACCT)).map((e) => e.type);
      expect(types.slice(-2)).toEqual(['link.suspended', 'link.resumed']);
      await expect(lifecycle.resumeLink(admin, ACCT, link.id)).rejects.toMatchObject({ code: 'link_active' });
    });

    it('revoking a suspended link closes it for good: it cannot be resumed', async () => {
      await lifecycle.suspendLink(admin, ACCT, link.id);
      const answer = await lifecycle.revokeConsent(admin, ACCT, consentId);
      expect(answer.closedLinkIds).toEqual([link.id]);
      await expect(lifecycle.resumeLink(admin, ACCT, link.id)).rejects.toThrow(/needs a new consent/);
    });
  });

  describe('relinking', () => {
    const body = (userName: string, consent?: string) => ({
      target: 'autotask' as const,
      ...(consent ? { consentId: consent } : {}),
      credentials: { userName, secret: 's', integrationCode: 'X' },
      spinpanelApiKey: SP_KEY,
      settings: {},
    });

    it('needs a new consent: a revoked one cannot carry a link again', async () => {
      await lifecycle.revokeConsent(admin, ACCT, consentId);
      await expect(
        createLink(t.ctx, fakeDeps, admin, ACCT, body('api@msp.example', consentId)),
      ).rejects.toThrow(/is revoked/);
      await expect(createLink(t.ctx, fakeDeps, admin, ACCT, body('api@msp.example'))).rejects.toThrow(
        /grant consent before linking/,
      );
      const fresh = await grantConsent(
        t.ctx,
        admin,
        ACCT,
        { level: 'company', scopes: ['billing:read', 'billing:push'] },
        'p1',
      );
      const again = await createLink(t.ctx, fakeDeps, admin, ACCT, body('api@msp.example'));
      expect(again.consentId).toBe(fresh.id);
    });

    it('refuses an old mapping for a different target account, accepts it for the same one', async () => {
      await lifecycle.putMapping(admin, ACCT, link.id, {
        customers: { c1: { companyId: 3, contractId: 9 } },
        products: { p1: { serviceId: 4 } },
      });
      const old = await lifecycle.getMapping(ACCT, link.id);
      expect(old.targetAccount).toBe(link.targetAccount);
      expect(JSON.stringify(old)).not.toContain('api@msp.example');
      await lifecycle.revokeConsent(admin, ACCT, consentId);
      await grantConsent(
        t.ctx,
        admin,
        ACCT,
        { level: 'company', scopes: ['billing:read', 'billing:push'] },
        'p1',
      );

      // Another API user (so possibly another Autotask database): the old ids mean nothing there.
      const other = await createLink(t.ctx, fakeDeps, admin, ACCT, body('someone-else@msp.example'));
      expect(other.targetAccount).not.toBe(link.targetAccount);
      await expect(lifecycle.putMapping(admin, ACCT, other.id, old)).rejects.toMatchObject({
        status: 409,
        code: 'mapping_target_mismatch',
      });
      expect(await getMapping(t.ctx, ACCT, other.id)).toEqual({ customers: {}, products: {} });
      // A fresh mapping (no stamp) is the admin mapping this link anew.
      const { targetAccount: _stamp, ...unstamped } = old;
      await expect(lifecycle.putMapping(admin, ACCT, other.id, unstamped)).resolves.toMatchObject({
        targetAccount: other.targetAccount,
      });

      // The same API user (in any letter case) reaches the same account: the old mapping fits.
      const same = await createLink(t.ctx, fakeDeps, admin, ACCT, body('API@msp.example'));
      expect(same.targetAccount).toBe(link.targetAccount);
      const saved = await lifecycle.putMapping(admin, ACCT, same.id, old);
      expect(saved.customers).toEqual(old.customers);
    });
  });

  it('keeps run records of a suspended link', async () => {
    await saveRun(t.ctx, {
      id: 'r1',
      accountId: ACCT,
      linkId: link.id,
      trigger: 'manual',
      dryRun: true,
      status: 'succeeded',
      attempt: 1,
      startedAt: new Date().toISOString(),
      finishedAt: null,
      durationMs: null,
      planned: {},
      applied: {},
      apiCalls: { total: 0, byHost: {} },
      errors: [],
      quarantined: [],
      unmapped: [],
      recon: [],
    });
    await lifecycle.suspendLink(admin, ACCT, link.id);
    expect(await listRuns(t.ctx, ACCT, link.id)).toHaveLength(1);
  });
});
