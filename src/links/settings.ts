import { z } from 'zod';
import type { TargetKind } from '../../connectors/types.ts';
import type { Actor } from '../consent/consents.ts';
import { AppError, forbidden } from '../errors.ts';
import { appendAudit } from '../store/audit.ts';
import type { StoreContext } from '../store/context.ts';
import { withWatch } from '../store/tx.ts';
import { getLink, LINK_ROLES, type Link } from './links.ts';

/** A partial change: each key given replaces that setting; `null` puts it back to its default. */
export const SettingsPatch = z
  .record(z.string().min(1).max(100), z.unknown())
  .refine((o) => Object.keys(o).length > 0, 'give at least one setting to change');
export type SettingsPatch = z.infer<typeof SettingsPatch>;

export interface UpdateSettingsDeps {
  /** Validates a whole settings object for the target, defaults applied; throws a 400 naming the field. */
  parseSettings: (target: TargetKind, settings: Record<string, unknown>) => Record<string, unknown>;
}

const same = (a: unknown, b: unknown): boolean => JSON.stringify(a) === JSON.stringify(b);

/**
 * Changes some settings of a link; the next run uses them. The merged settings are validated as a whole (a
 * bad field is a 400 naming it) and written only if the link did not change meanwhile (WATCH), so a
 * revocation racing this change always wins. The audit event names each changed setting, old and new value
 * (settings hold no secrets).
 */
export async function updateSettings(
  ctx: StoreContext,
  deps: UpdateSettingsDeps,
  actor: Actor,
  accountId: string,
  linkId: string,
  patch: SettingsPatch,
): Promise<Link> {
  if (!LINK_ROLES.includes(actor.role)) throw forbidden('changing link settings is an admin action');
  const key = ctx.keys.link(accountId, linkId);
  // The link is watched (on a connection of its own): a revocation or an erasure in the meantime wins.
  const { saved, link, settings, changed } = await withWatch(ctx.redis, async (tx) => {
    await tx.watch(key);
    let link: Link;
    try {
      link = await getLink(ctx, accountId, linkId);
    } catch (error) {
      await tx.unwatch();
      throw error;
    }
    if (link.status === 'unlinked' || link.status === 'revoked') {
      await tx.unwatch();
      throw new AppError('link_closed', 409, `link ${linkId} is ${link.status}`);
    }
    const merged: Record<string, unknown> = { ...link.settings };
    for (const [k, v] of Object.entries(patch)) {
      if (v === null) delete merged[k];
      else merged[k] = v;
    }
    let settings: Record<string, unknown>;
    try {
      settings = deps.parseSettings(link.target, merged);
    } catch (error) {
      await tx.unwatch();
      throw error;
    }
    const changed = Object.keys({ ...link.settings, ...settings }).filter(
      (k) => !same(link.settings[k], settings[k]),
    );
    const saved = await tx.multi().hset(key, 'settings', JSON.stringify(settings)).exec();
    return { saved, link, settings, changed };
  });
  if (!saved) throw new AppError('link_changed', 409, `link ${linkId} changed meanwhile; try again`);
  if (changed.length > 0) {
    await appendAudit(ctx.redis, ctx.keys, accountId, {
      type: 'link.settings_changed',
      actor,
      subject: { linkId },
      data: {
        changed: Object.fromEntries(
          changed.map((k) => [k, { from: link.settings[k] ?? null, to: settings[k] ?? null }]),
        ),
      },
    });
  }
  return { ...link, settings };
}
