import type { Command } from 'commander';
import { ROLES } from '../config.ts';
import { formatDigest, newToken } from './auth/tokens.ts';

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks)
    .toString('utf8')
    .replace(/\r?\n$/, '');
}

/** `billing-sync token`: a new admin API token and the digest `API_TOKENS` keeps (the token is stored nowhere). */
export function registerTokenCommand(program: Command): void {
  program
    .command('token')
    .description(
      'print a new random API token and its sha256: digest for API_TOKENS (needs no configuration)',
    )
    .option(
      '--account <accountId>',
      'also print the whole API_TOKENS entry, bound to this account (* for operators)',
    )
    .option('--role <role>', `the entry's role: ${ROLES.join('|')}`, 'company_admin')
    .option('--user <userId>', "the entry's user id")
    .option(
      '--digest-stdin',
      'print the digest of a token read from standard input instead (a plain entry → digest)',
    )
    .action(async (o: { account?: string; role: string; user?: string; digestStdin?: boolean }) => {
      if (o.digestStdin) {
        const token = await readStdin();
        if (token.length < 16) throw new Error('a token has 16 or more characters');
        process.stdout.write(`${formatDigest(token)}\n`);
        return;
      }
      if (!ROLES.includes(o.role as (typeof ROLES)[number]))
        throw new Error(`--role must be one of ${ROLES.join('|')}`);
      if (o.account === '*' && o.role !== 'operator')
        throw new Error('only an operator may hold every account (*)');
      if (o.account && !o.user) throw new Error('--user is required with --account');
      for (const part of [o.account, o.user]) {
        if (part !== undefined && !/^[^:,=\s]+$/.test(part))
          throw new Error('an account or user id holds no ":", ",", "=" or space');
      }
      const { token, digest } = newToken();
      const lines = [`token:  ${token}`, `digest: ${digest}`];
      if (o.account) lines.push(`entry:  ${digest}=${o.account}:${o.role}:${o.user}`);
      lines.push('Give the token to its holder; put only the digest (or the entry) in API_TOKENS.');
      process.stdout.write(`${lines.join('\n')}\n`);
    });
}
