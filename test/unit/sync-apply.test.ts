import { describe, expect, it } from 'vitest';
import {
  BudgetExhaustedError,
  type Classified,
  type Connector,
  type PlanOp,
} from '../../connectors/types.ts';
import { applyOps } from '../../src/sync/apply.ts';

class Flaky extends Error {
  constructor(readonly kind: Classified['kind']) {
    super(`${kind} failure`);
  }
}

/**
 * A connector whose ops sleep `ms` and log start/end; `fail` says how an op's tries go (one entry per try,
 * 'ok' or a failure kind; after the list runs out it succeeds).
 */
function fake(opts: { ms?: number; fail?: Record<string, (Classified['kind'] | 'ok' | Error)[]> } = {}) {
  const log: string[] = [];
  let active = 0;
  const stats = { peak: 0, tries: new Map<string, number>() };
  const connector: Connector = {
    kind: 'autotask',
    verify: async () => ({ displayName: 'fake' }),
    readState: async () => ({}),
    plan: () => ({ ops: [], unmapped: [], recon: [] }),
    async apply(op, results) {
      const n = (stats.tries.get(op.key) ?? 0) + 1;
      stats.tries.set(op.key, n);
      log.push(`start ${op.key}`);
      active++;
      stats.peak = Math.max(stats.peak, active);
      try {
        await new Promise((r) => setTimeout(r, opts.ms ?? 5));
        const outcome = opts.fail?.[op.key]?.[n - 1];
        if (outcome instanceof Error) throw outcome;
        if (outcome && outcome !== 'ok') throw new Flaky(outcome);
        for (const need of op.needs ?? []) if (!results.has(need)) throw new Error(`${need} not done`);
        return `${op.key}-result`;
      } finally {
        active--;
        log.push(`end ${op.key}`);
      }
    },
    classify: (e) =>
      e instanceof Flaky
        ? { kind: e.kind, waitMs: 1, message: e.message }
        : { kind: 'permanent', message: (e as Error).message },
  };
  return { connector, log, stats };
}

