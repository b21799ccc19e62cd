import { odataError } from './errors.ts';
import type { LimitOptions } from './types.ts';

/**
 * Business Central's per-user (per service principal) request limits: a sliding window of requests (6,000 per
 * 5 minutes online → 429), 5 requests processed at once with up to 95 waiting (a full queue → 429), and a request
 * that waited too long → 503 with Retry-After. The texts and codes of these answers are not documented; the ones
 * here are inferred.
 */

export type Limits = Required<Omit<LimitOptions, 'retryAfter'>> & { retryAfter: number | 'auto' | null };

export const DEFAULT_LIMITS: Limits = {
  maxConcurrent: 5,
  maxQueue: 95,
  maxQueueWaitMs: 8 * 60_000,
  windowRequests: 6000,
  windowMs: 5 * 60_000,
  retryAfter: null,
};

interface Waiter {
  admit(): void;
  timer: NodeJS.Timeout;
}

interface Gate {
  active: number;
  queue: Waiter[];
  hits: number[];
}

export class Limiter {
  private readonly gates = new Map<string, Gate>();

  constructor(private readonly limits: () => Limits) {}

  private gate(who: string): Gate {
    let g = this.gates.get(who);
    if (!g) {
      g = { active: 0, queue: [], hits: [] };
      this.gates.set(who, g);
    }
    return g;
  }

  /** Requests of `who` in the current window (for tests). */
  count(who: string, now = Date.now()): number {
    const g = this.gate(who);
    const from = now - this.limits().windowMs;
    while (g.hits.length > 0 && (g.hits[0] as number) <= from) g.hits.shift();
    return g.hits.length;
  }

  /** Waits for a processing slot; resolves to the function that frees it. */
  async enter(who: string): Promise<() => void> {
    const l = this.limits();
    const g = this.gate(who);
    const now = Date.now();
    if (this.count(who, now) >= l.windowRequests) {
      const oldest = g.hits[0] ?? now;
      const wait = Math.max(1, Math.ceil((oldest + l.windowMs - now) / 1000));
      const after = l.retryAfter === 'auto' ? wait : l.retryAfter;
      throw odataError(
        429,
        'Application_TooManyRequests',
        `Too many requests reached. Actual (${l.windowRequests + 1}). Maximum (${l.windowRequests}).`,
        after === null ? undefined : { 'Retry-After': String(after) },
      );
    }
    if (g.active >= l.maxConcurrent && g.queue.length >= l.maxQueue) {
      throw odataError(
        429,
        'Application_TooManyRequests',
        `Too many requests reached. Actual (${l.maxConcurrent + l.maxQueue + 1}). Maximum (${l.maxConcurrent + l.maxQueue}).`,
      );
    }
    g.hits.push(now);
    if (g.active < l.maxConcurrent) {
      g.active++;
    } else {
      await new Promise<void>((admit, refuse) => {
        const waiter: Waiter = {
          admit,
          timer: setTimeout(() => {
            g.queue.splice(g.queue.indexOf(waiter), 1);
            refuse(
              odataError(
                503,
                'Unknown',
                'The request waited too long in the queue and was not processed. Please retry the request.',
                { 'Retry-After': String(Math.max(1, Math.ceil(l.maxQueueWaitMs / 1000))) },
              ),
            );
          }, l.maxQueueWaitMs),
        };
        g.queue.push(waiter);
      });
    }
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = g.queue.shift();
      if (next) {
        clearTimeout(next.timer);
        next.admit();
      } else g.active--;
    };
  }

  /** Drops every waiter (server closing). */
  clear(): void {
    for (const g of this.gates.values()) for (const w of g.queue) clearTimeout(w.timer);
    this.gates.clear();
  }
}
