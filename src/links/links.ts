import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import type { LinkMapping, TargetError, TargetKind, VerifyResult } from '../../connectors/types.ts';
import { type Actor, type Consent, listConsents } from '../consent/consents.ts';
import { GateClosedError } from '../consent/gate.ts';
import { AppError, forbidden, notFound } from '../errors.ts';
import { refusalOf } from '../net/http.ts';
import { isSpinPanelError } from '../spinpanel/errors.ts';
import { appendAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';
import { withWatch } from '../store/tx.ts';
import { targetAccountOf } from './fingerprint.ts';
import { swapSealed } from './reseal.ts';

export type LinkStatus = 'active' | 'suspended' | 'revoked' | 'unlinked';

export interface Link {
  id: string;
  accountId: string;
  target: TargetKind;
  name: string;
  consentId: string;
  status: LinkStatus;
  /** Changes whenever the link may no longer act; a job or request carrying an older epoch is refused. */
  epoch: number;
  settings: Record<string, unknown>;
  everyMinutes: number;
  displayName: string;
  /** Opaque name of the target account the credentials reach (see fingerprint.ts); mappings are bound to it. */
  targetAccount?: string;
  createdAt: string;
  createdBy: Actor;
  /** Set once an unlink has forgotten the link (credentials, mappings, run details). */
  unlinkedAt?: string;
}

/** What a link needs to act: the target's credentials and the account's SpinPanel key. Only ever stored sealed. */
export interface LinkSecrets {
  target: Record<string, unknown>;
  spinpanelApiKey: string;
}

export const CreateLinkBody = z.object({
  target: z.enum(['autotask', 'navision']),
  name: z.string().min(1).max(100).optional(),
  consentId: z.string().uuid().optional(),
  credentials: z.record(z.string(), z.unknown()),
  spinpanelApiKey: z.string().min(8),
  settings: z.record(z.string(), z.unknown()).default({}),
  everyMinutes: z.number().int().min(5).max(1440).optional(),
});
export type CreateLinkBody = z.infer<typeof CreateLinkBody>;

export const MappingBody = z.object({
  customers: z
    .record(
      z.string(),
      z.object({
        companyId: z.union([z.number().int().positive(), z.string().min(1)]).optional(),
        contractId: z.union([z.number().int().positive(), z.string().min(1)]).optional(),
      }),
    )
    .default({}),
  products: z
    .record(
      z.string(),
      z.object({ serviceId: z.union([z.number().int().positive(), z.string().min(1)]).optional() }),
    )
    .default({}),
});

export const LINK_ROLES = ['company_admin', 'reseller'];
const REQUIRED_SCOPES = ['billing:read', 'billing:push'] as const;

function usableConsent(consent: Consent): boolean {
  return consent.status === 'active' && REQUIRED_SCOPES.every((s) => consent.scopes.includes(s));
}

export interface CreateLinkDeps {
  /**
   * The id of the SpinPanel account `apiKey` belongs to (its `GET /account`), asked through the same consent's
   * gate as `verify`. Rejects with SpinPanel's own error (SpinPanelError) when SpinPanel refuses or fails.
   */
  spinpanelAccount: (apiKey: string, under: { accountId: string; consentId: string }) => Promise<string>;
  /**
   * Check the target accepts the credentials; throws CredentialsRejectedError with the target's words. `under`
   * is the consent the link is made under: the check's requests pass the gate only while it is active.
   */
  verify: (
    target: TargetKind,
    credentials: Record<string, unknown>,
    settings: Record<string, unknown>,
    under: { accountId: string; consentId: string },
  ) => Promise<VerifyResult>;
  /** Turns raw settings into validated ones (defaults applied); throws a 400 naming the field. */
  parseSettings: (target: TargetKind, settings: Record<string, unknown>) => Record<string, unknown>;
  defaultEveryMinutes: number;
}

/**
 * Why making a link stopped, as the admin API answers it: a revocation meanwhile, SpinPanel refusing the key, a
 * target host outside the policy or a redirect; anything else (the target's refusal of its credentials…) as is.
 * Messages name hosts and SpinPanel's words, never a key or a secret.
 */
function linkingFailure(error: unknown, revokedMeanwhile: () => AppError): unknown {
  // The checks' requests pass the consent's gate: refused there, the consent was revoked meanwhile.
  if (error instanceof GateClosedError) return revokedMeanwhile();
  const refused = refusalOf(error);
  if (refused) return new AppError(refused.code, 422, refused.message, undefined, { cause: error });
  if (isSpinPanelError(error)) {
    return error.status === 401 || error.status === 403
      ? new AppError(
          'spinpanel_key_rejected',
          422,
          `SpinPanel refused the API key: ${error.detail ?? error.title}`,
        )
      : new AppError(
          'spinpanel_unavailable',
          502,
          `SpinPanel could not say which account the API key belongs to: ${error.message}`,
        );
  }
  if (isTargetError(error) && error.status !== undefined && error.status >= 400 && error.status < 500) {
    // The target refused what the link names (an unpublished service, an unknown company…): fix the link.
    return new AppError(
      'target_refused',
      422,
      `the billing system refused the check: ${error.message}; nothing was saved`,
      {
        reason: error.message,
        targetStatus: error.status,
      },
    );
  }
  if (isTargetError(error)) {
    // The target answered with an error (502), or gave no answer at all (503): linking may be tried again later.
    const words = error.targetMessages?.length ? error.targetMessages.join('; ') : error.message;
    return error.status === undefined
      ? new AppError(
          'target_unreachable',
          503,
          `the billing system could not be reached to check the credentials: ${words}; nothing was saved, try again later`,
          { reason: words },
          { cause: error },
        )
      : new AppError(
          'target_error',
          502,
          `the billing system answered HTTP ${error.status} while the credentials were checked: ${words}; nothing was saved, try again later`,
          { reason: words, targetStatus: error.status },
          { cause: error },
        );
  }
  return error;
}

/** A target's failure (TargetError, matched by name so a subclass from either connector counts). */
const isTargetError = (e: unknown): e is TargetError =>
  e instanceof Error && e.name === 'TargetError' && !(e instanceof AppError);

/** Why a consent cannot carry a link: revoked (a new consent is needed), or which scopes it lacks. */
function whyUnusable(consent: Consent): { why: string; details: Record<string, unknown> } {
  if (consent.status === 'revoked') {
    return {
      why: `consent ${consent.id} is revoked (since ${consent.revokedAt}) and cannot carry a link again`,
      details: { consentId: consent.id, reason: 'revoked' },
    };
  }
  const missing = REQUIRED_SCOPES.filter((s) => !consent.scopes.includes(s));
  return {
    why: `consent ${consent.id} lacks the scope(s) ${missing.join(', ')} that linking needs`,
    details: { consentId: consent.id, reason: 'scope_missing', missingScopes: missing },
  };
}

/**
 * Why a link that is not active refuses a sync, and what to do next: the answer to "sync now" on it.
 */
export function inactiveLinkError(link: Link): AppError {
  const next: Record<LinkStatus, string> = {
    active: 'try again',
    suspended: `it is suspended: resume it (POST …/links/${link.id}/resume) to sync again`,
    revoked: `its consent ${link.consentId} was revoked, so it syncs no more and is being unlinked: grant a new consent and link the billing system again`,
    unlinked: `it was unlinked${link.unlinkedAt ? ` at ${link.unlinkedAt}` : ''} after its consent was revoked (credentials and mappings deleted): grant a new consent and link the billing system again`,
  };
  return new AppError('link_not_active', 409, `link ${link.id} cannot sync: ${next[link.status]}`, {
    linkId: link.id,
    status: link.status,
  });
}

/**
 * A link is made only under an active consent, only with a SpinPanel key of the account in the path (its
 * `/account` is read with the key first: one account's key must never feed another account's links), and only
 * after the target has accepted the credentials.
 */
export async function createLink(
  ctx: StoreContext,
  deps: CreateLinkDeps,
  actor: Actor,
  accountId: string,
  body: CreateLinkBody,
): Promise<Link> {
  if (!LINK_ROLES.includes(actor.role)) {
    throw forbidden('linking a billing system is an admin action (company admin or reseller)');
  }
  const consents = await listConsents(ctx, accountId);
  const consent = body.consentId
    ? consents.find((c) => c.id === body.consentId)
    : consents.filter(usableConsent).at(-1);
  if (!consent) {
    // Without a consent named, the newest one says why none fits (revoked, or which scope it lacks).
    const latest = body.consentId ? undefined : consents.at(-1);
    if (latest) {
      const { why, details } = whyUnusable(latest);
      throw new AppError(
        'consent_required',
        409,
        `no active consent with scopes ${REQUIRED_SCOPES.join(', ')}: ${why}; grant consent before linking`,
        details,
      );
    }
    throw new AppError(
      'consent_required',
      409,
      body.consentId
        ? `consent ${body.consentId} does not exist for this account`
        : `no active consent with scopes ${REQUIRED_SCOPES.join(', ')}: grant consent before linking`,
      { reason: body.consentId ? 'unknown_consent' : 'no_consent' },
    );
  }
  if (!usableConsent(consent)) {
    const { why, details } = whyUnusable(consent);
    throw new AppError(
      'consent_required',
      409,
      `${why}: grant a consent with scopes ${REQUIRED_SCOPES.join(', ')} and link with it`,
      details,
    );
  }
  const settings = deps.parseSettings(body.target, body.settings);
  const revokedMeanwhile = () =>
    new AppError('consent_required', 409, `consent ${consent.id} was revoked while the link was being made`);
  const under = { accountId, consentId: consent.id };
  let verified: VerifyResult;
  try {
    // The key first: a key of another account is refused before the target's credentials are even tried.
    const keyAccount = await deps.spinpanelAccount(body.spinpanelApiKey, under);
    if (keyAccount !== accountId) {
      throw new AppError(
        'account_mismatch',
        403,
        `the SpinPanel API key belongs to another SpinPanel account, not to ${accountId}: a link reads only its own account's data, so link ${accountId}'s own key`,
      );
    }
    verified = await deps.verify(body.target, body.credentials, settings, under);
  } catch (error) {
    throw linkingFailure(error, revokedMeanwhile);
  }
  const link: Link = {
    id: randomUUID(),
    accountId,
    target: body.target,
    name: body.name ?? `${body.target} (${verified.displayName})`,
    consentId: consent.id,
    status: 'active',
    epoch: 1,
    settings,
    everyMinutes: body.everyMinutes ?? deps.defaultEveryMinutes,
    displayName: verified.displayName,
    targetAccount: targetAccountOf(body.target, verified),
    createdAt: ctx.now().toISOString(),
    createdBy: actor,
  };
  const secrets: LinkSecrets = { target: body.credentials, spinpanelApiKey: body.spinpanelApiKey };
  const { redis, keys, vault } = ctx;
  const sealed = vault.encrypt(JSON.stringify(secrets), aadFor(accountId, link.id));
  // Verification can take seconds; a revocation in the meantime must win, so the consent is watched and re-read.
  const consentKey = keys.consent(accountId, consent.id);
  const saved = await withWatch(redis, async (tx) => {
    await tx.watch(consentKey);
    const fresh = await redis.get(consentKey);
    if (!fresh || !usableConsent(JSON.parse(fresh) as Consent)) {
      await tx.unwatch();
      throw revokedMeanwhile();
    }
    return tx
      .multi()
      .hset(keys.link(accountId, link.id), serializeLink(link))
      .set(keys.credentials(accountId, link.id), sealed)
      .zadd(keys.links(accountId), Date.parse(link.createdAt), link.id)
      .exec();
  });
  if (!saved)
    throw new AppError('consent_changed', 409, `consent ${consent.id} changed while linking; try again`);
  await appendAudit(redis, keys, accountId, {
    type: 'link.created',
    actor,
    subject: { linkId: link.id, consentId: consent.id },
    data: {
      target: link.target,
      displayName: link.displayName,
      // Plain http to an on-premises server, asked for explicitly (honoured only there: assertNavisionHosts).
      ...(body.credentials.allowHttp === true ? { allowHttp: true } : {}),
    },
  });
  return link;
}

export const aadFor = (accountId: string, linkId: string) => `link:${accountId}:${linkId}`;

function serializeLink(link: Link): Record<string, string> {
  return {
    id: link.id,
    accountId: link.accountId,
    target: link.target,
    name: link.name,
    consentId: link.consentId,
    status: link.status,
    epoch: String(link.epoch),
    settings: JSON.stringify(link.settings),
    everyMinutes: String(link.everyMinutes),
    displayName: link.displayName,
    ...(link.targetAccount ? { targetAccount: link.targetAccount } : {}),
    createdAt: link.createdAt,
    createdBy: JSON.stringify(link.createdBy),
  };
}

function parseLink(h: Record<string, string>): Link {
  return {
    id: h.id!,
    accountId: h.accountId!,
    target: h.target as TargetKind,
    name: h.name!,
    consentId: h.consentId!,
    status: h.status as LinkStatus,
    epoch: Number(h.epoch),
    settings: JSON.parse(h.settings ?? '{}'),
    everyMinutes: Number(h.everyMinutes),
    displayName: h.displayName ?? '',
    ...(h.targetAccount ? { targetAccount: h.targetAccount } : {}),
    createdAt: h.createdAt!,
    createdBy: JSON.parse(h.createdBy ?? '{}'),
    ...(h.unlinkedAt ? { unlinkedAt: h.unlinkedAt } : {}),
  };
}

export async function getLink(ctx: StoreContext, accountId: string, linkId: string): Promise<Link> {
  const h = await ctx.redis.hgetall(ctx.keys.link(accountId, linkId));
  if (!h.id) throw notFound(`link ${linkId}`);
  return parseLink(h);
}

export async function listLinks(ctx: StoreContext, accountId: string): Promise<Link[]> {
  const ids = await ctx.redis.zrange(ctx.keys.links(accountId), 0, -1);
  const pipeline = ctx.redis.pipeline();
  for (const id of ids) pipeline.hgetall(ctx.keys.link(accountId, id));
  const rows = (await pipeline.exec()) ?? [];
  return rows
    .map(([, h]) => h as Record<string, string>)
    .filter((h) => h.id)
    .map(parseLink);
}

export async function readSecrets(
  ctx: StoreContext,
  accountId: string,
  linkId: string,
): Promise<LinkSecrets> {
  const key = ctx.keys.credentials(accountId, linkId);
  const sealed = await ctx.redis.get(key);
  if (!sealed) throw new AppError('credentials_gone', 409, `link ${linkId} has no stored credentials`);
  const plaintext = ctx.vault.decrypt(sealed, aadFor(accountId, linkId));
  if (ctx.vault.isStale(sealed)) {
    // Lazy rotation: sealed under an old key, so seal again under the current one (compare-and-set, so a
    // concurrent unlink's delete wins). A failed swap only means the next read tries again.
    const fresh = ctx.vault.encrypt(plaintext, aadFor(accountId, linkId));
    await swapSealed(ctx.redis, key, sealed, fresh).catch(() => false);
  }
  return JSON.parse(plaintext) as LinkSecrets;
}

export async function getMapping(ctx: StoreContext, accountId: string, linkId: string): Promise<LinkMapping> {
  const raw = await ctx.redis.get(ctx.keys.mapping(accountId, linkId));
  return raw ? (JSON.parse(raw) as LinkMapping) : { customers: {}, products: {} };
}

export async function putMapping(
  ctx: StoreContext,
  actor: Actor,
  accountId: string,
  linkId: string,
  mapping: LinkMapping,
): Promise<LinkMapping> {
  if (!LINK_ROLES.includes(actor.role)) throw forbidden('changing mappings is an admin action');
  const link = await getLink(ctx, accountId, linkId);
  if (link.status === 'unlinked' || link.status === 'revoked') {
    throw new AppError('link_closed', 409, `link ${linkId} is ${link.status}`);
  }
  await ctx.redis.set(ctx.keys.mapping(accountId, linkId), JSON.stringify(mapping));
  await appendAudit(ctx.redis, ctx.keys, accountId, {
    type: 'mapping.changed',
    actor,
    subject: { linkId },
    data: {
      customers: Object.keys(mapping.customers).length,
      products: Object.keys(mapping.products).length,
    },
  });
  return mapping;
}
