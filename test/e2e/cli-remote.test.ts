import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runSync } from '../../src/sync/engine.ts';
import { type ApiHarness, startApi } from '../helpers/api.ts';
import { AUTOTASK_CREDENTIALS, BILLING_CODE, startWorld, type World } from '../helpers/world.ts';

const exec = promisify(execFile);
const TOKEN = 'remote-cli-admin-token-0123456789';

interface Outcome {
  code: number;
  stdout: string;
  stderr: string;
}

describe('billing-sync remote: the admin API from the command line', () => {
  let w: World;
  let api: ApiHarness;
  let dir: string;
  beforeEach(async () => {
    w = await startWorld();
    api = await startApi(w, [
      { token: TOKEN, accountId: w.accountId, role: 'company_admin', userId: 'admin-9' },
    ]);
    dir = await mkdtemp(join(tmpdir(), 'cli-remote-'));
  });
  afterEach(async () => {
    await api.close();
    await w.close();
    await rm(dir, { recursive: true, force: true });
  });

  const seen: string[] = [];
  /** The CLI as a child process; the token from the environment unless a --token is given. */
  const cli = async (args: string[], token = TOKEN): Promise<Outcome> => {
    const env = {
      ...process.env,
      BILLING_SYNC_API: api.base,
      BILLING_SYNC_ACCOUNT: w.accountId,
      BILLING_SYNC_TOKEN: token,
    };
    const out = await exec(process.execPath, ['bin/billing-sync.js', 'remote', ...args], { env }).then(
      (r) => ({ code: 0, stdout: r.stdout, stderr: r.stderr }),
      (e: { code: number; stdout: string; stderr: string }) => ({
        code: e.code,
        stdout: e.stdout,
        stderr: e.stderr,
      }),
    );
    seen.push(out.stdout, out.stderr);
    return out;
  };

  it('links from a file, syncs with --wait to a summary, lists runs as JSON, and never prints the token', async () => {
    const file = join(dir, 'link.json');
    await writeFile(
      file,
      JSON.stringify({
        target: 'autotask',
        name: 'second Autotask',
        credentials: AUTOTASK_CREDENTIALS,
        spinpanelApiKey: w.sp.apiKey,
        settings: { serviceBillingCodeId: BILLING_CODE },
      }),
    );
    const created = await cli(['links', 'create', '--file', file, '--json']);
    expect(created).toMatchObject({ code: 0 });
    const link = JSON.parse(created.stdout) as { id: string; status: string };
    expect(link.status).toBe('active');

    const listed = await cli(['links', 'list']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(/^ID\s+TARGET/);
    expect(listed.stdout).toContain(link.id);

    const synced = await cli(['sync', link.id, '--wait']);
    expect(synced.stderr).toMatch(/succeeded/);
    expect(synced).toMatchObject({ code: 0, stdout: expect.stringMatching(/run \S+: succeeded/) });
    expect(synced.stdout).toMatch(/applied: .*=\d/);
    expect(w.at.db.contracts.size).toBeGreaterThan(0);

    const runs = await cli(['runs', 'list', link.id, '--json']);
    expect(runs.code).toBe(0);
    const { items } = JSON.parse(runs.stdout) as { items: { id: string; status: string }[] };
    expect(items[0]).toMatchObject({ status: 'succeeded' });

    const shown = await cli(['runs', 'show', link.id, items[0]!.id]);
    expect(shown).toMatchObject({ code: 0, stdout: expect.stringMatching(/reconciliation:/) });

    // The token given as a flag is not echoed either.
    const flagged = await cli(['--token', TOKEN, 'consents', 'list', '--json']);
    expect(JSON.parse(flagged.stdout).items.length).toBeGreaterThan(0);

    expect(seen.join('\n')).not.toContain(TOKEN);
  }, 60_000);

  it("exits 1 with the API's message on a bad token, 2 on bad usage, and prints neither token", async () => {
    const wrong = 'wrong-token-abcdefghijklmnop';
    const refused = await cli(['links', 'list'], wrong);
    const direct = await api.call('GET', `/v1/accounts/${w.accountId}/links`, wrong);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(direct.body.error.message);

    const missing = await cli(['links', 'show']);
    expect(missing.code).toBe(2);
    const noFile = await cli(['mappings', 'put', w.link.id, '--file', join(dir, 'absent.json')]);
    expect(noFile).toMatchObject({ code: 2, stderr: expect.stringMatching(/cannot read/) });

    expect(seen.join('\n')).not.toContain(wrong);
    expect(seen.join('\n')).not.toContain(TOKEN);
  }, 60_000);

  it('suspends, refuses a sync of the suspended link with exit 1, resumes, dry-runs, and round-trips a mapping', async () => {
    const id = w.link.id;
    expect((await cli(['links', 'suspend', id])).code).toBe(0);
    const refused = await cli(['sync', id, '--wait']);
    expect(refused).toMatchObject({ code: 1, stderr: expect.stringMatching(/suspended/) });
    expect((await cli(['links', 'resume', id])).code).toBe(0);

    const dry = await cli(['sync', id, '--dry-run', '--wait']);
    expect(dry).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/succeeded \(dry run: nothing written\)/),
    });
    expect(w.at.db.contracts.size).toBe(0);

    const mapping = await cli(['mappings', 'get', id, '--json']);
    const file = join(dir, 'mapping.json');
    await writeFile(file, mapping.stdout);
    expect(await cli(['mappings', 'put', id, '--file', file])).toMatchObject({ code: 0 });

    const patch = join(dir, 'settings.json');
    await writeFile(patch, JSON.stringify({ usageMonths: 3 }));
    expect((await cli(['links', 'settings', 'patch', id, '--file', patch])).code).toBe(0);
    const settings = JSON.parse((await cli(['links', 'settings', 'get', id, '--json'])).stdout);
    expect(settings).toMatchObject({ usageMonths: 3 });

    const audit = await cli(['audit']);
    expect(audit).toMatchObject({
      code: 0,
      stdout: expect.stringMatching(/link\.suspended[\s\S]*chain verified/),
    });
    expect(seen.join('\n')).not.toContain(TOKEN);
  }, 60_000);

  it('sets exclusions, reports a removed user, and erases only with --yes', async () => {
    const id = w.link.id;
    const customer = w.sp.data.customers[0]!.id;
    expect((await cli(['exclusions', 'put', id, '--customers', customer])).code).toBe(0);
    expect(JSON.parse((await cli(['exclusions', 'get', id, '--json'])).stdout)).toMatchObject({
      customerIds: [customer],
    });
    expect((await cli(['users', 'removed', 'user-3'])).code).toBe(0);
    expect(await cli(['erase'])).toMatchObject({ code: 2, stderr: expect.stringMatching(/--yes/) });
    expect((await cli(['links', 'list', '--json'])).code).toBe(0);
    expect((await cli(['erase', '--yes'])).code).toBe(0);
    expect(seen.join('\n')).not.toContain(TOKEN);
  }, 60_000);

  it('approves a run awaiting approval and follows it to the applied summary', async () => {
    await api.close();
    await w.close();
    w = await startWorld({ settings: { approval: 'review', serviceBillingCodeId: BILLING_CODE } });
    api = await startApi(w, [
      { token: TOKEN, accountId: w.accountId, role: 'company_admin', userId: 'admin-9' },
    ]);
    // A scheduled run, as the queue's job scheduler starts one: in review mode it plans and waits.
    const waiting = await runSync(w.app.engine, {
      runId: `scheduled-${randomUUID()}`,
      accountId: w.accountId,
      linkId: w.link.id,
      epoch: w.link.epoch,
      dryRun: false,
      trigger: 'schedule',
    });
    expect(waiting.status).toBe('awaiting-approval');
    const shown = await cli(['runs', 'show', w.link.id, waiting.id]);
    expect(shown.stdout).toMatch(/awaiting-approval/);
    expect(w.at.db.contracts.size).toBe(0);

    const approved = await cli(['runs', 'approve', w.link.id, waiting.id, '--wait']);
    expect(approved).toMatchObject({ code: 0, stdout: expect.stringMatching(/: succeeded/) });
    expect(w.at.db.contracts.size).toBe(3);
    expect(seen.join('\n')).not.toContain(TOKEN);
  }, 60_000);
});
