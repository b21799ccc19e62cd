import { z } from 'zod';
import { SCOPES } from '../consent/consents.ts';

/**
 * Path and query schemas of the admin API, and the answers as the OpenAPI document describes them. Answers
 * are documented, not reshaped: the handlers send what the services return.
 */

export const AccountParams = z.strictObject({ accountId: z.string().min(1).max(100) });
export const LinkParams = AccountParams.extend({ linkId: z.uuid() });
export const ConsentParams = AccountParams.extend({ consentId: z.uuid() });
export const RunParams = LinkParams.extend({ runId: z.string().min(1).max(200) });
export const UserParams = AccountParams.extend({ userId: z.string().min(1).max(200) });
export const NoQuery = z.strictObject({});
export const WaitQuery = z.strictObject({
  wait: z.enum(['true', 'false']).optional().describe('`true`: answer once the work is done'),
});

export const ErrorBody = z
  .strictObject({
    error: z.strictObject({
      code: z.string().describe('stable snake_case code'),
      message: z.string().describe('what went wrong and, where it helps, what to do next'),
      details: z.record(z.string(), z.unknown()).optional(),
    }),
  })
  .describe('An error');

const Actor = z.object({ userId: z.string(), role: z.string() });

export const Consent = z
  .object({
    id: z.uuid(),
    accountId: z.string(),
    level: z.enum(['user', 'company']),
    scopes: z.array(z.enum(SCOPES)),
    grantedBy: Actor,
    policyVersion: z.string(),
    status: z.enum(['active', 'revoked']),
    grantedAt: z.string(),
    revokedAt: z.string().nullable(),
    revokedBy: Actor.nullable(),
  })
  .meta({ id: 'Consent' });

export const Link = z
  .object({
    id: z.uuid(),
    accountId: z.string(),
    target: z.enum(['autotask', 'navision']),
    name: z.string(),
    consentId: z.uuid(),
    status: z.enum(['active', 'suspended', 'revoked', 'unlinked']),
    epoch: z.number().int(),
    settings: z.record(z.string(), z.unknown()),
    everyMinutes: z.number().int(),
    displayName: z.string(),
    targetAccount: z.string().optional(),
    createdAt: z.string(),
    createdBy: Actor,
    unlinkedAt: z.string().optional(),
  })
  .meta({ id: 'Link', description: 'A link as the API shows it: never a secret, not even sealed' });

export const Run = z
  .looseObject({
    id: z.string(),
    accountId: z.string(),
    linkId: z.string(),
    trigger: z.enum(['schedule', 'manual']),
    dryRun: z.boolean(),
    status: z.string(),
    startedAt: z.string(),
    finishedAt: z.string().nullable(),
    planned: z.record(z.string(), z.number()),
    applied: z.record(z.string(), z.number()),
    errors: z.array(z.unknown()),
    unmapped: z.array(z.unknown()),
    recon: z.array(z.unknown()),
  })
  .meta({ id: 'Run', description: 'A sync run: what it planned, applied, failed and reconciled' });

export const Mapping = z
  .object({
    linkId: z.string().optional(),
    targetAccount: z.string().optional(),
    customers: z.record(z.string(), z.object({ companyId: z.unknown(), contractId: z.unknown() }).partial()),
    products: z.record(z.string(), z.object({ serviceId: z.unknown() }).partial()),
    unmapped: z.array(z.unknown()).optional(),
  })
  .meta({ id: 'Mapping' });

export const Revocation = z
  .looseObject({
    consent: Consent,
    alreadyRevoked: z.boolean().optional(),
    closedLinks: z.array(z.string()),
    confirmed: z.boolean(),
    stopped: z.string(),
    links: z.array(z.unknown()),
    note: z.string(),
  })
  .meta({ id: 'Revocation', description: 'What stopped, what is (or will be) deleted, and what stays' });

const DrainReport = z.looseObject({ inFlight: z.number(), finished: z.number(), unconfirmed: z.number() });

export const Suspension = z
  .looseObject({
    link: Link,
    stopped: z.looseObject({ linkId: z.string(), runningSyncs: z.number(), inFlight: DrainReport }),
    confirmed: z
      .boolean()
      .describe('every request on the wire at suspension was answered before this answer'),
    unscheduled: z.boolean(),
    queuedJobsRemoved: z.number(),
    note: z.string(),
  })
  .meta({ id: 'Suspension', description: 'What stopped; nothing was deleted' });

export const UserRemoved = z
  .looseObject({
    userId: z.string(),
    revoked: z.array(z.looseObject({ consentId: z.string(), result: z.unknown() })),
    kept: z.array(z.string()).describe('company-level consents the user gave: they stay'),
    note: z.string(),
  })
  .meta({ id: 'UserRemoved' });

export const Erasure = z
  .looseObject({
    accountId: z.string(),
    revokedConsentIds: z.array(z.string()),
    unlinkedLinkIds: z.array(z.string()),
    jobsRemoved: z.number(),
    keysDeleted: z.number(),
    unconfirmed: z.array(z.string()),
    note: z.string(),
  })
  .meta({ id: 'Erasure', description: 'What was revoked and deleted; one audit entry stays' });

export const AccountExport = z
  .looseObject({
    format: z.string(),
    accountId: z.string(),
    exportedAt: z.string(),
    dataRegion: z.string().optional(),
    consents: z.array(Consent),
    links: z.array(z.unknown()),
    audit: z.array(z.unknown()),
    other: z.unknown(),
    notes: z.array(z.string()),
  })
  .meta({ id: 'AccountExport', description: 'Everything held about the account; never a credential' });

export const WebhookOutcome = z
  .looseObject({
    eventId: z.string(),
    type: z.string(),
    outcome: z.enum(['revoked', 'already_revoked', 'unknown_consent', 'user_removed']),
    result: z.unknown().optional(),
  })
  .meta({ id: 'WebhookOutcome' });

const ERROR_TEXT: Record<number, string> = {
  400: 'A bad path, query or body: each failing field is named (an unknown key too)',
  401: 'No valid bearer token',
  403: 'The token may not do this, or is bound to another account',
  404: 'No such route, account, link, consent or run',
  405: 'The URL exists, but not with this method',
  409: 'The state refuses it; the message says why and what to do next',
  413: 'The body is too large',
  415: 'The body is not JSON',
  422: 'The target or SpinPanel refused the credentials, or a host is outside the policy',
  429: 'Too many failed authentications from this address',
  500: 'An unexpected failure; the answer carries the request id',
  502: 'The target answered with an error (`target_error`), or SpinPanel failed',
  503: 'The target could not be reached (`target_unreachable`), or the service is busy',
};

/** The answers of a route: its successes and the errors it can give (every error in the one shape). */
export function answers(ok: Record<number, z.ZodType>, errors: number[] = []): Record<number, z.ZodType> {
  const all = [400, 401, 403, 404, 405, 429, 500, ...errors].sort((a, b) => a - b);
  return {
    ...ok,
    ...Object.fromEntries(all.map((s) => [s, ErrorBody.describe(ERROR_TEXT[s] ?? 'An error')])),
  };
}
