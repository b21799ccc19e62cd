import { type ChildProcess, spawn } from 'node:child_process';
import { afterEach, describe, expect, it } from 'vitest';
import { unlinkJobId } from '../../src/queue/unlink.ts';
import { readAudit } from '../../src/store/audit.ts';
import { waitFor } from '../helpers/lifecycle.ts';
import { dumpPrefix } from '../helpers/store.ts';
import { AUTOTASK_CREDENTIALS, admin, startWorld, type World } from '../helpers/world.ts';

describe('an unlink interrupted by a killed worker', () => {
  let w: World | undefined;
  const children: ChildProcess[] = [];
  const startWorker = () => {
    const child = spawn(process.execPath, ['bin/billing-sync.js', 'worker'], {
      env: { ...process.env, ...w!.env },
      stdio: 'ignore',
    });
    children.push(child);
    return child;
  };
  const exited = (c: ChildProcess) =>
    new Promise((r) => (c.exitCode !== null || c.signalCode !== null ? r(null) : c.once('exit', r)));
  afterEach(async () => {
    for (const c of children.splice(0)) {
      c.kill('SIGTERM');
      await exited(c);
    }
    await w?.close();
    w = undefined;
  });

  it('is finished by the next worker process: credentials, mappings and run details gone, audited once', async () => {
    w = await startWorld({ worker: false });
    const { app, accountId, link } = w;
    const keys = app.store.keys;
    const first = startWorker();
    const run = await w.sync();
    expect(run.status).toBe('succeeded');
    await app.services.putMapping(admin, accountId, link.id, {
      customers: { [w.sp.data.customers[0]!.id]: { companyId: 0 } },
      products: {},
    });
    const sealed = (await app.redis.get(keys.credentials(accountId, link.id)))!;

    // A sync that has not let go yet (as a sync still finishing, or a crashed one, would): the unlink destroys
    // the credentials at once, then waits for the run lock before it purges the runs.
    await app.redis.set(keys.runLock(accountId, link.id), 'a-sync-still-finishing', 'PX', 60_000);
    await app.services.revokeConsent(admin, accountId, w.consent.id);
    const job = () => app.unlinkQueue.getJob(unlinkJobId(link.id));
    await waitFor(async () => {
      const j = await job();
      return (await j?.getState()) === 'active' && (j?.progress as { step?: string })?.step === 'credentials';
    }, 20_000);
    first.kill('SIGKILL');
    await exited(first);

    // Half-way: credentials gone, run details and mapping still there, link not yet unlinked.
    expect(await app.redis.exists(keys.credentials(accountId, link.id))).toBe(0);
    expect(await app.redis.exists(keys.run(accountId, run.id))).toBe(1);
    expect(await app.redis.exists(keys.mapping(accountId, link.id))).toBe(1);
    expect(await app.redis.hget(keys.link(accountId, link.id), 'status')).toBe('revoked');

    await app.redis.del(keys.runLock(accountId, link.id));
    startWorker();
    // `unlinked` is the job's last write; the job is marked completed a moment after it returns.
    await waitFor(async () => (await (await job())?.getState()) === 'completed', 20_000);
    expect(await app.redis.hget(keys.link(accountId, link.id), 'status')).toBe('unlinked');
    expect(await app.redis.exists(keys.run(accountId, run.id))).toBe(0);
    expect(await app.redis.exists(keys.mapping(accountId, link.id))).toBe(0);
    expect(await app.redis.hget(keys.runHistory(accountId, link.id), 'runs')).toBe('1');
    const audit = await readAudit(app.redis, keys, accountId);
    expect(audit.filter((e) => e.type === 'link.unlinked')).toHaveLength(1);
    const dump = await dumpPrefix(app.redis, app.config.REDIS_PREFIX);
    for (const gone of [sealed, AUTOTASK_CREDENTIALS.secret, w.sp.apiKey, w.sp.data.customers[0]!.name]) {
      expect(dump).not.toContain(gone);
    }
  }, 60_000);
});
