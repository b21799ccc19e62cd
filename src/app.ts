import { type Job, type Queue, QueueEvents, type Worker } from 'bullmq';
import type { Redis } from 'ioredis';
import type { Logger } from 'pino';
import { CONNECTORS, type ConnectorEnv, makeConnector, parseSettings } from '../connectors/registry.ts';
import type { Config } from './config.ts';
import { type Actor, type GrantConsentBody, grantConsent, listConsents } from './consent/consents.ts';
import { Gate } from './consent/gate.ts';
import { createLifecycleServices } from './consent/lifecycle.ts';
import { AppError, forbidden } from './errors.ts';
import { type CreateLinkBody, createLink, getLink, type Link, listLinks } from './links/links.ts';
import { type SettingsPatch, updateSettings } from './links/settings.ts';
import { Vault } from './links/vault.ts';
import { createLogger } from './logger.ts';
import type { OpsDeps } from './metrics.ts';
import { createMetrics, type Metrics } from './metrics.ts';
import { createNotifier, type Notifier } from './notify/notifier.ts';
import { type Maintenance, startMaintenance } from './privacy/maintenance.ts';
import { assertResidency } from './privacy/residency.ts';
import { retentionFromConfig } from './privacy/retention.ts';
import { createPrivacyServices } from './privacy/services.ts';
import type { RetryPolicy } from './queue/catalog.ts';
import { createSyncQueue, enqueueSync, queuePrefix } from './queue/queues.ts';
import { createUnlinkQueue, createUnlinkWorker, recoverUnlinks } from './queue/unlink.ts';
import { createSyncWorker } from './queue/worker.ts';
import { checkReadiness } from './readiness.ts';
import { SpinPanelClient } from './spinpanel/client.ts';
import { readAccount } from './spinpanel/snapshot.ts';
import { appendAudit } from './store/audit.ts';
import { auditKeyringFrom, bindAuditKeyring } from './store/audit-keys.ts';
import type { StoreContext } from './store/context.ts';
import { createKeys } from './store/keys.ts';
import { createRedisLimits } from './store/limits.ts';
import { checkRedis, createRedis } from './store/redis.ts';
import type { EngineDeps } from './sync/engine.ts';
import { getRun, listRuns, type RunRecord } from './sync/runs.ts';

export interface App {
  config: Config;
  logger: Logger;
  /** This app's Prometheus series (its own registry, so apps in one process never share one). */
  metrics: Metrics;
  redis: Redis;
  store: StoreContext;
  gate: Gate;
  queue: Queue;
  unlinkQueue: Queue;
  engine: EngineDeps;
  /** Problem notifications to NOTIFY_WEBHOOK_URL; absent when it is not configured. */
  notifier?: Notifier;
  services: Services;
  startWorker(concurrency?: number): Worker;
  close(): Promise<void>;
}

export type Services = ReturnType<typeof createServices>;

