import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { ApiClient, ApiError, UsageError } from './api-client.ts';

export interface RemoteOptions {
  api?: string;
  token?: string;
  account?: string;
  json?: boolean;
}

/** What every remote action gets: a client, and how to print. */
export interface RemoteContext {
  client: ApiClient;
  json: boolean;
  out: (text: string) => void;
  /** Prints `value` as JSON with --json, else as `human(value)`. */
  show: (value: unknown, human: (value: never) => string) => void;
}

const blank = (v: string | undefined) => (v === undefined || v.trim() === '' ? undefined : v);

/** The API, token and account from the flags, else from the environment; a missing one is bad usage. */
export function clientFrom(opts: RemoteOptions, env: NodeJS.ProcessEnv = process.env): ApiClient {
  const api = blank(opts.api) ?? blank(env.BILLING_SYNC_API);
  const token = blank(opts.token) ?? blank(env.BILLING_SYNC_TOKEN);
  const accountId = blank(opts.account) ?? blank(env.BILLING_SYNC_ACCOUNT);
  const missing = [
    api ? undefined : '--api (or BILLING_SYNC_API)',
    token ? undefined : '--token (or BILLING_SYNC_TOKEN)',
    accountId ? undefined : '--account (or BILLING_SYNC_ACCOUNT)',
  ].filter(Boolean);
  if (missing.length) throw new UsageError(`missing ${missing.join(', ')}`);
  if (!/^https?:\/\//.test(api!)) throw new UsageError(`--api must be an http(s) URL, not "${api}"`);
  return new ApiClient({ api: api!, token: token!, accountId: accountId! });
}

/**
 * Runs one remote action and decides the exit code: 2 for bad usage, 1 for an API error (its message
 * printed), else what the action returns (0 by default).
 */
export function remoteAction<A extends unknown[]>(
  fn: (ctx: RemoteContext, ...args: A) => Promise<number | undefined>,
): (...args: A) => Promise<void> {
  return async (...args: A) => {
    const cmd = args[args.length - 1] as Command;
    const opts = cmd.optsWithGlobals<RemoteOptions>();
    const out = (text: string) => process.stdout.write(text);
    let code: number;
    try {
      const client = clientFrom(opts);
      const json = opts.json === true;
      const show: RemoteContext['show'] = (value, human) =>
        out(json ? `${JSON.stringify(value, null, 2)}\n` : human(value as never));
      code = (await fn({ client, json, out, show }, ...args)) ?? 0;
    } catch (error) {
      if (error instanceof UsageError) {
        process.stderr.write(`billing-sync: ${error.message}\n`);
        code = 2;
      } else if (error instanceof ApiError) {
        process.stderr.write(`billing-sync: ${error.message}${error.status ? ` (${error.code})` : ''}\n`);
        code = 1;
      } else throw error;
    }
    process.exitCode = code;
  };
}

/** A JSON object from a file given on the command line. */
export async function readJsonFile(
  path: string | undefined,
  flag = '--file',
): Promise<Record<string, unknown>> {
  if (!path) throw new UsageError(`${flag} <path> is required`);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    throw new UsageError(`cannot read ${path}`);
  }
  try {
    const value = JSON.parse(text) as unknown;
    if (value && typeof value === 'object' && !Array.isArray(value)) return value as Record<string, unknown>;
  } catch {
    // fall through to the same message
  }
  throw new UsageError(`${path} is not a JSON object`);
}
