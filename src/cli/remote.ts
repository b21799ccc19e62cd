import type { Command } from 'commander';
import { readJsonFile, remoteAction } from './remote-context.ts';
import { registerRemotePrivacy } from './remote-privacy.ts';
import { registerRemoteSync } from './remote-sync.ts';
import { record, table } from './table.ts';

type Row = Record<string, unknown>;
const items = (v: { items: Row[] }) => v.items;
const CONSENT_COLUMNS = ['id', 'level', 'status', 'scopes', 'grantedAt', 'revokedAt'];
const LINK_COLUMNS = ['id', 'target', 'displayName', 'status', 'everyMinutes', 'createdAt'];

/**
 * `billing-sync remote …`: every admin action against a running API. A group of its own because the
 * top-level `sync`, `revoke`, `suspend`, `resume`, `export` and `audit` act on Redis directly.
 */
export function registerRemoteCommands(program: Command): void {
  const remote = program
    .command('remote')
    .description(
      'admin actions against a running API (--api/--token/--account or BILLING_SYNC_API/_TOKEN/_ACCOUNT)',
    )
    .option('--api <url>', 'base URL of the admin API')
    .option('--token <token>', 'an API token (prefer BILLING_SYNC_TOKEN: flags show in the process list)')
    .option('--account <accountId>', 'the account to act on')
    .option('--json', 'print JSON for scripts instead of tables')
    // Commander's own usage errors (unknown command, missing argument) exit 2 like ours.
    .exitOverride((err) => process.exit(err.exitCode === 0 ? 0 : 2));

  const consents = remote.command('consents').description('consents of the account');
  consents
    .command('grant')
    .description('give consent (the granter is the token’s user)')
    .option('--level <level>', 'user | company', 'user')
    .option('--scopes <scopes>', 'comma-separated scopes', 'billing:read,billing:push')
    .option('--policy-version <version>', 'the consent text version agreed to')
    .action(
      remoteAction(async (c, o: { level: string; scopes: string; policyVersion?: string }) => {
        const body = {
          level: o.level,
          scopes: o.scopes.split(',').map((s) => s.trim()),
          policyVersion: o.policyVersion,
        };
        c.show(await c.client.request('POST', c.client.account('/consents'), body), (v: Row) => record(v));
        return 0;
      }),
    );
  consents.command('list').action(
    remoteAction(async (c) => {
      c.show(await c.client.request('GET', c.client.account('/consents')), (v: { items: Row[] }) =>
        table(items(v), CONSENT_COLUMNS),
      );
      return 0;
    }),
  );
  consents
    .command('revoke <consentId>')
    .description('revoke a consent; its links stop and are unlinked')
    .option('--wait', 'answer once the unlink finished')
    .action(
      remoteAction(async (c, consentId: string, o: { wait?: boolean }) => {
        const path = c.client.account(
          `/consents/${encodeURIComponent(consentId)}/revoke${o.wait ? '?wait=true' : ''}`,
        );
        c.show(await c.client.request('POST', path), (v: Row) =>
          record(v, ['closedLinks', 'confirmed', 'stopped', 'note']),
        );
        return 0;
      }),
    );

  const link = (id: string) => `/links/${encodeURIComponent(id)}`;
  const links = remote.command('links').description('links to billing systems');
  links
    .command('create')
    .description(
      'link a billing system from a JSON file: {target, credentials, spinpanelApiKey, settings, …}',
    )
    .requiredOption('--file <path>', 'the request body, as in POST /v1/accounts/:accountId/links')
    .action(
      remoteAction(async (c, o: { file: string }) => {
        const body = await readJsonFile(o.file);
        c.show(await c.client.request('POST', c.client.account('/links'), body), (v: Row) =>
          record(v, LINK_COLUMNS),
        );
        return 0;
      }),
    );
  links.command('list').action(
    remoteAction(async (c) => {
      c.show(await c.client.request('GET', c.client.account('/links')), (v: { items: Row[] }) =>
        table(items(v), LINK_COLUMNS),
      );
      return 0;
    }),
  );
  links.command('show <linkId>').action(
    remoteAction(async (c, id: string) => {
      c.show(await c.client.request('GET', c.client.account(link(id))), (v: Row) =>
        record(v, [...LINK_COLUMNS, 'settings', 'lastRun']),
      );
      return 0;
    }),
  );
  for (const verb of ['suspend', 'resume'] as const) {
    links.command(`${verb} <linkId>`).action(
      remoteAction(async (c, id: string) => {
        c.show(await c.client.request('POST', c.client.account(`${link(id)}/${verb}`)), (v: Row) =>
          record(v),
        );
        return 0;
      }),
    );
  }
  const settings = links.command('settings').description('a link’s settings');
  settings.command('get <linkId>').action(
    remoteAction(async (c, id: string) => {
      const l = await c.client.request<{ settings: Row }>('GET', c.client.account(link(id)));
      c.show(l.settings, (v: Row) => record(v));
      return 0;
    }),
  );
  settings
    .command('patch <linkId>')
    .description('change some settings, from a JSON file of {name: value}')
    .requiredOption('--file <path>', 'the settings to change')
    .action(
      remoteAction(async (c, id: string, o: { file: string }) => {
        const body = await readJsonFile(o.file);
        c.show(await c.client.request('PATCH', c.client.account(`${link(id)}/settings`), body), (v: Row) =>
          record(v),
        );
        return 0;
      }),
    );

  const mappings = remote.command('mappings').description('a link’s customer and product mappings');
  mappings.command('get <linkId>').action(
    remoteAction(async (c, id: string) => {
      c.show(await c.client.request('GET', c.client.account(`${link(id)}/mappings`)), (v: Row) => record(v));
      return 0;
    }),
  );
  mappings
    .command('put <linkId>')
    .description('replace the mappings with a JSON file')
    .requiredOption('--file <path>', 'the mapping document, as in PUT …/mappings')
    .action(
      remoteAction(async (c, id: string, o: { file: string }) => {
        const body = await readJsonFile(o.file);
        c.show(await c.client.request('PUT', c.client.account(`${link(id)}/mappings`), body), (v: Row) =>
          record(v),
        );
        return 0;
      }),
    );

  registerRemoteSync(remote);

  registerRemotePrivacy(remote);
}
