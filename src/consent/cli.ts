import type { Command } from 'commander';
import { createApp } from '../app.ts';
import { loadConfig } from '../config.ts';
import type { Actor } from './consents.ts';
import { revocationBody } from './lifecycle.ts';

const ROLES = ['user', 'company_admin', 'reseller'] as const;

/**
 * The CLI acts for a named person of the account (recorded in the audit trail), with the same rules as the API:
 * a user may revoke its own user-level consent, admins and resellers a company one, and only they suspend.
 */
function actorOf(opts: { as: string; role: string }): Actor {
  if (!(ROLES as readonly string[]).includes(opts.role)) {
    throw new Error(`--role must be one of ${ROLES.join(', ')}, not "${opts.role}"`);
  }
  return { userId: opts.as, role: opts.role as Actor['role'] };
}

async function run(fn: (app: Awaited<ReturnType<typeof createApp>>) => Promise<unknown>): Promise<void> {
  const app = await createApp(loadConfig());
  try {
    process.stdout.write(`${JSON.stringify(await fn(app), null, 2)}\n`);
  } finally {
    await app.close();
  }
}

/** `sync`, `revoke`, `suspend`, `resume`: a link's life from the command line. */
export function registerLifecycleCommands(program: Command): void {
  const who = (c: Command) =>
    c
      .requiredOption('--as <userId>', 'the person of the account this is done for (audited)')
      .option('--role <role>', `their role: ${ROLES.join(' | ')}`, 'company_admin');

  who(program.command('revoke <accountId> <consentId>'))
    .description('revoke a consent: answers once nothing of its links can reach a target, then unlinks them')
    .option('--wait', 'also wait for the unlink to finish')
    .action((accountId: string, consentId: string, opts: { as: string; role: string; wait?: boolean }) =>
      run(async (app) =>
        revocationBody(
          await app.services.revokeConsent(actorOf(opts), accountId, consentId, { waitForUnlink: opts.wait }),
        ),
      ),
    );
  who(program.command('sync <accountId> <linkId>'))
    .description('run a sync of a link now (a worker in this process helps) and print the run record')
    .option('--dry-run', 'plan only: print what would be done, write nothing')
    .action((accountId: string, linkId: string, opts: { as: string; role: string; dryRun?: boolean }) =>
      run(async (app) => {
        app.startWorker(1);
        const res = await app.services.syncNow(actorOf(opts), accountId, linkId, {
          dryRun: opts.dryRun ?? false,
          waitMs: 10 * 60_000,
        });
        return res.run ?? res;
      }),
    );
  who(program.command('suspend <accountId> <linkId>'))
    .description('pause a link: gate closed, running sync cancelled, nothing deleted')
    .action((accountId: string, linkId: string, opts: { as: string; role: string }) =>
      run((app) => app.services.suspendLink(actorOf(opts), accountId, linkId)),
    );
  who(program.command('resume <accountId> <linkId>'))
    .description('re-open a suspended link under a new epoch and schedule it again')
    .action((accountId: string, linkId: string, opts: { as: string; role: string }) =>
      run((app) => app.services.resumeLink(actorOf(opts), accountId, linkId)),
    );
}
