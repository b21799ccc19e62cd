import { mulberry32 } from '../../../src/prng.ts';
/**
 * Fault injection for the sandbox: what a flaky Autotask does, drawn from a seeded generator so a failing
 * test replays the same faults (given the same order of requests).
 *
 * - `error`: answered 500 `{"Message":"An error has occurred."}` without doing anything (transient).
 * - `throttle`: the thread-limit message under `throttleStatus` (429, or another status as Autotask sometimes
 *   sends), with `Retry-After` only when `throttleRetryAfterS` is set.
 * - `timeout`: carried out, then the answer is held `timeoutMs` and the connection dropped: the client times
 *   out not knowing that its create happened.
 * - `drop`: carried out, then the connection dropped at once (a crash between the write and its answer).
 * - `nullItemId`: a create carried out and answered `{"itemId": null}`.
 */
export type FaultKind = 'error' | 'throttle' | 'timeout' | 'drop' | 'nullItemId';

export interface FaultOptions {
  /** @defaultValue 1 */
  seed?: number;
  errorRate?: number;
  throttleRate?: number;
  /** @defaultValue 429 */
  throttleStatus?: number;
  throttleRetryAfterS?: number;
  timeoutRate?: number;
  /** How long a `timeout` holds the answer before dropping it. @defaultValue 5000 */
  timeoutMs?: number;
  dropRate?: number;
  /** Applies to creates only. */
  nullItemIdRate?: number;
  /** Endpoints faults apply to (e.g. `['Contracts']`); unset: every authenticated endpoint. */
  entities?: string[];
  /** Methods faults apply to (e.g. `['POST']`); unset: every method. */
  methods?: string[];
}

/** One fault for the next `times` matching requests, before any random ones. */
export interface ScriptedFault {
  kind: FaultKind;
  entity?: string;
  method?: string;
  /** @defaultValue 1 */
  times?: number;
}

export interface FaultRequest {
  entity: string;
  method: string;
  /** A POST that creates (not a query). */
  create: boolean;
}

const same = (a: string | undefined, b: string) => a === undefined || a.toLowerCase() === b.toLowerCase();

export class Faults {
  private opts: FaultOptions = {};
  private random: () => number = mulberry32(1);
  private readonly script: (ScriptedFault & { left: number })[] = [];
  /** How many of each fault were injected, for tests to check the faults really happened. */
  readonly injected: Record<FaultKind, number> = {
    error: 0,
    throttle: 0,
    timeout: 0,
    drop: 0,
    nullItemId: 0,
  };

  constructor(opts: FaultOptions = {}) {
    this.set(opts);
  }

  /** Replaces the random faults (and re-seeds); scripted ones stay queued. */
  set(opts: FaultOptions): void {
    for (const [k, v] of Object.entries(opts)) {
      if (k.endsWith('Rate') && !(typeof v === 'number' && v >= 0 && v <= 1))
        throw new RangeError(`faults.${k} must be between 0 and 1`);
    }
    this.opts = { ...opts };
    this.random = mulberry32(opts.seed ?? 1);
  }

  get options(): Readonly<FaultOptions> {
    return this.opts;
  }

  inject(f: ScriptedFault): void {
    this.script.push({ ...f, left: f.times ?? 1 });
  }

  /** The fault for this request, if any. One draw per eligible request keeps the sequence reproducible. */
  pick(req: FaultRequest): FaultKind | undefined {
    const scripted = this.script.find(
      (s) => s.left > 0 && same(s.entity, req.entity) && same(s.method, req.method),
    );
    if (scripted && (scripted.kind !== 'nullItemId' || req.create)) {
      scripted.left--;
      return this.count(scripted.kind);
    }
    const o = this.opts;
    if (o.entities && !o.entities.some((e) => same(e, req.entity))) return undefined;
    if (o.methods && !o.methods.some((m) => same(m, req.method))) return undefined;
    const bands: [FaultKind, number | undefined][] = [
      ['error', o.errorRate],
      ['throttle', o.throttleRate],
      ['timeout', o.timeoutRate],
      ['drop', o.dropRate],
      ['nullItemId', req.create ? o.nullItemIdRate : 0],
    ];
    if (bands.every(([, rate]) => !rate)) return undefined;
    let r = this.random();
    for (const [kind, rate] of bands) {
      if (r < (rate ?? 0)) return this.count(kind);
      r -= rate ?? 0;
    }
    return undefined;
  }

  private count(kind: FaultKind): FaultKind {
    this.injected[kind]++;
    return kind;
  }
}
