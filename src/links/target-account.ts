import { z } from 'zod';
import { AppError } from '../errors.ts';
import { MappingBody } from './links.ts';

/**
 * A mapping as the API serves it: stamped with the target account its ids belong to. A document sent back with
 * a stamp is checked against the link; one without a stamp is a fresh mapping, made for this link.
 */
export const MappingDocument = MappingBody.extend({
  targetAccount: z.string().min(1).max(100).optional(),
  linkId: z.string().optional(),
  /** Read-only: the last run's unmapped customers with suggestions. Ignored when a document is sent back. */
  unmapped: z.array(z.unknown()).optional(),
});
export type MappingDocument = z.infer<typeof MappingDocument>;

/**
 * Mapping ids (companies, contracts, services) only mean something inside the target account they were read
 * from. A mapping copied from another link — typically one that was unlinked — and sent to a link that reaches a
 * different account would bill the wrong companies, so it is refused; the same account is fine.
 */
export function assertMappingFits(
  link: { id: string; targetAccount?: string },
  doc: Pick<MappingDocument, 'targetAccount'>,
): void {
  if (!doc.targetAccount || !link.targetAccount || doc.targetAccount === link.targetAccount) return;
  throw new AppError(
    'mapping_target_mismatch',
    409,
    `this mapping was made for target account ${doc.targetAccount}, but link ${link.id} reaches ${link.targetAccount}: map this link afresh`,
    { field: 'targetAccount' },
  );
}
