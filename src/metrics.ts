import type { Queue } from 'bullmq';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { Readiness } from './readiness.ts';

/**
 * The service's Prometheus series, on a registry of its own: the composition root makes one per app, so several
 * apps in one process (tests) never share or double-register a series. Modules receive it as an argument and
 * treat it as optional.
 */
export interface Metrics {
  registry: Registry;
  /** Runs that ended, by outcome (succeeded, partial, failed, cancelled, deferred) and target. */
  runs: Counter<'outcome' | 'target' | 'dry_run'>;
  /** Plan operations applied, by kind and outcome (applied, failed). */
  operations: Counter<'kind' | 'outcome'>;
  /** Requests the gate let out and their answers, by status ("error" when none came) and endpoint (host). */
  targetRequests: Counter<'status' | 'endpoint'>;
  /** Throttled answers (429) the client then waits out, by endpoint. */
  throttleWaits: Counter<'endpoint'>;
  /** The target's request budget seen at a run's end, by target and link (Autotask hourly, BC 5 minutes). */
  budgetUsed: Gauge<'target' | 'link_id'>;
  budgetThreshold: Gauge<'target' | 'link_id'>;
  /** Requests the gate refused (revoked, suspended, changed epoch…), by reason. */
  gateRefusals: Counter<'reason'>;
  /** Seconds a revocation took to answer (gate closed and nothing of its links on the wire). */
  revokeSeconds: Histogram<'outcome'>;
  /** Jobs a worker finished, by queue and outcome; and how long they waited before a worker took them. */
  jobs: Counter<'queue' | 'outcome'>;
  jobWaitSeconds: Histogram<'queue'>;
  /** Reads queue depth and the oldest waiting job's age from these queues at each scrape. */
  watchQueues(queues: Queue[]): void;
}

const STATES = ['waiting', 'active', 'delayed', 'failed', 'prioritized', 'waiting-children'] as const;

export function createMetrics(): Metrics {
  const registry = new Registry();
  const registers = [registry];
  const watched: Queue[] = [];
  const metrics: Metrics = {
    registry,
    runs: new Counter({
      name: 'billing_sync_runs_total',
      help: 'Sync runs that ended, by outcome and target',
      labelNames: ['outcome', 'target', 'dry_run'],
      registers,
    }),
    operations: new Counter({
      name: 'billing_sync_operations_total',
      help: 'Plan operations applied to a target, by kind and outcome',
      labelNames: ['kind', 'outcome'],
      registers,
    }),
    targetRequests: new Counter({
      name: 'billing_sync_target_requests_total',
      help: 'Requests sent through the consent gate, by answer status and endpoint (host)',
      labelNames: ['status', 'endpoint'],
      registers,
    }),
    throttleWaits: new Counter({
      name: 'billing_sync_throttle_waits_total',
      help: 'Throttled answers (429) a client then waited out, by endpoint',
      labelNames: ['endpoint'],
      registers,
    }),
    budgetUsed: new Gauge({
      name: 'billing_sync_target_budget_used',
      help: "Requests counted in the target's budget timeframe at the end of the link's last run",
      labelNames: ['target', 'link_id'],
      registers,
    }),
    budgetThreshold: new Gauge({
      name: 'billing_sync_target_budget_threshold',
      help: "The target's request budget per timeframe",
      labelNames: ['target', 'link_id'],
      registers,
    }),
    gateRefusals: new Counter({
      name: 'billing_sync_gate_refusals_total',
      help: 'Requests the consent gate refused, by reason',
      labelNames: ['reason'],
      registers,
    }),
    revokeSeconds: new Histogram({
      name: 'billing_sync_revoke_seconds',
      help: 'Time a consent revocation took to answer',
      labelNames: ['outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    jobs: new Counter({
      name: 'billing_sync_jobs_total',
      help: 'Queue jobs a worker of this process finished, by queue and outcome',
      labelNames: ['queue', 'outcome'],
      registers,
    }),
    jobWaitSeconds: new Histogram({
      name: 'billing_sync_job_wait_seconds',
      help: 'Time a job waited in its queue before a worker took it',
      labelNames: ['queue'],
      buckets: [0.05, 0.25, 1, 5, 15, 60, 300, 900, 3600],
      registers,
    }),
    watchQueues(queues) {
      watched.push(...queues);
    },
  };
  new Gauge({
    name: 'billing_sync_queue_jobs',
    help: 'Jobs in a queue, by state',
    labelNames: ['queue', 'state'],
    registers,
    async collect() {
      this.reset();
      for (const q of watched) {
        const counts = await q.getJobCounts(...STATES);
        for (const state of STATES) this.set({ queue: q.name, state }, counts[state] ?? 0);
      }
    },
  });
  new Gauge({
    name: 'billing_sync_queue_oldest_waiting_seconds',
    help: 'Age of the oldest job waiting in a queue (0 when none waits)',
    labelNames: ['queue'],
    registers,
    async collect() {
      this.reset();
      for (const q of watched) {
        const [oldest] = await q.getJobs(['waiting', 'prioritized'], 0, 0, true);
        this.set({ queue: q.name }, oldest ? Math.max(0, (Date.now() - oldest.timestamp) / 1000) : 0);
      }
    },
  });
  return metrics;
}

/** The endpoint label of a request: its host, so a label never holds a path, an id or a query. */
export function endpointOf(url: string | undefined): string {
  try {
    return new URL(url ?? '').host || 'unknown';
  } catch {
    return 'unknown';
  }
}

/**
 * What the API's operations routes read (src/http/ops.ts); the composition root makes it. Kept here, below both,
 * so the composition root does not import the HTTP layer.
 */
export interface OpsDeps {
  metrics: Metrics;
  ready: () => Promise<Readiness>;
  queues: Queue[];
  /** Mount the BullMQ dashboard. @defaultValue true */
  dashboard?: boolean;
}
