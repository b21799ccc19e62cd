import type { AxiosInstance } from 'axios';
import type { z } from 'zod';
import { AppError } from '../src/errors.ts';
import { autotaskZonePolicy } from './autotask/client.ts';
import { createAutotaskConnector } from './autotask/connector.ts';
import type { BudgetOptions } from './autotask/limits.ts';
import { AutotaskCredentials, AutotaskSettings } from './autotask/schemas.ts';
import { createNavisionConnector } from './navision/connector.ts';
import { WINDOW_MS } from './navision/limits.ts';
import { assertNavisionHosts, NavisionCredentials } from './navision/schemas.ts';
import { NavisionSettings } from './navision/settings.ts';
import type { Connector, LinkLimits, TargetKind } from './types.ts';

/** What the composition root knows of the environment connectors need (lookup hosts, budget policy). */
export interface ConnectorEnv {
  autotaskZoneLookupUrl: string;
  /** Hosts a sandbox adds to Autotask's own for zones (AUTOTASK_ALLOWED_HOSTS; http allowed on them). */
  autotaskAllowedHosts: readonly string[];
  /** Hosts a sandbox adds to Microsoft's for BC online (NAVISION_ALLOWED_HOSTS; http allowed on them). */
  navisionAllowedHosts: readonly string[];
  /** Hourly-budget policy for sync runs (reserve, spacing); unset: the budget is not watched. */
  autotaskBudget?: BudgetOptions;
}

export interface CreateDeps {
  http: AxiosInstance;
  credentials: Record<string, unknown>;
  settings: Record<string, unknown>;
  env: ConnectorEnv;
  signal?: AbortSignal;
  /** The link's shared limits (a sync run); unset, e.g. to verify credentials: this process only. */
  limits?: LinkLimits;
}

/**
 * One target kind: its credentials and settings schemas (the settings extend the billing core's common ones)
 * and a factory. Verification is the connector's `verify`, so one entry is all a new target needs.
 */
export interface ConnectorKind {
  kind: TargetKind;
  credentials: z.ZodType<Record<string, unknown>>;
  settings: z.ZodObject;
  /** The window the target's request budget counts over (the link's request log). @defaultValue an hour */
  limitsWindowMs?: number;
  create(deps: CreateDeps): Connector;
}

/**
 * Zones found per Autotask API user (and lookup host), kept an hour: every run of a link would otherwise start
 * with a zone lookup. A database that moved zone answers errors for at most that long.
 */
const ZONE_TTL_MS = 3_600_000;
const zones = new Map<string, { url: string; until: number }>();

const autotask: ConnectorKind = {
  kind: 'autotask',
  credentials: AutotaskCredentials,
  settings: AutotaskSettings,
  create: (d) => {
    const credentials = AutotaskCredentials.parse(d.credentials);
    const key = `${d.env.autotaskZoneLookupUrl}|${credentials.userName}`;
    const cached = zones.get(key);
    // Only a sync run (which has limits) uses the cache: a credentials check always asks Autotask.
    const zoneUrl = d.limits && cached && cached.until > Date.now() ? cached.url : undefined;
    return createAutotaskConnector({
      http: d.http,
      credentials,
      settings: AutotaskSettings.parse(d.settings),
      zoneLookupUrl: d.env.autotaskZoneLookupUrl,
      ...(zoneUrl ? { zoneUrl } : {}),
      // Only a zone inside the policy is used, so only such a zone is ever cached; a cached one is checked again.
      onZone: (url) => zones.set(key, { url, until: Date.now() + ZONE_TTL_MS }),
      signal: d.signal,
      client: {
        zonePolicy: autotaskZonePolicy(d.env.autotaskAllowedHosts),
        // A run watches the shared hourly budget; a credentials check is one call and does not.
        ...(d.limits ? { limits: d.limits, budget: d.env.autotaskBudget } : {}),
      },
    });
  },
};

const navision: ConnectorKind = {
  kind: 'navision',
  credentials: NavisionCredentials,
  settings: NavisionSettings,
  limitsWindowMs: WINDOW_MS,
  create: (d) => {
    // Refused before the connector exists, so before any credential is sent (a check and every run alike).
    assertNavisionHosts(NavisionCredentials.parse(d.credentials), d.env.navisionAllowedHosts);
    return createNavisionConnector({
      http: d.http,
      credentials: d.credentials,
      settings: NavisionSettings.parse(d.settings),
      signal: d.signal,
      // A run shares the link's 5 slots and (BC online) its 5-minute window with every worker process.
      ...(d.limits ? { client: { limits: d.limits, budget: {} } } : {}),
    });
  },
};

/** Every target the sync can push to. */
export const CONNECTORS: Partial<Record<TargetKind, ConnectorKind>> = { autotask, navision };

export function connectorKind(target: TargetKind): ConnectorKind {
  const found = CONNECTORS[target];
  if (!found) {
    throw new AppError('unsupported_target', 400, `target ${target} is not supported yet`);
  }
  return found;
}

function invalid(what: string, error: z.ZodError): AppError {
  const fields = error.issues.map((i) => `${what}.${i.path.join('.')}: ${i.message}`);
  return new AppError('invalid_body', 400, `invalid ${what}: ${fields.join('; ')}`, { fields });
}

/** Validates a link's settings for its target, with defaults applied; a bad or unknown field is a 400 naming it. */
export function parseSettings(target: TargetKind, raw: Record<string, unknown>): Record<string, unknown> {
  const parsed = connectorKind(target).settings.strict().safeParse(raw);
  if (!parsed.success) throw invalid('settings', parsed.error);
  return parsed.data;
}

export function parseCredentials(target: TargetKind, raw: Record<string, unknown>): Record<string, unknown> {
  const parsed = connectorKind(target).credentials.safeParse(raw);
  // zod messages name fields, never values, so a secret cannot leak through this error.
  if (!parsed.success) throw invalid('credentials', parsed.error);
  return parsed.data;
}

/** The composition root for connectors: the implementation for a link's target, from the registry. */
export function makeConnector(
  target: TargetKind,
  credentials: Record<string, unknown>,
  settings: Record<string, unknown>,
  http: AxiosInstance,
  env: ConnectorEnv,
  signal?: AbortSignal,
  limits?: LinkLimits,
): Connector {
  const kind = connectorKind(target);
  return kind.create({
    http,
    credentials: parseCredentials(target, credentials),
    settings,
    env,
    ...(signal ? { signal } : {}),
    ...(limits ? { limits } : {}),
  });
}
