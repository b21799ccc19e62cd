import type { Config } from '../config.ts';

export class ResidencyError extends Error {
  override name = 'ResidencyError';
}

/**
 * SpinPanel's privacy policy stores data only in Azure West-Europe and North-Europe: a deployment configured for
 * any other region must not start, rather than quietly put data where the policy says it never is.
 */
export function assertResidency(config: Pick<Config, 'DATA_REGION' | 'ALLOWED_REGIONS'>): void {
  if (config.ALLOWED_REGIONS.includes(config.DATA_REGION)) return;
  throw new ResidencyError(
    `DATA_REGION "${config.DATA_REGION}" is not in ALLOWED_REGIONS (${config.ALLOWED_REGIONS.join(', ')}): ` +
      'the privacy policy stores data only in the allowed regions, so this process will not start',
  );
}