/** Builds everything a process needs from the parsed config: one Redis, one store, one gate, one queue. */
export async function createApp(
  config: Config,
  /** `now`: the clock runs take their local day from (tests move it). */
  opts: { logger?: Logger; now?: () => number } = {},
): Promise<App> {
  assertResidency(config);
  const logger = opts.logger ?? createLogger(config.LOG_LEVEL);
  if (!config.CREDENTIALS_KEYS) throw new AppError('config', 500, 'CREDENTIALS_KEYS is required');
  // Every audit entry this process appends is signed with AUDIT_KEYS (or keys derived from CREDENTIALS_KEYS).
  const auditKeys = auditKeyringFrom(config);
  const redis = createRedis(config.REDIS_URL);
  // Without a listener ioredis and BullMQ print every failed reconnect as plain text: one JSON line instead,
  // at most every 10 s per connection, while Redis is away.
  const connectionErrors = (what: string) => {
    let last = 0;
    return (err: Error) => {
      if (Date.now() - last < 10_000) return;
      last = Date.now();
      logger.error({ err: err.message, connection: what }, 'redis connection error');
    };
  };
  redis.on('error', connectionErrors('main'));
  const check = await checkRedis(redis, { allowEviction: config.REDIS_ALLOW_EVICTION }).catch(async (e) => {
    redis.disconnect();
    throw e;
  });
  logger.debug({ redis: check }, 'redis checked');
  const keys = bindAuditKeyring(createKeys(config.REDIS_PREFIX), auditKeys);
  const store: StoreContext = {
    redis,
    keys,
    vault: new Vault(config.CREDENTIALS_KEYS),
    now: () => new Date(),
  };
  const metrics = createMetrics();
  const gate = new Gate(redis, keys, metrics);
  const queue = createSyncQueue(redis, config.REDIS_PREFIX);
  const unlinkQueue = createUnlinkQueue(redis, config.REDIS_PREFIX);
  queue.on('error', connectionErrors('sync queue'));
  unlinkQueue.on('error', connectionErrors('unlink queue'));
  metrics.watchQueues([queue, unlinkQueue]);
  const ops: OpsDeps = {
    metrics,
    queues: [queue, unlinkQueue],
    dashboard: config.OPS_DASHBOARD,
    ready: () =>
      checkReadiness({
        redis,
        queues: [queue, unlinkQueue],
        workersMin: config.READY_WORKERS_MIN,
        timeoutMs: config.READY_TIMEOUT_MS,
      }),
  };
  const connectorEnv: ConnectorEnv = {
    autotaskZoneLookupUrl: config.AUTOTASK_ZONE_LOOKUP_URL,
    autotaskAllowedHosts: config.AUTOTASK_ALLOWED_HOSTS,
    navisionAllowedHosts: config.NAVISION_ALLOWED_HOSTS,
    autotaskBudget: { reserve: config.AUTOTASK_BUDGET_RESERVE, spacingMs: config.AUTOTASK_BUDGET_SPACING_MS },
  };
  const notifier =
    config.NOTIFY_WEBHOOK_URL && config.NOTIFY_WEBHOOK_SECRET
      ? createNotifier({
          store,
          connection: redis,
          prefix: config.REDIS_PREFIX,
          target: {
            url: config.NOTIFY_WEBHOOK_URL,
            secret: config.NOTIFY_WEBHOOK_SECRET,
            timeoutMs: config.HTTP_TIMEOUT_MS,
          },
          backoffMs: config.SYNC_BACKOFF_MS,
          logger,
        })
      : undefined;
  const engine: EngineDeps = {
    store,
    gate,
    spinpanelUrl: config.SPINPANEL_API_URL,
    httpTimeoutMs: config.HTTP_TIMEOUT_MS,
    applyConcurrency: config.SYNC_APPLY_CONCURRENCY,
    fullDetailRuns: config.RUN_FULL_DETAIL_RUNS,
    metrics,
    ...(opts.now ? { now: opts.now } : {}),
    ...(notifier ? { onRunFinished: notifier.onRunFinished } : {}),
    makeConnector: (link, secrets, http, signal) =>
      makeConnector(link.target, secrets.target, link.settings, http, connectorEnv, signal, linkLimits(link)),
  };
  // Thread slots and the request log live in Redis, so every worker process shares one link's limits. A slot
  // outlives the longest request (the HTTP timeout), then lapses, so a crashed process cannot keep it.
  const linkLimits = (link: Link) =>
    createRedisLimits({
      redis,
      keys,
      accountId: link.accountId,
      linkId: link.id,
      leaseMs: config.HTTP_TIMEOUT_MS + 10_000,
      // Autotask counts an hour, Business Central five minutes.
      ...(CONNECTORS[link.target]?.limitsWindowMs
        ? { windowMs: CONNECTORS[link.target]!.limitsWindowMs }
        : {}),
    });
  const workers: Worker[] = [];
  // BullMQ does not close a connection it was handed, so the app keeps the ones it makes and closes them itself.
  const connections: Redis[] = [];
  const dup = () => {
    const c = redis.duplicate();
    c.on('error', connectionErrors('worker'));
    connections.push(c);
    return c;
  };
  let queueEvents: QueueEvents | undefined;
  const retry: RetryPolicy = {
    attempts: config.SYNC_ATTEMPTS,
    backoffMs: config.SYNC_BACKOFF_MS,
    keepJobsSeconds: Math.ceil(config.RETENTION_LOGS_DAYS * 86_400),
  };
  let maintenance: Maintenance | undefined;
  const services = createServices({
    store,
    gate,
    queue,
    unlinkQueue,
    retry,
    config,
    connectorEnv,
    ops,
    events: () => {
      queueEvents ??= new QueueEvents('sync', {
        connection: dup(),
        prefix: queuePrefix(config.REDIS_PREFIX),
      });
      return queueEvents;
    },
  });
  return {
    config,
    logger,
    metrics,
    redis,
    store,
    gate,
    queue,
    unlinkQueue,
    engine,
    ...(notifier ? { notifier } : {}),
    services,
    startWorker(concurrency = config.SYNC_CONCURRENCY) {
      const worker = createSyncWorker({
        connection: dup(),
        prefix: config.REDIS_PREFIX,
        concurrency,
        engine,
        logger,
        lockTtlMs: config.SYNC_LOCK_TTL_MS,
        metrics,
      });
      workers.push(worker);
      // Every worker process also unlinks (its own queue, so unlinking never waits behind long syncs).
      if (!workers.some((w) => w.name === 'unlink')) {
        const unlinker = createUnlinkWorker({
          connection: dup(),
          prefix: config.REDIS_PREFIX,
          deps: { store, syncQueue: queue, lockTtlMs: config.SYNC_LOCK_TTL_MS },
          logger,
        });
        workers.push(unlinker);
        unlinker.on('completed', () => metrics.jobs.inc({ queue: 'unlink', outcome: 'completed' }));
        unlinker.on('failed', () => metrics.jobs.inc({ queue: 'unlink', outcome: 'failed' }));
        recoverUnlinks(store, unlinkQueue)
          .then((ids) => ids.length > 0 && logger.info({ linkIds: ids }, 'queued unfinished unlinks'))
          .catch((err: Error) => logger.error({ err: err.message }, 'unlink recovery failed'));
      }
      // Every worker process also delivers notifications (its own queue, retried there).
      if (notifier && !workers.some((w) => w.name === 'notify')) workers.push(notifier.startWorker(dup()));
      // Every worker process also runs the retention sweeper (one schedule, shared by all processes).
      maintenance ??= startMaintenance({
        redis,
        store,
        policy: retentionFromConfig(config),
        everyMinutes: config.RETENTION_SWEEP_MINUTES,
        logger,
      });
      return worker;
    },
    async close() {
      // Running jobs finish or are cancelled before connections close (graceful shutdown).
      await Promise.all(workers.map((w) => w.close()));
      await maintenance?.close();
      await notifier?.close();
      await queueEvents?.close();
      await queue.close();
      await unlinkQueue.close();
      for (const c of connections) c.disconnect();
      redis.disconnect();
    },
  };
}

