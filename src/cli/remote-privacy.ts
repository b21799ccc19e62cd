import type { Command } from 'commander';
import { UsageError } from './api-client.ts';
import { remoteAction } from './remote-context.ts';
import { record, table } from './table.ts';

type Row = Record<string, unknown>;

/** `remote exclusions`, `users removed`, `export`, `audit`, `erase`: data rights through the API. */
export function registerRemotePrivacy(remote: Command): void {
  const exclusions = remote.command('exclusions').description('a link’s opted-out customers');
  const path = (c: { client: { account(p: string): string } }, id: string) =>
    c.client.account(`/links/${encodeURIComponent(id)}/exclusions`);
  exclusions.command('get <linkId>').action(
    remoteAction(async (c, id: string) => {
      c.show(await c.client.request('GET', path(c, id)), (v: { customerIds?: string[] }) =>
        table(
          (v.customerIds ?? []).map((customerId) => ({ customerId })),
          ['customerId'],
        ),
      );
      return 0;
    }),
  );
  exclusions
    .command('put <linkId>')
    .description('replace the opt-out list')
    .requiredOption('--customers <ids>', 'comma-separated SpinPanel customer ids ("" for none)')
    .action(
      remoteAction(async (c, id: string, o: { customers: string }) => {
        const customerIds = o.customers
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean);
        c.show(await c.client.request('PUT', path(c, id), { customerIds }), (v: Row) => record(v));
        return 0;
      }),
    );

  remote
    .command('users')
    .description('people of the account')
    .command('removed <userId>')
    .description('report a user removed: the user-level consents it gave end')
    .action(
      remoteAction(async (c, userId: string) => {
        const p = c.client.account(`/users/${encodeURIComponent(userId)}/removed`);
        c.show(await c.client.request('POST', p, {}), (v: Row) => record(v));
        return 0;
      }),
    );

  remote
    .command('export')
    .description('everything held about the account, as JSON')
    .action(
      remoteAction(async (c) => {
        // An export is a document: JSON whatever the flag.
        c.out(`${JSON.stringify(await c.client.request('GET', c.client.account('/export')), null, 2)}\n`);
        return 0;
      }),
    );
  remote
    .command('audit')
    .description('the account’s audit trail and whether its chain verifies')
    .action(
      remoteAction(async (c) => {
        c.show(
          await c.client.request('GET', c.client.account('/audit')),
          (v: { items: Row[]; verified: unknown }) => {
            const verdict = typeof v.verified === 'object' ? JSON.stringify(v.verified) : String(v.verified);
            return `${table(v.items, ['at', 'type', 'actor', 'subject'])}chain verified: ${verdict}\n`;
          },
        );
        return 0;
      }),
    );
  remote
    .command('erase')
    .description('erase the account: consents revoked, links unlinked, every key deleted but one audit entry')
    .option('--yes', 'confirm: this cannot be undone')
    .action(
      remoteAction(async (c, o: { yes?: boolean }) => {
        if (!o.yes) throw new UsageError('erasing an account cannot be undone: add --yes');
        c.show(await c.client.request('DELETE', c.client.account('/data')), (v: Row) => record(v));
        return 0;
      }),
    );
}
