import type { Queue } from 'bullmq';
import type { LinkMapping } from '../../connectors/types.ts';
import { AppError } from '../errors.ts';
import { removeLinkJobs } from '../links/link-jobs.ts';
import { getLink, getMapping, type Link, listLinks, putMapping } from '../links/links.ts';
import { assertMappingFits, type MappingDocument } from '../links/target-account.ts';
import type { UnlinkReport } from '../links/unlink.ts';
import type { RetryPolicy } from '../queue/catalog.ts';
import { scheduleLink, unscheduleLink } from '../queue/queues.ts';
import { enqueueUnlink, unlinkJobId } from '../queue/unlink.ts';
import type { StoreContext } from '../store/context.ts';
import { type Actor, getConsent } from './consents.ts';
import { consentInflight, type DrainReport, drain } from './inflight.ts';
import { type RevokeResult, revokeConsent, type StopReport, stopLinks } from './revoke.ts';
import { resumeLink, suspendLink } from './suspend.ts';

export interface LifecycleDeps {
  store: StoreContext;
  syncQueue: Queue;
  unlinkQueue: Queue;
  retry: RetryPolicy;
  /** REVOKE_WAIT_MS: longest wait for in-flight requests (and, on request, for the unlink). */
  waitMs: number;
}

/** What the unlink of a revoked link deletes; the answer lists it as done or as queued. */
export const UNLINK_DELETES = [
  'job schedule and queued sync jobs',
  'stored credentials (target and SpinPanel API key)',
  'mappings, opt-outs and cached billing data',
  'run details (kept only as counts, without names)',
] as const;

export const NOT_RETROACTIVE =
  'Data already delivered to the billing system stays there: revocation is not retroactive.';

export interface UnlinkState {
  linkId: string;
  jobId: string;
  state: string;
  report?: UnlinkReport;
}

export interface RevocationAnswer extends RevokeResult {
  /** The consent was revoked before this call: the answer is that revocation's state. */
  alreadyRevoked?: boolean;
  unscheduled: string[];
  /** Per closed link: running syncs cancelled, requests on the wire and what became of them. */
  stopped: StopReport[];
  /** Credential checks of links being made under the consent when it was revoked (those links are refused). */
  linking: DrainReport;
  /** True when every request on the wire at revocation was answered before this answer: none can arrive later. */
  confirmed: boolean;
  unlink: UnlinkState[];
}

export interface SuspendAnswer {
  link: Link;
  stopped: StopReport;
  /** True when every request on the wire at suspension was answered before this answer. */
  confirmed: boolean;
  unscheduled: boolean;
  queuedJobsRemoved: number;
}