interface ServiceDeps {
  store: StoreContext;
  gate: Gate;
  queue: Queue;
  unlinkQueue: Queue;
  retry: RetryPolicy;
  config: Config;
  connectorEnv: ConnectorEnv;
  events: () => QueueEvents;
  /** Readiness, metrics and the queues, for the API's operations routes (src/http/ops.ts). */
  ops?: OpsDeps;
}

/** What the admin API and the CLI can do; each takes the caller's identity, never trusts the body for it. */
export function createServices(d: ServiceDeps) {
  const { store, queue, retry, config } = d;
  const lifecycle = createLifecycleServices({
    store,
    syncQueue: queue,
    unlinkQueue: d.unlinkQueue,
    retry,
    waitMs: config.REVOKE_WAIT_MS,
  });
  const services = {
    grantConsent: (actor: Actor, accountId: string, body: GrantConsentBody) =>
      grantConsent(store, actor, accountId, body, config.POLICY_VERSION),
    listConsents: (accountId: string) => listConsents(store, accountId),
    // Revoke answers once nothing more of its links can leave; suspend/resume pause a link without forgetting.
    revokeConsent: timed(d.ops?.metrics, lifecycle.revokeConsent),
    suspendLink: lifecycle.suspendLink,
    resumeLink: lifecycle.resumeLink,
    async createLink(actor: Actor, accountId: string, body: CreateLinkBody): Promise<Link> {
      const link = await createLink(
        store,
        {
          parseSettings,
          defaultEveryMinutes: config.SYNC_INTERVAL_MINUTES,
          // Before a link exists, its checks pass the gate of the consent it is made under: first the key's account…
          spinpanelAccount: async (apiKey, under) => {
            const http = d.gate.verifyClient(under.accountId, under.consentId, {
              timeoutMs: config.HTTP_TIMEOUT_MS,
              baseURL: config.SPINPANEL_API_URL,
              headers: { Authorization: `Bearer ${apiKey}` },
            });
            return (await readAccount(new SpinPanelClient(http))).id;
          },
          // …then the target's credentials.
          verify: (target, credentials, settings, under) =>
            makeConnector(
              target,
              credentials,
              settings,
              d.gate.verifyClient(under.accountId, under.consentId, { timeoutMs: config.HTTP_TIMEOUT_MS }),
              d.connectorEnv,
            ).verify(),
        },
        actor,
        accountId,
        body,
      );
      // Not scheduleLink: a revocation committed since the link was saved must not get a schedule back.
      await lifecycle.settleSchedule(accountId, link.id);
      return link;
    },
    listLinks: (accountId: string) => listLinks(store, accountId),
    getLink: (accountId: string, linkId: string) => getLink(store, accountId, linkId),
    /** PATCH of a link's settings (validated whole; audited); the next run uses them. */
    updateSettings: (actor: Actor, accountId: string, linkId: string, patch: SettingsPatch) =>
      updateSettings(store, { parseSettings }, actor, accountId, linkId, patch),
    /** The mapping, with the last run's unmapped customers and the target records suggested for each. */
    async getMapping(accountId: string, linkId: string) {
      const doc = await lifecycle.getMapping(accountId, linkId);
      const [last] = await listRuns(store, accountId, linkId, 1);
      return { ...doc, unmapped: last?.unmapped ?? [] };
    },
    putMapping: lifecycle.putMapping,
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
      return queueAndWait(link, opts.dryRun, opts.waitMs);
    },
    /**
     * Approves a run awaiting approval (review mode): queues a run that applies its plan if SpinPanel and the
     * target are as that run read them, else plans again and waits for another approval. Audited.
     */
    async approveRun(
      actor: Actor,
      accountId: string,
      linkId: string,
      runId: string,
      opts: { waitMs?: number } = {},
    ): Promise<{ runId: string; state: string; run?: RunRecord }> {
      if (actor.role !== 'company_admin' && actor.role !== 'reseller')
        throw forbidden('approving a run is an admin action');
      const link = await getLink(store, accountId, linkId);
      if (link.status !== 'active')
        throw new AppError('link_not_active', 409, `link ${linkId} is ${link.status}`);
      const reviewed = await getRun(store, accountId, linkId, runId);
      if (reviewed.status !== 'awaiting-approval')
        throw new AppError(
          'run_not_awaiting_approval',
          409,
          `run ${runId} is ${reviewed.status}, not awaiting approval`,
        );
      // Recorded before the run is queued: a queued approval is never unaccounted for.
      await appendAudit(store.redis, store.keys, accountId, {
        type: 'run.approved',
        actor,
        subject: { linkId },
        data: { runId: reviewed.id, ops: reviewed.plan?.length ?? 0 },
      });
      return queueAndWait(link, false, opts.waitMs, reviewed.id);
    },
  };
  /** Queues a run; with `waitMs` waits for it to finish and returns the run record too. */
  async function queueAndWait(
    link: Link,
    dryRun: boolean,
    waitMs?: number,
    approvedRunId?: string,
  ): Promise<{ runId: string; state: string; run?: RunRecord }> {
    const job: Job = await enqueueSync(queue, link, dryRun, retry, approvedRunId);
    const runId = job.id!;
    if (!waitMs) return { runId, state: 'queued' };
    try {
      await job.waitUntilFinished(d.events(), waitMs);
    } catch (error) {
      const state = await job.getState();
      if (state !== 'failed') return { runId, state };
      void error;
    }
    const run = await getRun(store, link.accountId, link.id, runId).catch(() => undefined);
    return { runId, state: await job.getState(), run };
  }
  // Data rights (export, erasure, removed users, webhook…) reuse this revocation rather than their own.
  const privacy = createPrivacyServices({
    store,
    config,
    retention: retentionFromConfig(config),
    revokeConsent: (actor, accountId, consentId) => services.revokeConsent(actor, accountId, consentId),
  });
  return { ...services, ...privacy, ops: d.ops };
}

/** A revocation's time to answer, by outcome, in the revoke latency histogram. */
function timed<A extends unknown[], R>(metrics: Metrics | undefined, revoke: (...a: A) => Promise<R>) {
  if (!metrics) return revoke;
  return async (...args: A): Promise<R> => {
    const end = metrics.revokeSeconds.startTimer();
    try {
      const r = await revoke(...args);
      end({ outcome: 'answered' });
      return r;
    } catch (error) {
      end({ outcome: 'refused' });
      throw error;
    }
  };
}
