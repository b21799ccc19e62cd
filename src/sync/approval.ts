import { createHash } from 'node:crypto';
import type { Snapshot } from '../domain/types.ts';
import type { RunRecord } from './runs.ts';

/** sha256 of a value's JSON with object keys sorted, so two reads of the same data match whatever their key order. */
export function fingerprint(value: unknown): string {
  const canonical = JSON.stringify(value, (_key, v: unknown) =>
    v && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v as Record<string, unknown>).sort(([a], [b]) => (a < b ? -1 : 1)))
      : v,
  );
  return createHash('sha256').update(canonical).digest('hex');
}

/** What SpinPanel answered, without when it was asked: two pulls of unchanged data fingerprint alike. */
export const snapshotFingerprint = ({ pulledAt: _, ...rest }: Snapshot) => fingerprint(rest);

/** What a run read, compared with what an approved run read when its plan was reviewed. */
export interface ReadPrint {
  targetFingerprint: string;
  snapshotFingerprint: string;
  opKeys: string[];
}

/**
 * Whether an approved plan may be applied as it was reviewed: only when SpinPanel, the target and the plan's
 * operations are all what they were. Otherwise, what changed (in words an admin reads on the re-planned run).
 */
export function approvalChanges(
  approved: Pick<RunRecord, 'targetFingerprint' | 'snapshotFingerprint' | 'plan'>,
  now: ReadPrint,
): string[] {
  const changed: string[] = [];
  if (approved.snapshotFingerprint !== now.snapshotFingerprint)
    changed.push('SpinPanel changed since the plan was reviewed');
  if (approved.targetFingerprint !== now.targetFingerprint)
    changed.push('the target changed since the plan was reviewed');
  const before = new Set((approved.plan ?? []).map((op) => op.key));
  const after = new Set(now.opKeys);
  if (changed.length === 0 && (before.size !== after.size || [...after].some((k) => !before.has(k)))) {
    changed.push('the plan made now differs from the reviewed one');
  }
  return changed;
}
