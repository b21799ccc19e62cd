import axios, { type AxiosInstance } from 'axios';
import type { Redis } from 'ioredis';
import type { Keys } from '../store/keys.ts';

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
  ) {
    super(`link ${ref.linkId} may not act: ${reason}`);
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
  signal?: AbortSignal;
  counter?: RequestCounter;
}

/**
 * The one way out for a link's HTTP traffic. Connectors receive an axios instance from here and cannot skip the
 * check: before every request it reads the link's status and epoch (one HMGET) and refuses when consent was
 * revoked, the link suspended or unlinked, or the epoch moved on since the work began.
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
    http.interceptors.request.use(async (config) => {
      if (opts.signal?.aborted) throw new GateClosedError(ref, 'the run was cancelled');
      await this.assertOpen(ref);
      if (opts.signal && !config.signal) config.signal = opts.signal;
      opts.counter?.add(http.getUri(config));
      return config;
    });
    return http;
  }
}
