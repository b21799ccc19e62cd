import type { ReconLine, UsageReconLine } from '../../connectors/types.ts';
import type { RunError } from './runs.ts';

/**
 * After apply: each reconciliation line whose operations all went through is `applied`; one with a failed or
 * skipped operation is `failed` and shows the target as it was before, since that is what it still holds.
 */
export function settleRecon(
  recon: ReconLine[],
  usage: UsageReconLine[] | undefined,
  errors: readonly RunError[],
): { recon: ReconLine[]; usage?: UsageReconLine[] } {
  const failed = new Set(errors.map((e) => e.opKey).filter((k): k is string => Boolean(k)));
  const bad = (keys: string[] | undefined) => keys?.some((k) => failed.has(k)) ?? false;
  return {
    recon: recon.map((line) => {
      if (!line.opKeys || line.opKeys.length === 0) return line;
      return bad(line.opKeys)
        ? { ...line, outcome: 'failed' as const, targetUnitsAfter: line.targetUnitsBefore ?? 0 }
        : { ...line, outcome: 'applied' as const };
    }),
    ...(usage
      ? {
          usage: usage.map((u) =>
            u.opKeys && u.opKeys.length > 0 ? { ...u, outcome: bad(u.opKeys) ? 'failed' : 'applied' } : u,
          ),
        }
      : {}),
  };
}

type AnyLine = ReconLine | UsageReconLine;

/** How many reconciliation lines of one kind a run had; kept on every record, whatever its detail. */
export interface LineCounts {
  lines: number;
  /** Lines the run left as they were (`unchanged`, usage already `posted`) and that did not fail. */
  unchanged: number;
  /** Lines whose operations failed (also counted under their action). */
  failed: number;
  byAction: Record<string, number>;
}

/** A line the run found in order and did nothing to: `unchanged` seats, usage already `posted`. */
export function isUnchangedLine(line: AnyLine): boolean {
  if (line.outcome === 'failed') return false;
  if (line.action === undefined) {
    // A connector that sets no action: unchanged when it planned nothing and the units stay.
    const l = line as ReconLine;
    return (l.opKeys?.length ?? 0) === 0 && l.targetUnitsBefore === l.targetUnitsAfter;
  }
  return line.action === 'unchanged' || line.action === 'posted';
}

export function countLines(lines: readonly AnyLine[]): LineCounts {
  const counts: LineCounts = { lines: lines.length, unchanged: 0, failed: 0, byAction: {} };
  for (const line of lines) {
    if (isUnchangedLine(line)) counts.unchanged++;
    if (line.outcome === 'failed') counts.failed++;
    const action = line.action ?? 'none';
    counts.byAction[action] = (counts.byAction[action] ?? 0) + 1;
  }
  return counts;
}

/** The lines worth keeping on an older run's record: what changed or failed. */
export const changedLines = <T extends AnyLine>(lines: readonly T[]): T[] =>
  lines.filter((l) => !isUnchangedLine(l));
