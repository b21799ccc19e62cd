import axios from 'axios';
import { type Job, type Queue, QueueEvents, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import type { LinkMapping } from '../connectors/types.ts';
import type { Config } from './config.ts';
import { type Actor, type GrantConsentBody, grantConsent, listConsents } from './consent/consents.ts';
import { Gate } from './consent/gate.ts';
import { type RevokeResult, revokeConsent } from './consent/revoke.ts';
import { AppError, forbidden } from './errors.ts';
import { type CreateLinkBody, createLink, getLink, type Link, listLinks, putMapping } from './links/links.ts';
import { Vault } from './links/vault.ts';
import { createLogger } from './logger.ts';
import type { RetryPolicy } from './queue/catalog.ts';
import { createSyncQueue, enqueueSync, queuePrefix, scheduleLink, unscheduleLink } from './queue/queues.ts';
import { createSyncWorker } from './queue/worker.ts';
import type { StoreContext } from './store/context.ts';
import { createKeys } from './store/keys.ts';
import { checkRedis, createRedis } from './store/redis.ts';
import { makeConnector, parseSettings } from './sync/connectors.ts';
import type { EngineDeps } from './sync/engine.ts';
import { getRun, listRuns, type RunRecord } from './sync/runs.ts';

export interface App {
  config: Config;
  logger: Logger;
  redis: Redis;
  store: StoreContext;
  gate: Gate;
  queue: Queue;
  engine: EngineDeps;
  services: Services;
  startWorker(concurrency?: number): Worker;
  close(): Promise<void>;
}

export type Services = ReturnType<typeof createServices>;

/** Builds everything a process needs from the parsed config: one Redis, one store, one gate, one queue. */
export async function createApp(config: Config, opts: { logger?: Logger } = {}): Promise<App> {
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  if (!config.CREDENTIALS_KEYS) throw new AppError('config', 500, 'CREDENTIALS_KEYS is required');
  const redis = createRedis(config.REDIS_URL);
  const check = await checkRedis(redis, { allowEviction: config.REDIS_ALLOW_EVICTION }).catch(async (e) => {
    redis.disconnect();
    throw e;
  });
  logger.debug({ redis: check }, 'redis checked');
  const keys = createKeys(config.REDIS_PREFIX);
  const store: StoreContext = {
    redis,
    keys,
    vault: new Vault(config.CREDENTIALS_KEYS),
    now: () => new Date(),
  };
  const gate = new Gate(redis, keys);
  const queue = createSyncQueue(redis, config.REDIS_PREFIX);
  const connectorEnv = { autotaskZoneLookupUrl: config.AUTOTASK_ZONE_LOOKUP_URL };
  const engine: EngineDeps = {
    store,
    gate,
    spinpanelUrl: config.SPINPANEL_API_URL,
    httpTimeoutMs: config.HTTP_TIMEOUT_MS,
    makeConnector: (link, secrets, http, signal) =>
      makeConnector(link.target, secrets.target, link.settings, http, connectorEnv, signal),
  };
  const workers: Worker[] = [];
  let queueEvents: QueueEvents | undefined;
  const retry: RetryPolicy = { attempts: config.SYNC_ATTEMPTS, backoffMs: config.SYNC_BACKOFF_MS };
  const services = createServices({
    store,
    queue,
    retry,
    config,
    connectorEnv,
    events: () => {
      queueEvents ??= new QueueEvents('sync', {
        connection: redis.duplicate(),
        prefix: queuePrefix(config.REDIS_PREFIX),
      });
      return queueEvents;
    },
  });
  return {
    config,
    logger,
    redis,
    store,
    gate,
    queue,
    engine,
    services,
    startWorker(concurrency = config.SYNC_CONCURRENCY) {
      const worker = createSyncWorker({
        connection: redis.duplicate(),
        prefix: config.REDIS_PREFIX,
        concurrency,
        engine,
        logger,
        lockTtlMs: config.SYNC_LOCK_TTL_MS,
      });
      workers.push(worker);
      return worker;
    },
    async close() {
      // Running jobs finish or are cancelled before connections close (graceful shutdown).
      await Promise.all(workers.map((w) => w.close()));
      await queueEvents?.close();
      await queue.close();
      redis.disconnect();
    },
  };
}

interface ServiceDeps {
  store: StoreContext;
  queue: Queue;
  retry: RetryPolicy;
  config: Config;
  connectorEnv: { autotaskZoneLookupUrl: string };
  events: () => QueueEvents;
}

/** What the admin API and the CLI can do; each takes the caller's identity, never trusts the body for it. */
export function createServices(d: ServiceDeps) {
  const { store, queue, retry, config } = d;
  return {
    grantConsent: (actor: Actor, accountId: string, body: GrantConsentBody) =>
      grantConsent(store, actor, accountId, body, config.POLICY_VERSION),
    listConsents: (accountId: string) => listConsents(store, accountId),
    async revokeConsent(
      actor: Actor,
      accountId: string,
      consentId: string,
    ): Promise<RevokeResult & { unscheduled: string[] }> {
      const result = await revokeConsent(store, actor, accountId, consentId);
      const unscheduled: string[] = [];
      for (const linkId of result.closedLinkIds) {
        if (await unscheduleLink(queue, accountId, linkId)) unscheduled.push(linkId);
      }
      return { ...result, unscheduled };
    },
    async createLink(actor: Actor, accountId: string, body: CreateLinkBody): Promise<Link> {
      const link = await createLink(
        store,
        {
          parseSettings,
          defaultEveryMinutes: config.SYNC_INTERVAL_MINUTES,
          // Before a link exists there is no gate to pass: this one call only checks the credentials.
          verify: (target, credentials, settings) =>
            makeConnector(
              target,
              credentials,
              settings,
              axios.create({ timeout: config.HTTP_TIMEOUT_MS }),
              d.connectorEnv,
            ).verify(),
        },
        actor,
        accountId,
        body,
      );
      await scheduleLink(queue, link, retry);
      return link;
    },
    listLinks: (accountId: string) => listLinks(store, accountId),
    getLink: (accountId: string, linkId: string) => getLink(store, accountId, linkId),
    putMapping: (actor: Actor, accountId: string, linkId: string, mapping: LinkMapping) =>
      putMapping(store, actor, accountId, linkId, mapping),
    listRuns: (accountId: string, linkId: string) => listRuns(store, accountId, linkId),
    getRun: (accountId: string, linkId: string, runId: string) => getRun(store, accountId, linkId, runId),
    /** "Sync now": queues a run; with `waitMs` waits for it to finish and returns the run record. */
    async syncNow(
      actor: Actor,
      accountId: string,
      linkId: string,
      opts: { dryRun: boolean; waitMs?: number },
    ): Promise<{ runId: string; state: string; run?: RunRecord }> {
      if (actor.role === 'user') throw forbidden('starting a sync is an admin action');
      const link = await getLink(store, accountId, linkId);
      if (link.status !== 'active')
        throw new AppError('link_not_active', 409, `link ${linkId} is ${link.status}`);
      const job: Job = await enqueueSync(queue, link, opts.dryRun, retry);
      const runId = job.id!;
      if (!opts.waitMs) return { runId, state: 'queued' };
      try {
        await job.waitUntilFinished(d.events(), opts.waitMs);
      } catch (error) {
        const state = await job.getState();
        if (state !== 'failed') return { runId, state };
        void error;
      }
      const run = await getRun(store, accountId, linkId, runId).catch(() => undefined);
      return { runId, state: await job.getState(), run };
    },
  };
}
