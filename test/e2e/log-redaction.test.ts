import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { NAVISION_SANDBOX_DEFAULTS as NAV } from '../../connectors/navision/sandbox.ts';
import { createLogger } from '../../src/logger.ts';
import { AUTOTASK_CREDENTIALS } from '../helpers/world.ts';

/** Every secret the demo's sandboxes and process hold, as the logs must never show them. */
const CREDENTIALS_KEYS = `demo:${randomBytes(32).toString('base64')}`;
const AUDIT_KEYS = `audit:${randomBytes(32).toString('base64')}`;
const SECRETS = [
  AUTOTASK_CREDENTIALS.secret,
  'sp-sandbox-key',
  NAV.navUser.webServiceAccessKey,
  NAV.bcUser.webServiceAccessKey,
  NAV.windowsUser.password,
  NAV.client.clientSecret,
  CREDENTIALS_KEYS.split(':')[1]!,
  AUDIT_KEYS.split(':')[1]!,
];

function runDemo(target: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['bin/billing-sync.js', 'demo', '--target', target], {
      env: { ...process.env, LOG_LEVEL: 'debug', CREDENTIALS_KEYS, AUDIT_KEYS },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c) => {
      stdout += c;
    });
    child.stderr.on('data', (c) => {
      stderr += c;
    });
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('logs of a full demo run hold no secret', () => {
  for (const target of ['autotask', 'navision']) {
    it(`--target ${target}: no secret anywhere, every log line JSON, every run line with its ids`, async () => {
      const { code, stdout, stderr } = await runDemo(target);
      expect(code, stderr).toBe(0);
      const all = `${stdout}\n${stderr}`;
      for (const secret of SECRETS) expect(all.includes(secret), `the output shows ${secret}`).toBe(false);
      expect(all).not.toMatch(/bearer\s+[\w.~+/=-]{8,}/i);

      // The demo's story is plain text; its logs are the lines that open an object, each one whole JSON.
      const logs = all
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(logs.some((l) => l.level === 20)).toBe(true);
      const runs = logs.filter((l) => l.msg === 'run done');
      expect(runs.length).toBeGreaterThanOrEqual(3);
      for (const r of runs) {
        expect(r).toMatchObject({
          runId: expect.any(String),
          jobId: expect.any(String),
          linkId: expect.any(String),
          accountId: expect.any(String),
        });
      }
    }, 120_000);
  }

  it('censors secrets by path, however deep, in what a process logs', () => {
    const lines: string[] = [];
    const log = createLogger(
      'debug',
      new Writable({
        write(chunk, _enc, done) {
          lines.push(String(chunk));
          done();
        },
      }),
    );
    log.info(
      {
        credentials: AUTOTASK_CREDENTIALS,
        link: { spinpanelApiKey: 'sp-sandbox-key', settings: { clientSecret: NAV.client.clientSecret } },
        user: { webServiceAccessKey: NAV.bcUser.webServiceAccessKey, password: NAV.windowsUser.password },
        req: { headers: { authorization: 'Bearer sp-sandbox-key' } },
        err: { config: { headers: { Secret: AUTOTASK_CREDENTIALS.secret, Authorization: 'Bearer x' } } },
        config: { CREDENTIALS_KEYS },
      },
      'everything a careless line could hold',
    );
    const out = lines.join('');
    for (const secret of SECRETS.slice(0, 7)) expect(out).not.toContain(secret);
    expect(JSON.parse(out).link.spinpanelApiKey).toBe('[redacted]');
  });
});
