import { randomUUID } from 'node:crypto';
import axios, { type AxiosAdapter, AxiosError, type AxiosInstance } from 'axios';
import type { Redis } from 'ioredis';
import { endpointOf, type Metrics } from '../metrics.ts';
import { isRedirect, redirectRefused } from '../net/http.ts';
import type { Keys } from '../store/keys.ts';
import { admit, consentDoor, type Door, linkDoor, release } from './inflight.ts';

/** Which link a piece of work acts for, and the epoch it was started under. */
export interface GateRef {
  accountId: string;
  linkId: string;
  epoch: number;
}

export class GateClosedError extends Error {
  override name = 'GateClosedError';
  constructor(
    /** Who was refused: "link 42", "a link being made under consent 7". */
    readonly subject: string,
    readonly reason: string,
    options?: { cause?: unknown },
  ) {
    super(`${subject} may not act: ${reason}`, options);
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
 *
 * Every admitted request ends by a deadline counted from *before* it asked to be admitted (a wall-clock timer,
 * not only axios's socket timeout), and its token's deadline in Redis is that plus a margin. So however late
 * the admission's reply reaches a worker (a slow Redis connection, a paused process), the request is over before
 * a revocation could take its token for a dead process's and answer.
 *
 * No redirect is followed: a 3xx ends the request with a permanent error naming the host it pointed to. A hop
 * that must happen is a request of its own, admitted (and, for a connector, host-checked) like any other.
 */
export class Gate {
  constructor(
    private readonly redis: Redis,
    private readonly keys: Keys,
    /** Where admissions, refusals and answers are counted. */
    private readonly metrics?: Metrics,
  ) {}

  async assertOpen(ref: GateRef): Promise<void> {
    const [status, epoch] = await this.redis.hmget(
      this.keys.link(ref.accountId, ref.linkId),
      'status',
      'epoch',
    );
    const closed = (reason: string) => new GateClosedError(`link ${ref.linkId}`, reason);
    if (status === null) throw closed('the link no longer exists');
    if (status !== 'active') throw closed(`the link is ${status}`);
    if (Number(epoch) !== ref.epoch) {
      throw closed(`the link changed (epoch ${epoch}, work started under ${ref.epoch})`);
    }
  }

  /** The HTTP client of a run of one link under one epoch. */
  client(ref: GateRef, opts: GateClientOptions): AxiosInstance {
    return this.through(linkDoor(this.keys, ref), opts);
  }

  /**
   * The HTTP client that checks a new link's credentials before the link exists: admitted only while the consent
   * it is made under is active, and drained by that consent's revocation like a link's own requests.
   */
  verifyClient(accountId: string, consentId: string, opts: GateClientOptions): AxiosInstance {
    return this.through(consentDoor(this.keys, accountId, consentId), opts);
  }

  private through(door: Door, opts: GateClientOptions): AxiosInstance {
    const wire = axios.getAdapter(axios.defaults.adapter);
    const gated: AxiosAdapter = async (config) => {
      if (opts.signal?.aborted) throw new GateClosedError(door.subject, reasonOf(opts.signal));
      const timeout = config.timeout && config.timeout > 0 ? config.timeout : opts.timeoutMs;
      const asked = performance.now();
      const token = randomUUID();
      const verdict = await admit(this.redis, door, token, timeout);
      if (verdict !== 'ok') {
        // The reason without the epochs it names, so the label has a handful of values.
        this.metrics?.gateRefusals.inc({ reason: verdict.replace(/ \(.*\)$/, '') });
        throw new GateClosedError(door.subject, verdict);
      }
      const deadline = new AbortController();
      const timedOut = () =>
        new AxiosError(`timeout of ${timeout}ms exceeded`, AxiosError.ECONNABORTED, config);
      try {
        const left = Math.floor(timeout - (performance.now() - asked));
        // The admission's reply came too late to send anything before the token's deadline: a timeout, not sent.
        if (left <= 0) throw timedOut();
        const timer = setTimeout(() => deadline.abort(), left);
        const url = axios.getUri(config);
        opts.counter?.add(url);
        config.timeout = left;
        config.signal = deadline.signal;
        // Set here, last: no per-request option turns following redirects back on.
        config.maxRedirects = 0;
        let res: Awaited<ReturnType<AxiosAdapter>>;
        const endpoint = endpointOf(url);
        try {
          res = await wire(config);
          this.metrics?.targetRequests.inc({ status: String(res.status), endpoint });
        } catch (error) {
          const answer = axios.isAxiosError(error) ? error.response : undefined;
          this.metrics?.targetRequests.inc({ status: answer ? String(answer.status) : 'error', endpoint });
          if (answer?.status === 429) this.metrics?.throttleWaits.inc({ endpoint });
          if (deadline.signal.aborted) throw timedOut();
          if (isRedirect(answer?.status)) throw redirectRefused(answer.status, url, answer.headers?.location);
          throw error;
        } finally {
          clearTimeout(timer);
          // Axios checks the config's signal again on the way back: the run's cancellation must not discard an
          // answer that came (see above), and the deadline's is reported as the timeout it is.
          config.signal = undefined;
        }
        // A status check of the request's own may have let a 3xx through: still not followed.
        if (isRedirect(res.status)) throw redirectRefused(res.status, url, res.headers?.location);
        return res;
      } finally {
        // A failed removal leaves the token to lapse at its deadline; the request's own outcome still counts.
        await release(this.redis, door, token).catch(() => {});
      }
    };
    const http = axios.create({
      baseURL: opts.baseURL,
      headers: opts.headers,
      timeout: opts.timeoutMs,
      // Every hop is its own admitted request: a followed redirect would take the link's headers (Autotask's
      // Secret, a bearer key) to whatever host the answer names, on this request's admission.
      maxRedirects: 0,
      adapter: gated,
      // Status handling is the connectors' job; the gate only decides whether a request may leave.
      validateStatus: (s) => s >= 200 && s < 300,
    });
    http.interceptors.request.use((config) => {
      if (opts.signal?.aborted) throw new GateClosedError(door.subject, reasonOf(opts.signal));
      // Set on every request too, so a per-request `adapter` cannot route around the gate.
      config.adapter = gated;
      config.maxRedirects = 0;
      return config;
    });
    return http;
  }
}
