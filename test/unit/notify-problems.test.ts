import { describe, expect, it } from 'vitest';
import { problemsOf } from '../../src/notify/problems.ts';
import type { RunRecord } from '../../src/sync/runs.ts';

const run = (over: Partial<RunRecord>): RunRecord => ({
  id: 'job-1.1',
  accountId: 'acc-1',
  linkId: 'link-1',
  trigger: 'schedule',
  dryRun: false,
  status: 'succeeded',
  attempt: 1,
  startedAt: '2026-11-30T10:00:00.000Z',
  finishedAt: '2026-11-30T10:00:05.000Z',
  durationMs: 5000,
  planned: {},
  applied: {},
  apiCalls: { total: 0, byHost: {} },
  errors: [],
  quarantined: [],
  unmapped: [],
  recon: [],
  ...over,
});

const unmapped = [{ customerId: 'c-1', name: 'Contoso', reason: 'no company' }];

describe('problemsOf', () => {
  it('a clean run has no problems and clears every kind', () => {
    const seen = problemsOf(run({}))!;
    expect(seen.problems).toEqual([]);
    expect(seen.cleared).toContain('unmapped');
    expect(seen.cleared).toContain('failed');
  });

  it('the same unmapped customers give the same fingerprint; another customer a new one', () => {
    const a = problemsOf(run({ unmapped }))!.problems[0]!;
    const b = problemsOf(run({ id: 'job-2.1', unmapped }))!.problems[0]!;
    const c = problemsOf(
      run({ unmapped: [...unmapped, { customerId: 'c-2', name: 'Fabrikam', reason: 'x' }] }),
    )!.problems[0]!;
    expect(a.kind).toBe('unmapped');
    expect(a.summary).toContain('Contoso');
    expect(b.fingerprint).toBe(a.fingerprint);
    expect(c.fingerprint).not.toBe(a.fingerprint);
  });

  it('a failed run clears nothing it may not have seen', () => {
    const seen = problemsOf(run({ status: 'failed', errors: [{ kind: 'run', message: 'boom' }] }))!;
    expect(seen.problems.map((p) => p.kind)).toEqual(['failed']);
    expect(seen.cleared).not.toContain('unmapped');
    expect(seen.cleared).not.toContain('quarantined');
  });

  it('a run awaiting approval needs review; a cancelled or deferred one says nothing', () => {
    const awaiting = run({ status: 'awaiting-approval' as RunRecord['status'] });
    expect(problemsOf(awaiting)!.problems.map((p) => p.kind)).toEqual(['needs-review']);
    expect(problemsOf(run({ status: 'cancelled' }))).toBeNull();
    expect(problemsOf(run({ status: 'deferred' }))).toBeNull();
  });

  it('quarantine summaries carry counts and customer ids, never the reason', () => {
    const seen = problemsOf(
      run({
        quarantined: [
          { kind: 'subscription', id: 's-1', customerId: 'c-1', reason: 'quantity: jane@x.test' },
        ],
      }),
    )!;
    expect(seen.problems[0]!.summary).toContain('c-1');
    expect(seen.problems[0]!.summary).not.toContain('jane');
  });
});
