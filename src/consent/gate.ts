import { randomUUID } from 'node:crypto';
import axios, { type AxiosAdapter, type AxiosInstance } from 'axios';
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.ts';
import { admit, release } from './inflight.ts';

/** Which link a piece of work acts for, and the epoch it was started under. */
export interface GateRef {
  accountId: string;
  linkId: string;
  epoch: number;
}

export class GateClosedError extends Error {
  override name = 'GateClosedError';
  constructor(
    readonly ref: GateRef,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`link ${ref.linkId} may not act: ${reason}`, options);
  }
}

/** Counts the requests a run makes, per host, so a run record can say how many API calls it used. */
export class RequestCounter {
  total = 0;
  readonly byHost: Record<string, number> = {};
  add(url: string | undefined): void {
    this.total++;
    let host = 'unknown';
    try {
      host = new URL(url ?? '').host;
    } catch {}
    this.byHost[host] = (this.byHost[host] ?? 0) + 1;
  }
}

export interface GateClientOptions {
  baseURL?: string;
  headers?: Record<string, string>;
  timeoutMs: number;
  /** The run's cancellation: once aborted, no further request of this client is admitted. */
  signal?: AbortSignal;
  counter?: RequestCounter;
}

const reasonOf = (signal: AbortSignal) =>
  typeof signal.reason === 'string' ? `the run was cancelled (${signal.reason})` : 'the run was cancelled';

/**
 * The one way out for a link's HTTP traffic. Connectors receive an axios instance from here and cannot skip the
 * check: right before a request goes on the wire, one Lua script checks the link's status and epoch and, in the
 * same step, registers the request in the link's in-flight set; the entry is removed when the answer (or an
 * error) comes back. A revocation closes the gate in one MULTI and then waits for that set to empty, so when it
 * answers, nothing of the link is on the wire and nothing more can leave.
 *
 * An admitted request is not torn down when the run is cancelled: closing a socket does not take back bytes
 * already sent, so only the target's answer proves the request arrived before the revocation answered. The
 * run's signal stops everything else — the next request, throttle waits, the rest of the plan.
 */
export class Gate {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
  ) {}

  async assertOpen(ref: GateRef): Promise<void> {
    const [status, epoch] = await this.redis.hmget(
      this.keys.link(ref.accountId, ref.linkId),
      'status',
      'epoch',
    );
    if (status === null) throw new GateClosedError(ref, 'the link no longer exists');
    if (status !== 'active') throw new GateClosedError(ref, `the link is ${status}`);
    if (Number(epoch) !== ref.epoch) {
      throw new GateClosedError(ref, `the link changed (epoch ${epoch}, work started under ${ref.epoch})`);
    }
  }

  client(ref: GateRef, opts: GateClientOptions): AxiosInstance {
    const http = axios.create({
      baseURL: opts.baseURL,
      headers: opts.headers,
      timeout: opts.timeoutMs,
      // Status handling is the connectors' job; the gate only decides whether a request may leave.
      validateStatus: (s) => s >= 200 && s < 300,
    });
    const wire = axios.getAdapter(axios.defaults.adapter);
    const gated: AxiosAdapter = async (config) => {
      if (opts.signal?.aborted) throw new GateClosedError(ref, reasonOf(opts.signal));
      // Every admitted request has a deadline, so a token left by a dead process can be told from a live one.
      const timeout = config.timeout && config.timeout > 0 ? config.timeout : opts.timeoutMs;
      const token = randomUUID();
      const verdict = await admit(this.redis, this.keys, ref, token, timeout);
      if (verdict !== 'ok') throw new GateClosedError(ref, verdict);
      opts.counter?.add(http.getUri(config));
      config.timeout = timeout;
      config.signal = undefined;
      try {
        return await wire(config);
      } finally {
        // A failed removal leaves the token to lapse at its deadline; the request's own outcome still counts.
        await release(this.redis, this.keys, ref, token).catch(() => {});
      }
    };
    http.interceptors.request.use((config) => {
      if (opts.signal?.aborted) throw new GateClosedError(ref, reasonOf(opts.signal));
      // Set on every request, so a per-request `adapter` cannot route around the gate.
      config.adapter = gated;
      return config;
    });
    return http;
  }
}
