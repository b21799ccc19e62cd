import { createHash } from 'node:crypto';
import type { RunRecord } from '../sync/runs.ts';

export const PROBLEM_KINDS = [
  'failed',
  'needs-review',
  'unmapped',
  'quarantined',
  'changed-after-posting',
] as const;
export type ProblemKind = (typeof PROBLEM_KINDS)[number];

/** One thing an operator should look at; `fingerprint` changes when the problem itself does. */
export interface Problem {
  kind: ProblemKind;
  fingerprint: string;
  summary: string;
}

/** What a finished run says about each kind: a problem, cleared (seen to be gone), or unknown this run. */
export interface RunProblems {
  problems: Problem[];
  cleared: ProblemKind[];
}

const digest = (parts: string[]) =>
  createHash('sha256')
    .update([...new Set(parts)].sort().join('\n'))
    .digest('hex')
    .slice(0, 32);

const SUMMARY_MAX = 400;
const clip = (s: string) => (s.length > SUMMARY_MAX ? `${s.slice(0, SUMMARY_MAX - 1)}…` : s);
const listed = (items: string[], max = 5) =>
  items.length > max ? `${items.slice(0, max).join(', ')} and ${items.length - max} more` : items.join(', ');

/** Statuses a notification waits on: a run still going, stopped by an operator or deferred says nothing yet. */
const UNSETTLED = new Set(['running', 'cancelled', 'deferred']);

/**
 * The problems of a finished run, from its record alone (pure). Summaries carry counts, customer ids and the
 * customer names run records already hold; never a quarantine reason or an error's wording beyond its kind.
 * A failed run may have stopped before it planned, so it clears only `failed`-independent kinds it can vouch
 * for: none but `needs-review`.
 */
export function problemsOf(run: RunRecord): RunProblems | null {
  const status: string = run.status;
  if (UNSETTLED.has(status)) return null;
  const problems: Problem[] = [];
  const failed = status === 'failed';
  if (failed) {
    const kinds = run.errors.map((e) => e.kind);
    problems.push({
      kind: 'failed',
      fingerprint: digest(kinds),
      summary: clip(`run failed (${listed([...new Set(kinds)])})`),
    });
  }
  // `awaiting-approval` is the review-before-apply status; a `partial` run has operations that need a look too.
  if (status === 'awaiting-approval' || status === 'partial') {
    const opFailures = run.errors.filter((e) => e.opKey).map((e) => e.opKey!);
    problems.push({
      kind: 'needs-review',
      fingerprint: digest([status, ...opFailures]),
      summary:
        status === 'partial'
          ? `${opFailures.length || run.errors.length} operation(s) failed; the rest were applied`
          : 'a plan is waiting for approval',
    });
  }
  if (run.unmapped.length > 0) {
    problems.push({
      kind: 'unmapped',
      fingerprint: digest(run.unmapped.map((u) => u.customerId)),
      summary: clip(
        `${run.unmapped.length} unmapped customer(s): ${listed(run.unmapped.map((u) => `${u.name} (${u.customerId})`))}`,
      ),
    });
  }
  if (run.quarantined.length > 0) {
    const ids = run.quarantined.map((q) => `${q.kind}:${q.id ?? '-'}:${q.customerId ?? '-'}`);
    const customers = [...new Set(run.quarantined.map((q) => q.customerId).filter(Boolean) as string[])];
    problems.push({
      kind: 'quarantined',
      fingerprint: digest(ids),
      summary: clip(
        `${run.quarantined.length} record(s) quarantined${customers.length ? ` for customer(s) ${listed(customers)}` : ''}`,
      ),
    });
  }
  const changed = (run.usage ?? []).filter((u) => u.action === 'changed-after-posting');
  if (changed.length > 0) {
    problems.push({
      kind: 'changed-after-posting',
      fingerprint: digest(changed.map((u) => `${u.customerId}|${u.period}|${u.spinpanelTotal}`)),
      summary: clip(
        `usage changed after it was posted: ${listed(changed.map((u) => `${u.customerName} ${u.period}`))}`,
      ),
    });
  }
  const present = new Set(problems.map((p) => p.kind));
  // A failed run may not have got as far as reading customers or usage: its silence clears nothing of theirs.
  const vouched: ProblemKind[] = failed ? ['needs-review'] : [...PROBLEM_KINDS];
  return { problems, cleared: vouched.filter((k) => !present.has(k)) };
}
