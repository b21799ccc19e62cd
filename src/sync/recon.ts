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
