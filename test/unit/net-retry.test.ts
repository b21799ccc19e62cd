import { setTimeout as delay } from 'node:timers/promises';
import { describe, expect, it, vi } from 'vitest';
import type { Classified } from '../../connectors/types.ts';
import { RollingWindowPacer } from '../../src/net/pacer.ts';
import { backoffMs, withRetry } from '../../src/net/retry.ts';

/** An error that says how it should be classified. */
class Says extends Error {
  constructor(
    readonly kind: Classified['kind'],
    readonly waitMs?: number,
  ) {
    super(`${kind} failure`);
  }
}
const classify = (e: unknown): Classified =>
  e instanceof Says
    ? { kind: e.kind, waitMs: e.waitMs, message: e.message }
    : { kind: 'permanent', message: String(e) };

/** A call that fails as `script` says, one entry per try, then answers 'ok'. */
function scripted(script: (Says | Error | string)[]) {
  let calls = 0;
  const fn = vi.fn(async () => {
    const next = script[calls++];
    if (next !== undefined) throw next;
    return 'ok';
  });
  return fn;
}

describe('withRetry', () => {
  it('retries transient failures with exponential backoff and jitter, up to the attempts', async () => {
    const sleep = vi.fn(async (_ms: number) => {});
    const fn = scripted([new Says('transient'), new Says('transient'), new Says('transient')]);
    const err = await withRetry(fn, { classify, attempts: 3, sleep, random: () => 1 }).catch((e) => e);
    expect(err).toBeInstanceOf(Says);
    expect(fn).toHaveBeenCalledTimes(3);
    expect(sleep.mock.calls.map((c) => c[0])).toEqual([200, 400]);

    const ok = scripted([new Says('transient')]);
    const jittered = vi.fn(async (_ms: number) => {});
    expect(await withRetry(ok, { classify, sleep: jittered, random: () => 0 })).toBe('ok');
    expect(jittered.mock.calls.map((c) => c[0])).toEqual([100]);
  });

  it('waits out throttling as told, without spending attempts, up to the bound of waits', async () => {
    const sleep = vi.fn(async (_ms: number) => {});
    const fn = scripted([
      new Says('throttled', 7_000),
      new Says('transient'),
      new Says('throttled'),
      new Says('throttled', 2_000),
    ]);
    // Two attempts: the one transient failure leaves one more, however many throttle waits come between.
    expect(await withRetry(fn, { classify, attempts: 2, sleep, random: () => 0.5 })).toBe('ok');
    expect(sleep.mock.calls.map((c) => c[0])).toEqual([7_000, 150, 300, 2_000]);

    const bounded = vi.fn(async (_ms: number) => {});
    const always = vi.fn(async () => {
      throw new Says('throttled', 10);
    });
    const err = await withRetry(always, { classify, maxThrottleWaits: 3, sleep: bounded }).catch((e) => e);
    expect(err).toBeInstanceOf(Says);
    expect(always).toHaveBeenCalledTimes(4);
    expect(bounded).toHaveBeenCalledTimes(3);
  });

  it.each(['permanent', 'cancelled', 'budget'] as const)('ends at once on a %s failure', async (kind) => {
    const sleep = vi.fn(async (_ms: number) => {});
    const failure = new Says(kind);
    const fn = scripted([failure]);
    await expect(withRetry(fn, { classify, sleep })).rejects.toBe(failure);
    expect(fn).toHaveBeenCalledTimes(1);
    expect(sleep).not.toHaveBeenCalled();
  });

  it('rethrows the caller’s own error, even a TypeError or a non-error, unwrapped', async () => {
    const bug = new TypeError('x is undefined');
    await expect(withRetry(scripted([bug]), { classify })).rejects.toBe(bug);
    // BullMQ aborts with a plain string; it must come out as it went in.
    await expect(withRetry(scripted(['consent revoked']), { classify })).rejects.toBe('consent revoked');
    // A TypeError the classifier calls transient is retried like any other (p-retry alone would not).
    const sleep = vi.fn(async (_ms: number) => {});
    const flaky = scripted([new TypeError('fetch failed')]);
    expect(await withRetry(flaky, { classify: () => ({ kind: 'transient', message: '' }), sleep })).toBe(
      'ok',
    );
  });

  it('stops at once once the signal is aborted, whatever the classifier says, and ends a wait early', async () => {
    const controller = new AbortController();
    const fn = vi.fn(async () => {
      controller.abort('suspended');
      throw new Says('transient');
    });
    await expect(withRetry(fn, { classify, signal: controller.signal })).rejects.toBeInstanceOf(Says);
    expect(fn).toHaveBeenCalledTimes(1);

    const during = new AbortController();
    const slow = scripted([new Says('throttled', 60_000)]);
    const started = Date.now();
    const pending = withRetry(slow, {
      classify,
      signal: during.signal,
      sleep: (ms, signal) => delay(ms, undefined, { signal }),
    });
    setTimeout(() => during.abort(new Error('run cancelled')), 10);
    const err = await pending.catch((e) => e);
    expect(err.name).toBe('AbortError');
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(slow).toHaveBeenCalledTimes(1);
  });

  it('does not start when the signal is already aborted', async () => {
    const fn = scripted([]);
    const reason = new Error('cancelled before');
    await expect(withRetry(fn, { classify, signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
    expect(fn).not.toHaveBeenCalled();
  });

  it('backs off 200 ms·2^n, half of it random, capped at 5 s', () => {
    expect([0, 1, 2, 3, 4, 5, 9].map((n) => backoffMs(n, () => 1))).toEqual([
      200, 400, 800, 1600, 3200, 5000, 5000,
    ]);
    expect(backoffMs(3, () => 0)).toBe(800);
  });
});

describe('RollingWindowPacer', () => {
  it('never lets more than the limit start in any rolling window', async () => {
    let clock = 0;
    const sleep = vi.fn(async (ms: number) => {
      clock += ms;
    });
    const pacer = new RollingWindowPacer({ limit: 600, now: () => clock, sleep });
    const starts: number[] = [];
    for (let i = 0; i < 1500; i++) {
      await pacer.take();
      starts.push(clock);
      clock += 7; // faster than 600 a minute allows
    }
    for (let i = 0; i + 600 < starts.length; i++)
      expect(starts[i + 600]! - starts[i]!).toBeGreaterThanOrEqual(60_000);
    expect(sleep).toHaveBeenCalled();
  });

  it('lets concurrent callers share the limit without overshooting it', async () => {
    let clock = 0;
    const pacer = new RollingWindowPacer({
      limit: 2,
      windowMs: 1_000,
      now: () => clock,
      // Each sleeper wakes at its own time: the clock moves to the latest wake-up seen.
      sleep: async (ms) => {
        const wake = clock + ms;
        await Promise.resolve();
        clock = Math.max(clock, wake);
      },
    });
    const starts: number[] = [];
    await Promise.all(Array.from({ length: 5 }, () => pacer.take().then(() => starts.push(clock))));
    expect(starts).toEqual([0, 0, 1_000, 1_000, 2_000]);
  });
});