const op = (key: string, o: Partial<PlanOp> = {}): PlanOp => ({
  key,
  kind: 'k',
  summary: key,
  data: null,
  ...o,
});
const sink = () => ({
  applied: {} as Record<string, number>,
  errors: [] as { opKey?: string; kind: string; message: string }[],
});
describe('applyOps', () => {
  it('overlaps independent ops up to the concurrency, no further', async () => {
    const f = fake({ ms: 20 });
    const ops = Array.from({ length: 12 }, (_, i) => op(`op${i}`, { customerId: `c${i}` }));
    const s = sink();
    const started = Date.now();
    const results = await applyOps(f.connector, ops, s, { concurrency: 4 });
    expect(f.stats.peak).toBe(4);
    expect(s.applied).toEqual({ k: 12 });
    expect(results.get('op7')).toBe('op7-result');
    // 12 ops of 20 ms, 4 at a time: about 3 rounds, well under the 240 ms one by one would take.
    expect(Date.now() - started).toBeLessThan(200);
  });

  it('runs one by one by default, in plan order', async () => {
    const f = fake();
    await applyOps(f.connector, [op('a', { customerId: 'x' }), op('b', { customerId: 'y' })], sink());
    expect(f.log).toEqual(['start a', 'end a', 'start b', 'end b']);
  });

  it('starts an op only after everything it needs is done', async () => {
    const f = fake({ ms: 10 });
    const ops = [
      op('service'),
      op('contract', { customerId: 'c1' }),
      op('cs', { customerId: 'c2', needs: ['service', 'contract'] }),
    ];
    await applyOps(f.connector, ops, sink(), { concurrency: 8 });
    const at = (line: string) => f.log.indexOf(line);
    expect(at('start cs')).toBeGreaterThan(at('end service'));
    expect(at('start cs')).toBeGreaterThan(at('end contract'));
    expect(at('start contract')).toBeLessThan(at('end service')); // those two overlapped
  });

  it('keeps the order of ops in one lane (by default, one customer) while lanes overlap', async () => {
    const f = fake({ ms: 5 });
    const ops = [
      op('c1-a', { customerId: 'c1' }),
      op('c1-b', { customerId: 'c1' }),
      op('c2-a', { customerId: 'c2' }),
      op('x-1', { customerId: 'c3', lane: 'cs:9' }),
      op('x-2', { customerId: 'c4', lane: 'cs:9' }),
    ];
    await applyOps(f.connector, ops, sink(), { concurrency: 8 });
    const at = (line: string) => f.log.indexOf(line);
    expect(at('start c1-b')).toBeGreaterThan(at('end c1-a'));
    expect(at('start x-2')).toBeGreaterThan(at('end x-1'));
    expect(at('start c2-a')).toBeLessThan(at('end c1-a'));
  });

  it('does not let a later op of a lane pass an earlier one still waiting for its needs', async () => {
    const f = fake({ ms: 10 });
    const ops = [op('slow'), op('first', { lane: 'L', needs: ['slow'] }), op('second', { lane: 'L' })];
    await applyOps(f.connector, ops, sink(), { concurrency: 8 });
    expect(f.log.indexOf('start second')).toBeGreaterThan(f.log.indexOf('end first'));
  });

  it('records a permanent failure, skips what needs it and applies the rest', async () => {
    const f = fake({ fail: { contract: [new Error('Autotask: endDate must be after startDate')] } });
    const ops = [
      op('contract', { customerId: 'c1' }),
      op('cs', { customerId: 'c1', needs: ['contract'] }),
      op('adj', { customerId: 'c1', needs: ['cs'] }),
      op('other', { customerId: 'c2' }),
    ];
    const s = sink();
    await applyOps(f.connector, ops, s, { concurrency: 3 });
    expect(s.applied).toEqual({ k: 1 });
    expect(s.errors).toEqual([
      { opKey: 'contract', kind: 'k', message: 'Autotask: endDate must be after startDate' },
      { opKey: 'cs', kind: 'skipped', message: 'skipped: contract failed' },
      { opKey: 'adj', kind: 'skipped', message: 'skipped: cs failed' },
    ]);
    expect(f.stats.tries.get('contract')).toBe(1); // permanent: not retried
  });

  it('applies an op once: a transient failure the client gave up on ends the run for the queue', async () => {
    // The client already retried the op's requests; retrying here too would multiply them (3 × 4 × 5 ...).
    const f = fake({ ms: 10, fail: { bad: ['transient', 'transient'] } });
    const ops = [
      op('bad', { customerId: 'c1' }),
      op('slow', { customerId: 'c2' }),
      op('later', { customerId: 'c1' }),
    ];
    const s = sink();
    const err = await applyOps(f.connector, ops, s, { concurrency: 2 }).catch((e) => e);
    expect(err).toBeInstanceOf(Flaky);
    expect(err.kind).toBe('transient');
    expect(f.stats.tries.get('bad')).toBe(1);
    // The op in flight settled and was recorded before the run ended; nothing after it started.
    expect(f.log).toContain('end slow');
    expect(s.applied).toEqual({ k: 1 });
    expect(s.errors).toEqual([]);
    expect(f.log).not.toContain('start later');
  });

  it('defers the run instead of failing it when an op is still throttled after the client’s waits', async () => {
    const f = fake({ fail: { a: ['throttled', 'throttled'] } });
    const before = Date.now();
    const err = await applyOps(f.connector, [op('a'), op('b')], sink()).catch((e) => e);
    expect(err).toBeInstanceOf(BudgetExhaustedError);
    expect(err.message).toMatch(/still throttled after the client's waits: throttled failure/);
    expect(err.retryAt).toBeGreaterThanOrEqual(before + 60_000);
    expect(f.stats.tries.get('a')).toBe(1);
    expect(f.log).not.toContain('start b');
  });

  it('stops at once, without retrying, when the budget is spent', async () => {
    const spent = new BudgetExhaustedError('budget spent', Date.now() + 60_000);
    const f = fake({ fail: { a: [spent] } });
    const err = await applyOps(f.connector, [op('a'), op('b')], sink()).catch((e) => e);
    expect(err).toBe(spent);
    expect(f.stats.tries.get('a')).toBe(1);
    expect(f.log).not.toContain('start b');
  });

  it('stops the run without recording an op error when the connector calls the failure cancelled', async () => {
    const f = fake({ fail: { a: ['cancelled'] } });
    const s = sink();
    const err = await applyOps(f.connector, [op('a'), op('b')], s).catch((e) => e);
    expect(err).toBeInstanceOf(Flaky);
    expect(s.errors).toEqual([]);
    expect(f.log).not.toContain('start b');
  });

  it('stops starting ops once the run is cancelled', async () => {
    const f = fake({ ms: 10 });
    const controller = new AbortController();
    const ops = Array.from({ length: 6 }, (_, i) => op(`op${i}`));
    const s = sink();
    const pending = applyOps(f.connector, ops, s, {
      signal: controller.signal,
      onProgress: (done) => {
        if (done === 2) controller.abort(new Error('revoked'));
      },
    }).catch((e) => e);
    expect(((await pending) as Error).message).toBe('revoked');
    expect(s.applied.k).toBe(2);
  });

  it('records no failure for an op the cancellation stopped, whatever the connector would call it', async () => {
    // BullMQ aborts with a plain string reason; `throwIfAborted` throws it as is, and Autotask's classify calls
    // anything it does not know permanent. The run is cancelled: no op of it failed on the target's terms.
    const controller = new AbortController();
    const classified: unknown[] = [];
    const connector: Connector = {
      ...fake().connector,
      async apply(op) {
        if (op.key === 'a') controller.abort('consent revoked');
        await new Promise((r) => setTimeout(r, 5));
        controller.signal.throwIfAborted();
        return null;
      },
      classify: (e) => {
        classified.push(e);
        return { kind: 'permanent', message: String(e) };
      },
    };
    const s = sink();
    const err = await applyOps(connector, [op('a'), op('b')], s, { signal: controller.signal }).catch(
      (e) => e,
    );
    expect(err).toBe('consent revoked');
    expect(s.errors).toEqual([]);
    expect(classified).toEqual([]);
  });

  it('reports progress once per op, skipped ones included', async () => {
    const f = fake({ fail: { a: [new Error('no')] } });
    const seen: [number, number][] = [];
    await applyOps(f.connector, [op('a'), op('b', { needs: ['a'] }), op('c')], sink(), {
      concurrency: 2,
      onProgress: (done, total) => {
        seen.push([done, total]);
      },
    });
    expect(seen.map(([d]) => d)).toEqual([1, 2, 3]);
    expect(seen.every(([, t]) => t === 3)).toBe(true);
  });
});
