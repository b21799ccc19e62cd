import type { AxiosInstance } from 'axios';
import { z } from 'zod';
import { createAutotaskConnector } from '../../connectors/autotask/connector.ts';
import type { BudgetOptions } from '../../connectors/autotask/limits.ts';
import { AutotaskCredentials, AutotaskSettings } from '../../connectors/autotask/schemas.ts';
import type { Connector, LinkLimits, TargetKind } from '../../connectors/types.ts';
import { AppError } from '../errors.ts';

/** Settings every link has, whatever its target. */
const CommonSettings = z.object({
  quantityBasis: z.enum(['quantity', 'assignedLicenses']).default('quantity'),
});

function invalid(what: string, error: z.ZodError): AppError {
  const fields = error.issues.map((i) => `${what}.${i.path.join('.')}: ${i.message}`);
  return new AppError('invalid_body', 400, `invalid ${what}: ${fields.join('; ')}`, { fields });
}

/** Validates a link's settings for its target, with defaults applied; a bad field is a 400 naming it. */
export function parseSettings(target: TargetKind, raw: Record<string, unknown>): Record<string, unknown> {
  // Strict: a misspelt setting is a 400 naming it, not silently ignored.
  const schema = target === 'autotask' ? CommonSettings.extend(AutotaskSettings.shape).strict() : null;
  if (!schema) throw new AppError('unsupported_target', 400, `target ${target} is not supported yet`);
  const parsed = schema.safeParse(raw);
  if (!parsed.success) throw invalid('settings', parsed.error);
  return parsed.data;
}

export function parseCredentials(target: TargetKind, raw: Record<string, unknown>) {
  const parsed = AutotaskCredentials.safeParse(raw);
  if (target !== 'autotask')
    throw new AppError('unsupported_target', 400, `target ${target} is not supported yet`);
  // zod messages name fields, never values, so a secret cannot leak through this error.
  if (!parsed.success) throw invalid('credentials', parsed.error);
  return parsed.data;
}

export interface ConnectorEnv {
  autotaskZoneLookupUrl: string;
  /** Hourly-budget policy for sync runs (reserve, spacing); unset: the budget is not watched. */
  autotaskBudget?: BudgetOptions;
}

/** The composition root for connectors: picks the implementation for a link's target. */
export function makeConnector(
  target: TargetKind,
  credentials: Record<string, unknown>,
  settings: Record<string, unknown>,
  http: AxiosInstance,
  env: ConnectorEnv,
  signal?: AbortSignal,
  /** The link's shared limits (a sync run); unset, e.g. to verify credentials: this process only. */
  limits?: LinkLimits,
): Connector {
  switch (target) {
    case 'autotask':
      return createAutotaskConnector({
        http,
        credentials: parseCredentials(target, credentials),
        settings: AutotaskSettings.parse(settings),
        zoneLookupUrl: env.autotaskZoneLookupUrl,
        signal,
        // A run watches the shared hourly budget; a credentials check is one call and does not.
        ...(limits ? { client: { limits, budget: env.autotaskBudget } } : {}),
      });
    case 'navision':
      throw new AppError('unsupported_target', 400, 'the NAV / Business Central connector is not built yet');
    default: {
      const never: never = target;
      throw new Error(`unknown target ${never}`);
    }
  }
}
