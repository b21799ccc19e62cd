/**
 * A separate worker process for the cross-process limit test: one Autotask client firing `n` queries at once
 * at one endpoint once the test says go (so two processes overlap whatever their start-up time). Prints JSON.
 * Input (env HAMMER, JSON): { redisUrl, prefix, zoneLookupUrl, credentials, n, shared }.
 */
import axios from 'axios';
import { Redis } from 'ioredis';
import { AutotaskClient } from '../../connectors/autotask/client.ts';
import { createKeys } from '../../src/store/keys.ts';
import { createRedisLimits } from '../../src/store/limits.ts';

const input = JSON.parse(process.env.HAMMER ?? '{}');
const redis = new Redis(input.redisUrl, { maxRetriesPerRequest: null });
const client = new AutotaskClient({
  http: axios.create({ timeout: 10_000 }),
  credentials: input.credentials,
  zoneLookupUrl: input.zoneLookupUrl,
  // `shared: false` is the control: each process keeps to 3 on its own, together they exceed it.
  ...(input.shared
    ? {
        limits: createRedisLimits({
          redis,
          keys: createKeys(input.prefix),
          accountId: 'acct-hammer',
          linkId: 'link-hammer',
          leaseMs: 15_000,
        }),
      }
    : {}),
});
await client.zoneUrl();
// Ready; wait for the test to say go, so both processes fire at the same moment.
await redis.incr(`${input.prefix}:ready`);
while ((await redis.get(`${input.prefix}:go`)) === null) await new Promise((r) => setTimeout(r, 5));
const results = await Promise.allSettled(
  Array.from({ length: input.n }, (_, i) =>
    client.queryPage('Companies', [{ op: 'gte', field: 'id', value: i % 3 }], { maxRecords: 1 }),
  ),
);
process.stdout.write(JSON.stringify({ ok: results.filter((r) => r.status === 'fulfilled').length }));
redis.disconnect();
