import type { Command } from 'commander';
import { type App, createApp } from '../app.ts';
import { loadConfig } from '../config.ts';
import type { Actor } from '../consent/consents.ts';
import { auditKeysEntries, deriveAuditKeys } from '../store/audit-keys.ts';

const print = (value: unknown): void => {
  process.stdout.write(`${JSON.stringify(value, null, 2)}\n`);
};

/** Loads the config and builds the app (which refuses to start outside ALLOWED_REGIONS), then closes it. */
async function withApp<T>(fn: (app: App) => Promise<T>): Promise<T> {
  const app = await createApp(loadConfig());
  try {
    return await fn(app);
  } finally {
    await app.close();
  }
}

/** Whoever runs the CLI acts as an operator; `--as` names them in the audit trail. */
const operator = (as: string | undefined): Actor => ({ userId: as ?? 'cli', role: 'operator' });

/** The data-rights commands: export, erase, removed users, audit verification, key rotation, retention. */
export function registerPrivacyCommands(program: Command): void {
  program
    .command('export <accountId>')
    .description('print every record held for an account as one JSON document (no secrets)')
    .option('--as <userId>', 'who asks, for the audit trail')
    .action((accountId: string, opts: { as?: string }) =>
      withApp(async (app) => print(await app.services.exportAccount(operator(opts.as), accountId))),
    );

  program
    .command('erase <accountId>')
    .description('revoke, unlink and delete everything held for an account (keeps one audit entry)')
    .option('--as <userId>', 'who asks, for the audit trail')
    .option('--yes', 'confirm: this cannot be undone')
    .action(async (accountId: string, opts: { as?: string; yes?: boolean }) => {
      if (!opts.yes) throw new Error(`erasing account ${accountId} cannot be undone: add --yes to confirm`);
      await withApp(async (app) => print(await app.services.eraseAccount(operator(opts.as), accountId)));
    });

  program
    .command('user-removed <accountId> <userId>')
    .description('report a removed user: its user-level consents end, company-level ones stay')
    .option('--as <userId>', 'who reports it, for the audit trail')
    .action((accountId: string, userId: string, opts: { as?: string }) =>
      withApp(async (app) =>
        print(await app.services.reportUserRemoved(operator(opts.as), accountId, userId)),
      ),
    );

  const audit = program.command('audit').description("an account's hash-chained audit trail");
  audit
    .command('verify <accountId>')
    .description(
      'check the chain (HMACs under AUDIT_KEYS): exits 1 when an entry was edited, removed or forged',
    )
    .action((accountId: string) =>
      withApp(async (app) => {
        const verdict = await app.services.verifyAudit(accountId);
        print(verdict);
        if (!verdict.ok) process.exitCode = 1;
      }),
    );

  audit
    .command('derived-keys')
    .description(
      'print, as AUDIT_KEYS entries, the audit keys derived from CREDENTIALS_KEYS (used while AUDIT_KEYS is unset)',
    )
    .action(() => {
      // List them behind a new key when AUDIT_KEYS is first set, so entries signed before keep verifying.
      const { CREDENTIALS_KEYS } = loadConfig();
      print({ AUDIT_KEYS: auditKeysEntries(deriveAuditKeys(CREDENTIALS_KEYS ?? [])) });
    });

  program
    .command('rotate-credentials')
    .description("re-encrypt every link's credentials with the current key (the first of CREDENTIALS_KEYS)")
    .action(() =>
      withApp(async (app) => {
        const report = await app.services.rotateCredentials();
        print(report);
        if (report.failed.length > 0) process.exitCode = 1;
      }),
    );

  program
    .command('retention-sweep')
    .description('apply the retention periods now (workers also do it every RETENTION_SWEEP_MINUTES)')
    .action(() => withApp(async (app) => print(await app.services.sweepRetention())));
}
