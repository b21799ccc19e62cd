/**
 * A sync worker process for e2e tests that kill it: the app as `billing-sync worker` builds it, but on the test
 * world's clock (`WORLD_CLOCK_OFFSET_MS` from the real one), so its runs bill the world's month, not today's.
 * Run as `node --import tsx test/helpers/nav-worker-child.ts` with the world's env.
 */
import pino from 'pino';
import { createApp } from '../../src/app.ts';
import { loadConfig } from '../../src/config.ts';

const offset = Number(process.env.WORLD_CLOCK_OFFSET_MS ?? '0');
const app = await createApp(loadConfig(process.env), {
  logger: pino({ level: 'silent' }),
  now: () => Date.now() + offset,
});
app.startWorker(1);
process.send?.('ready');
