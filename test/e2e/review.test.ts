import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { readAudit } from '../../src/store/audit.ts';
import { runSync } from '../../src/sync/engine.ts';
import {
  admin,
  autotaskUnits,
  BILLING_CODE,
  expectedSeats,
  isWrite,
  startWorld,
  type World,
} from '../helpers/world.ts';

/** A scheduled run, as the queue's job scheduler starts one (trigger `schedule`, not a dry run). */
const scheduledRun = (w: World) =>
  runSync(w.app.engine, {
    runId: `scheduled-${randomUUID()}`,
    accountId: w.accountId,
    linkId: w.link.id,
    epoch: w.link.epoch,
    dryRun: false,
    trigger: 'schedule',
  });

const approve = async (w: World, runId: string) => {
  const res = await w.app.services.approveRun(admin, w.accountId, w.link.id, runId, { waitMs: 60_000 });
  if (!res.run) throw new Error(`approval run ${res.runId} ended ${res.state} without a record`);
  return res.run;
};

describe('review before apply (approval: review)', () => {
  let w: World | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });

  const start = () => startWorld({ settings: { approval: 'review', serviceBillingCodeId: BILLING_CODE } });

  it('a scheduled run plans and waits, writing nothing; approving applies exactly that plan', async () => {
    w = await start();
    const waiting = await scheduledRun(w);
    expect(waiting.status).toBe('awaiting-approval');
    expect(waiting.plan?.length).toBeGreaterThan(0);
    expect(waiting.targetFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(waiting.snapshotFingerprint).toMatch(/^[0-9a-f]{64}$/);
    expect(w.at.requests.filter(isWrite)).toEqual([]);
    expect(w.at.db.contracts.size).toBe(0);

    const applied = await approve(w, waiting.id);
    expect(applied.status).toBe('succeeded');
    expect(applied.approvedRunId).toBe(waiting.id);
    expect(applied.dryRun).toBe(false);
    const appliedCount = Object.values(applied.applied).reduce((a, b) => a + b, 0);
    expect(appliedCount).toBe(waiting.plan!.length);
    for (const [k, seats] of expectedSeats(w)) {
      const [customerId, productName] = k.split('|') as [string, string];
      expect(autotaskUnits(w, customerId, productName)).toBe(seats);
    }

    const trail = await readAudit(w.app.redis, w.app.store.keys, w.accountId);
    const entry = trail.find((e) => e.type === 'run.approved');
    expect(entry?.actor).toEqual(admin);
    expect(entry?.subject).toEqual({ linkId: w.link.id });
    expect(entry?.data).toMatchObject({ runId: waiting.id, ops: waiting.plan!.length });
  });

  it('"sync now" in review mode is a dry run', async () => {
    w = await start();
    const run = await w.sync();
    expect(run.dryRun).toBe(true);
    expect(run.status).toBe('succeeded');
    expect(run.plan?.length).toBeGreaterThan(0);
    expect(w.at.requests.filter(isWrite)).toEqual([]);
  });

  it('a SpinPanel change between plan and approval re-plans instead of applying the stale plan', async () => {
    w = await start();
    const waiting = await scheduledRun(w);
    const sub = w.sp.data.subscriptions.find((s) => s.status === 'active' && s.offerType !== 'perpetual')!;
    w.sp.setQuantity(sub.id, sub.quantity + 2);

    const again = await approve(w, waiting.id);
    expect(again.status).toBe('awaiting-approval');
    expect(again.changedSinceApproval).toEqual(['SpinPanel changed since the plan was reviewed']);
    expect(again.snapshotFingerprint).not.toBe(waiting.snapshotFingerprint);
    expect(w.at.requests.filter(isWrite)).toEqual([]);

    // The new plan, approved with nothing changed since, is applied with the new quantity.
    const applied = await approve(w, again.id);
    expect(applied.status).toBe('succeeded');
    for (const [k, seats] of expectedSeats(w)) {
      const [customerId, productName] = k.split('|') as [string, string];
      expect(autotaskUnits(w, customerId, productName)).toBe(seats);
    }
  });

  it('an Autotask change between plan and approval re-plans instead of applying the stale plan', async () => {
    w = await start();
    const waiting = await scheduledRun(w);
    const company = [...w.at.db.companies.values()][0]!;
    company.companyName = `${company.companyName} (renamed in Autotask)`;

    const again = await approve(w, waiting.id);
    expect(again.status).toBe('awaiting-approval');
    expect(again.changedSinceApproval).toEqual(['the target changed since the plan was reviewed']);
    expect(w.at.requests.filter(isWrite)).toEqual([]);
  });

  it('only a run awaiting approval can be approved', async () => {
    w = await start();
    const dry = await w.sync();
    await expect(w.app.services.approveRun(admin, w.accountId, w.link.id, dry.id)).rejects.toMatchObject({
      code: 'run_not_awaiting_approval',
      status: 409,
    });
  });
});
