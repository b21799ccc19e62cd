import { mulberry32 } from '../../../src/prng.ts';

/**
 * Fault injection: what a flaky NAV/BC does, drawn from a seeded generator so a failing test replays the same
 * faults (given the same order of requests).
 *
 * - `error`: answered `errorStatus` (500 `Internal_ServerError`; 502/503 carry `Retry-After`, as BC documents)
 *   without doing anything.
 * - `lock`: a lock timeout, "The operation could not complete because a record in the Sales Header table was locked
 *   by another user. Please retry the activity.", without doing anything. Microsoft documents the text, not the
 *   HTTP status or code: `lockStatus` (409, or 500) and the catch-all code `Unknown` are inferred.
 * - `throttle`: 429, with `Retry-After` only when `throttleRetryAfterS` is set.
 * - `drop`: carried out and committed, then the connection destroyed before any answer: a lost answer.
 * - `timeout`: carried out, the answer held `timeoutMs`, then the connection destroyed.
 */
export type FaultKind = 'error' | 'lock' | 'throttle' | 'drop' | 'timeout';

export interface FaultOptions {
  /** @defaultValue 1 */
  seed?: number;
  errorRate?: number;
  /** @defaultValue 500 */
  errorStatus?: 500 | 502 | 503;
  lockRate?: number;
  /** @defaultValue 409 */
  lockStatus?: 409 | 500;
  throttleRate?: number;
  throttleRetryAfterS?: number;
  dropRate?: number;
  timeoutRate?: number;
  /** @defaultValue 5000 */
  timeoutMs?: number;
  /** Flavours faults apply to. @defaultValue ['nav', 'bcOnPrem', 'bcOnline'] (not the token endpoint) */
  flavours?: string[];
  /** Entity sets or actions faults apply to (e.g. `['salesInvoices']`); unset: all. */
  entities?: string[];
  /** Methods faults apply to (e.g. `['POST']`); unset: all. */
  methods?: string[];
}

/** One fault for the next `times` matching requests, before any random ones. */
export interface ScriptedFault {
  kind: FaultKind;
  flavour?: string;
  entity?: string;
  method?: string;
  /** @defaultValue 1 */
  times?: number;
}

export interface FaultRequest {
  flavour: string;
  entity: string;
  method: string;
}

const same = (a: string | undefined, b: string) => a === undefined || a.toLowerCase() === b.toLowerCase();
const DEFAULT_FLAVOURS = ['nav', 'bcOnPrem', 'bcOnline'];

export class Faults {
  private opts: FaultOptions = {};
  private random: () => number = mulberry32(1);
  private readonly script: (ScriptedFault & { left: number })[] = [];
  /** How many of each fault were injected, for tests to check the faults really happened. */
  readonly injected: Record<FaultKind, number> = { error: 0, lock: 0, throttle: 0, drop: 0, timeout: 0 };

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
      (s) =>
        s.left > 0 &&
        same(s.entity, req.entity) &&
        same(s.method, req.method) &&
        (s.flavour === undefined ? req.flavour !== 'token' : same(s.flavour, req.flavour)),
    );
    if (scripted) {
      scripted.left--;
      return this.count(scripted.kind);
    }
    const o = this.opts;
    if (!(o.flavours ?? DEFAULT_FLAVOURS).some((f) => same(f, req.flavour))) return undefined;
    if (o.entities && !o.entities.some((e) => same(e, req.entity))) return undefined;
    if (o.methods && !o.methods.some((m) => same(m, req.method))) return undefined;
    const bands: [FaultKind, number | undefined][] = [
      ['error', o.errorRate],
      ['lock', o.lockRate],
      ['throttle', o.throttleRate],
      ['drop', o.dropRate],
      ['timeout', o.timeoutRate],
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
