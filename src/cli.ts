import { Command } from 'commander';
import { createApp } from './app.ts';
import { registerRemoteCommands } from './cli/remote.ts';
import { ConfigError, loadConfig } from './config.ts';
import { registerLifecycleCommands } from './consent/cli.ts';
import { plainTokenWarning } from './http/auth/tokens.ts';
import { registerTokenCommand } from './http/cli.ts';
import { serveMetrics } from './http/metrics-port.ts';
import { serverOptionsFromConfig } from './http/options.ts';
import { buildServer } from './http/server.ts';
import { registerPrivacyCommands } from './privacy/cli.ts';

async function serve(opts: { api: boolean; worker: boolean }) {
  const config = loadConfig();
  const app = await createApp(config);
  const closers: (() => Promise<unknown>)[] = [];
  if (opts.worker) {
    app.startWorker();
    app.logger.info({ concurrency: config.SYNC_CONCURRENCY }, 'worker started');
    // A worker alone has no API: its runs' metrics get a port of their own when one is configured.
    if (!opts.api && config.METRICS_PORT) {
      const metrics = await serveMetrics(app.metrics, {
        host: config.METRICS_HOST,
        port: config.METRICS_PORT,
        tokens: config.API_TOKENS,
      });
      app.logger.info(
        { address: `http://${config.METRICS_HOST}:${config.METRICS_PORT}/metrics` },
        'metrics listening',
      );
      closers.push(() => new Promise((resolve) => metrics.close(resolve)));
    }
  }
  if (opts.api) {
    const plain = plainTokenWarning(config.API_TOKENS);
    if (plain) app.logger.warn(plain);
    const server = buildServer(
      serverOptionsFromConfig(config, { services: app.services, redis: app.redis, log: app.logger }),
    );
    await server.listen({ host: config.API_HOST, port: config.API_PORT });
    app.logger.info({ address: `http://${config.API_HOST}:${config.API_PORT}` }, 'admin API listening');
    closers.push(() => server.close());
  }
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    app.logger.info({ signal }, 'shutting down: finishing running work');
    for (const close of closers) await close();
    await app.close();
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

export async function main(argv: string[]): Promise<void> {
  const program = new Command('billing-sync').description(
    'Consent-gated billing sync from SpinPanel to Autotask PSA (and NAV / Business Central)',
  );
  program
    .command('api')
    .description('run the admin HTTP API')
    .action(() => serve({ api: true, worker: false }));
  program
    .command('worker')
    .description('run a sync worker (run as many as you like against one Redis)')
    .action(() => serve({ api: false, worker: true }));
  program
    .command('serve')
    .description('run the admin API and a worker in one process')
    .action(() => serve({ api: true, worker: true }));
  program
    .command('demo')
    .description('run the whole story against local sandboxes and exit')
    .option('--target <target>', 'autotask, or navision (Business Central online)', 'autotask')
    .action(async (o: { target: string }) => {
      if (o.target !== 'autotask' && o.target !== 'navision') {
        throw new Error(`--target must be autotask or navision, not ${o.target}`);
      }
      const { runDemo } = await import('./demo.ts');
      await runDemo({ target: o.target });
    });
  registerPrivacyCommands(program);
  registerTokenCommand(program);
  registerLifecycleCommands(program);
  registerRemoteCommands(program);
  try {
    await program.parseAsync(argv);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`${error.message}\n`);
      process.exit(2);
    }
    process.stderr.write(`billing-sync: ${(error as Error).message}\n`);
    process.exit(1);
  }
}
