import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { startWorld, type World } from '../helpers/world.ts';

const exec = promisify(execFile);

describe('revoke, suspend and resume from the command line', () => {
  let w: World | undefined;
  afterEach(async () => {
    await w?.close();
    w = undefined;
  });
  const cli = (...args: string[]) =>
    exec(process.execPath, ['bin/billing-sync.js', ...args], { env: { ...process.env, ...w!.env } });

  it('runs a dry run and a sync of a link as a named admin and prints the run records', async () => {
    w = await startWorld({ worker: false });
    const dry = JSON.parse(
      (await cli('sync', w.accountId, w.link.id, '--as', 'admin-7', '--dry-run')).stdout,
    );
    expect(dry).toMatchObject({ dryRun: true, status: 'succeeded' });
    expect(dry.plan.length).toBeGreaterThan(0);
    expect(w.at.db.contracts.size).toBe(0);
    const run = JSON.parse((await cli('sync', w.accountId, w.link.id, '--as', 'admin-7')).stdout);
    expect(run).toMatchObject({ dryRun: false, status: 'succeeded' });
    expect(w.at.db.contracts.size).toBe(3);
    const refused = await cli('sync', w.accountId, w.link.id, '--as', 'user-3', '--role', 'user').catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/admin action/) });
  }, 60_000);

  it('suspends and resumes as a named admin, refuses a plain user, and revokes with --wait', async () => {
    w = await startWorld();
    const refused = await cli('suspend', w.accountId, w.link.id, '--as', 'user-3', '--role', 'user').catch(
      (e: { code: number; stderr: string }) => e,
    );
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/company admin or a reseller/) });

    const suspended = JSON.parse((await cli('suspend', w.accountId, w.link.id, '--as', 'admin-7')).stdout);
    expect(suspended.link).toMatchObject({ status: 'suspended' });
    const resumed = JSON.parse((await cli('resume', w.accountId, w.link.id, '--as', 'admin-7')).stdout);
    expect(resumed).toMatchObject({ status: 'active', epoch: w.link.epoch + 2 });

    const revoked = JSON.parse(
      (await cli('revoke', w.accountId, w.consent.id, '--as', 'admin-7', '--wait')).stdout,
    );
    expect(revoked).toMatchObject({
      closedLinks: [w.link.id],
      confirmed: true,
      note: expect.stringMatching(/not retroactive/),
    });
    expect(revoked.links[0].unlink.state).toBe('completed');
    expect((await w.app.services.getLink(w.accountId, w.link.id)).status).toBe('unlinked');
    const trail = await w.app.services.readAudit({ userId: 'admin-1', role: 'company_admin' }, w.accountId);
    expect(JSON.stringify(trail)).toMatch(/"link.suspended".*"admin-7"|"admin-7".*"link.suspended"/);
  }, 60_000);
});