/** Revocation, suspension and mappings: the link lifecycle the admin API and privacy features share. */
export function createLifecycleServices(d: LifecycleDeps) {
  const { store, syncQueue, unlinkQueue } = d;
  const { redis, keys } = store;

  /**
   * Makes the link's job scheduler match its status (scheduled while active, not otherwise), then reads the
   * status again: when it moved meanwhile, it goes round once more. So a revocation or suspension committed while
   * a link was being made or resumed is never undone by a schedule written after it, whichever finishes last.
   * Returns whether the link is scheduled.
   */
  async function settleSchedule(accountId: string, linkId: string): Promise<boolean> {
    const key = keys.link(accountId, linkId);
    for (let round = 0; round < 10; round++) {
      const [status, epoch] = await redis.hmget(key, 'status', 'epoch');
      if (status === 'active')
        await scheduleLink(syncQueue, await getLink(store, accountId, linkId), d.retry);
      else await unscheduleLink(syncQueue, accountId, linkId);
      const [after, epochAfter] = await redis.hmget(key, 'status', 'epoch');
      if (after === status && epochAfter === epoch) return status === 'active';
    }
    throw new AppError('busy', 503, `link ${linkId} kept changing while its schedule was set; try again`);
  }

  /**
   * A revocation commits before it queues its unlinks; after a crash in between, asking again finds the consent
   * revoked. That answer queues whatever unlink is missing (one job per link, so never twice) before it is given.
   */
  async function requeueUnlinks(accountId: string, consentId: string): Promise<void> {
    for (const link of await listLinks(store, accountId)) {
      if (link.consentId === consentId && link.status === 'revoked') {
        await enqueueUnlink(unlinkQueue, { accountId, linkId: link.id, cause: 'consent.revoked' });
      }
    }
  }

  async function waitForUnlinks(jobs: UnlinkState[]): Promise<void> {
    const until = Date.now() + d.waitMs;
    for (const u of jobs) {
      for (;;) {
        const job = await unlinkQueue.getJob(u.jobId);
        u.state = job ? await job.getState() : 'unknown';
        if (u.state === 'completed') u.report = job?.returnvalue as UnlinkReport;
        if (u.state === 'completed' || u.state === 'failed' || Date.now() > until) break;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  return {
    /**
     * Withdraws a consent. Answers only when nothing more of its links can reach a target: the gate is closed
     * (one MULTI), running syncs are told to cancel, and the wait for requests on the wire is over. The unlink
     * (credentials destroyed, data purged) is a durable job; with `waitForUnlink` the answer waits for it too.
     */
    async revokeConsent(
      actor: Actor,
      accountId: string,
      consentId: string,
      opts: { waitForUnlink?: boolean; idempotent?: boolean } = {},
    ): Promise<RevocationAnswer> {
      let again = false;
      const result = await revokeConsent(store, actor, accountId, consentId).catch(async (error) => {
        if (!(error instanceof AppError && error.code === 'already_revoked')) throw error;
        await requeueUnlinks(accountId, consentId);
        if (!opts.idempotent) throw error;
        // Asked again: the answer is that revocation's state (its links, their stop and unlink), not a refusal.
        again = true;
        const consent = await getConsent(store, accountId, consentId);
        const closed = (await listLinks(store, accountId)).filter(
          (l) => l.consentId === consentId && (l.status === 'revoked' || l.status === 'unlinked'),
        );
        return { consent, closedLinkIds: closed.map((l) => l.id), alreadyRevoked: true };
      });
      const linkIds = result.closedLinkIds;
      // Queued first, so the unlink is durable as early as possible; it waits for running syncs by itself.
      const unlink: UnlinkState[] = [];
      for (const linkId of linkIds) {
        if (again) {
          const job = await unlinkQueue.getJob(unlinkJobId(linkId));
          const state = job ? await job.getState() : 'completed';
          unlink.push({ linkId, jobId: unlinkJobId(linkId), state });
          continue;
        }
        await enqueueUnlink(unlinkQueue, { accountId, linkId, cause: 'consent.revoked' });
        unlink.push({ linkId, jobId: unlinkJobId(linkId), state: 'queued' });
      }
      const [stopped, linking, unscheduled] = await Promise.all([
        stopLinks(store, syncQueue, accountId, linkIds, 'the link is revoked', d.waitMs),
        drain(redis, consentInflight(keys, accountId, consentId), d.waitMs),
        Promise.all(linkIds.map((id) => unscheduleLink(syncQueue, accountId, id))),
      ]);
      if (opts.waitForUnlink) await waitForUnlinks(unlink);
      return {
        ...result,
        unscheduled: linkIds.filter((_, i) => unscheduled[i]),
        stopped,
        linking,
        confirmed: linking.unconfirmed === 0 && stopped.every((s) => s.inFlight.unconfirmed === 0),
        unlink,
      };
    },

    /** Pauses a link: gate closed under a new epoch, running sync cancelled, schedule removed; nothing deleted. */
    async suspendLink(actor: Actor, accountId: string, linkId: string): Promise<SuspendAnswer> {
      const link = await suspendLink(store, actor, accountId, linkId);
      const [stopped] = await stopLinks(
        store,
        syncQueue,
        accountId,
        [linkId],
        'the link is suspended',
        d.waitMs,
      );
      const scheduled = await settleSchedule(accountId, linkId);
      // Queued runs carry the old epoch and would only be refused at the gate: removing them keeps history clean
      // (not when a resume came in meanwhile: its scheduler's next run is among them, and BullMQ keeps it).
      const queuedJobsRemoved = scheduled ? 0 : await removeLinkJobs(syncQueue, accountId, linkId, 'pending');
      return {
        link,
        stopped: stopped!,
        confirmed: stopped!.inFlight.unconfirmed === 0,
        unscheduled: !scheduled,
        queuedJobsRemoved,
      };
    },

    /** Re-opens a suspended link under a new epoch and gives it its schedule back. */
    async resumeLink(actor: Actor, accountId: string, linkId: string): Promise<Link> {
      const link = await resumeLink(store, actor, accountId, linkId);
      await settleSchedule(accountId, linkId);
      return link;
    },

    /** For a link just made: scheduled unless a revocation closed it meanwhile. */
    settleSchedule,

    async getMapping(accountId: string, linkId: string): Promise<MappingDocument> {
      const link = await getLink(store, accountId, linkId);
      const mapping = await getMapping(store, accountId, linkId);
      return { linkId, ...(link.targetAccount ? { targetAccount: link.targetAccount } : {}), ...mapping };
    },

    /** A document stamped for another target account (e.g. copied from an unlinked link) is refused. */
    async putMapping(
      actor: Actor,
      accountId: string,
      linkId: string,
      doc: MappingDocument | LinkMapping,
    ): Promise<MappingDocument> {
      const link = await getLink(store, accountId, linkId);
      assertMappingFits(link, doc as MappingDocument);
      const saved = await putMapping(store, actor, accountId, linkId, {
        customers: doc.customers,
        products: doc.products,
      });
      // putMapping checked the status before writing; an unlink that purged meanwhile would miss this write.
      const status = await redis.hget(keys.link(accountId, linkId), 'status');
      if (status !== 'active' && status !== 'suspended') {
        await redis.del(keys.mapping(accountId, linkId));
        throw new AppError('link_closed', 409, `link ${linkId} is ${status ?? 'gone'}`);
      }
      return { linkId, ...(link.targetAccount ? { targetAccount: link.targetAccount } : {}), ...saved };
    },
  };
}

/** The revocation answer in the admin's words: what stopped, what is (or will be) deleted, what stays. */
export function revocationBody(r: RevocationAnswer) {
  const unconfirmed = r.stopped.reduce((n, s) => n + s.inFlight.unconfirmed, r.linking.unconfirmed);
  const allDone = r.unlink.every((u) => u.state === 'completed');
  return {
    consent: r.consent,
    ...(r.alreadyRevoked ? { alreadyRevoked: true } : {}),
    closedLinks: r.closedLinkIds,
    unscheduled: r.unscheduled,
    confirmed: r.confirmed,
    /** Credential checks of links being made under the consent: waited for like requests of its links. */
    linksBeingMade: r.linking,
    stopped: r.confirmed
      ? 'Processing stopped: no request for these links reaches the billing system after this answer.'
      : `Processing stopped, but ${unconfirmed} request(s) already sent could not be confirmed finished; the billing system may still receive them.`,
    links: r.stopped.map((s) => {
      const u = r.unlink.find((x) => x.linkId === s.linkId);
      return {
        linkId: s.linkId,
        runningSyncsCancelled: s.runningSyncs,
        inFlight: s.inFlight,
        unlink: { jobId: u?.jobId, state: u?.state ?? 'queued', ...(u?.report ? { report: u.report } : {}) },
      };
    }),
    ...(r.unlink.length === 0
      ? {}
      : allDone
        ? { deleted: UNLINK_DELETES }
        : { queuedForDeletion: UNLINK_DELETES }),
    note: `${NOT_RETROACTIVE} Linking again needs a new consent.`,
  };
}
