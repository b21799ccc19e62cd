import { createHash } from 'node:crypto';
import type { TargetKind, VerifyResult } from '../../connectors/types.ts';

/**
 * An opaque name for the target account a link's credentials reach (for Autotask: the zone and the API user),
 * so two links can be told to point at the same or at different billing databases without keeping who the
 * API user is: a truncated hash, not the user name.
 */
export function targetAccountOf(target: TargetKind, verified: VerifyResult): string | undefined {
  const details = verified.details;
  if (!details || Object.keys(details).length === 0) return undefined;
  const canonical = Object.keys(details)
    .sort()
    .map((k) => `${k}=${String(details[k]).trim().toLowerCase()}`)
    .join('\n');
  return `${target}:${createHash('sha256').update(`${target}\n${canonical}`).digest('hex').slice(0, 16)}`;
}
