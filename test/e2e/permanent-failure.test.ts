import { afterEach, describe, expect, it } from 'vitest';
import { AUTOTASK_CREDENTIALS, admin, startWorld, type World } from '../helpers/world.ts';

/** A run whose failure every attempt would meet again ends its job at once, in the source's or target's words. */
describe('permanent run failures (real app, real Redis, both sandboxes)', () => {
  let w: World | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  it('a 401 from Autotask during a run ends the job after 1 attempt, not 5', async () => {
    const user = { ...AUTOTASK_CREDENTIALS };
    w = await startWorld({ autotask: { users: [user] } });
    expect(w.app.config.SYNC_ATTEMPTS).toBe(5);
    // The MSP changes the API user's secret in Autotask after the link was made.
    user.secret = 'changed-in-autotask';
    const before = w.at.requests.length;
    const res = await w.app.services.syncNow(admin, w.accountId, w.link.id, {
      dryRun: false,
      waitMs: 30_000,
    });

    expect(res.state).toBe('failed');
    const job = await w.app.queue.getJob(res.runId);
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toContain(
      'Authentication failed: invalid UserName, Secret or ApiIntegrationCode',
    );
    const refused = w.at.requests.slice(before).filter((r) => r.status === 401);
    expect(refused.length).toBeGreaterThan(0);
    // Each attempt reads the hourly budget first: one read, so one attempt, and no request was sent twice.
    expect(refused.filter((r) => r.entity === 'ThresholdInformation')).toHaveLength(1);
    expect(new Set(refused.map((r) => `${r.method} ${r.path}`)).size).toBe(refused.length);
    expect(res.run?.status).toBe('failed');
    expect(res.run?.errors.map((e) => e.message).join(' ')).toContain('Authentication failed');
  });

  it('a 401 from SpinPanel ends the job after 1 attempt, with SpinPanel’s words', async () => {
    w = await startWorld();
    // SpinPanel revoked the linked key after the link was made (a key it refuses is never linked).
    w.sp.setApiKey('sp-key-issued-after-the-old-one-was-revoked');
    const before = w.sp.requests.length;
    const res = await w.app.services.syncNow(admin, w.accountId, w.link.id, { dryRun: true, waitMs: 30_000 });

    expect(res.state).toBe('failed');
    const job = await w.app.queue.getJob(res.runId);
    expect(job?.attemptsMade).toBe(1);
    expect(job?.failedReason).toContain(
      '401 Unauthorized — The API key is missing or not valid for any account.',
    );
    expect(w.sp.requests.slice(before).filter((r) => r.status === 401)).toHaveLength(1);
  });

  it('a failure that may pass is still retried by the queue: SpinPanel busy on every request', async () => {
    // Control: only failures that would repeat end the job at once.
    w = await startWorld({ env: { SYNC_ATTEMPTS: '2' } });
    w.sp.configure({ errorRate: 1 }); // every request answered 503 with Retry-After: 0
    const res = await w.app.services.syncNow(admin, w.accountId, w.link.id, { dryRun: true, waitMs: 30_000 });
    expect(res.state).toBe('failed');
    const job = await w.app.queue.getJob(res.runId);
    expect(job?.attemptsMade).toBe(2);
    // Per attempt: the first request and the client's 5 throttle waits of it.
    expect(w.sp.requests.filter((r) => r.status === 503)).toHaveLength(2 * 6);
  });
});
