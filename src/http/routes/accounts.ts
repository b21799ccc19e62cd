import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Services } from '../../app.ts';
import { GrantConsentBody } from '../../consent/consents.ts';
import { AppError } from '../../errors.ts';
import { CreateLinkBody, inactiveLinkError, type Link } from '../../links/links.ts';
import { actorOf, strict } from '../request.ts';
import {
  AccountParams,
  answers,
  Consent,
  LinkParams,
  Link as LinkSchema,
  NoQuery,
  Run,
  RunParams,
  WaitQuery,
} from '../schemas.ts';

/** Links as the API shows them: no secret ever, not even sealed. */
const publicLink = (link: Link) => link;

const SyncBody = z.strictObject({
  dryRun: z.boolean().default(false).describe('plan only: nothing is written to the target'),
});
const NoBody = z.strictObject({}).describe('no body, or `{}`');
const tags = ['consents and links'];

/** Consents, links and their runs. */
export function registerAccountRoutes(root: FastifyInstance, services: Services, maxWaitMs: number): void {
  const app = root.withTypeProvider<ZodTypeProvider>();
  app.post(
    '/v1/accounts/:accountId/consents',
    {
      schema: {
        summary: 'Give consent (the granter is the token’s user)',
        tags,
        params: AccountParams,
        querystring: NoQuery,
        body: strict(GrantConsentBody),
        response: answers({ 201: Consent }, [409, 413, 415]),
      },
    },
    async (req, reply) => {
      const { accountId } = req.params;
      return reply.status(201).send(await services.grantConsent(actorOf(req), accountId, req.body));
    },
  );
  app.get(
    '/v1/accounts/:accountId/consents',
    {
      schema: {
        summary: 'List the account’s consents',
        tags,
        params: AccountParams,
        querystring: NoQuery,
        response: answers({ 200: z.object({ items: z.array(Consent) }) }),
      },
    },
    async (req) => ({ items: await services.listConsents(req.params.accountId) }),
  );

  app.post(
    '/v1/accounts/:accountId/links',
    {
      schema: {
        summary: 'Link a billing system: the target checks the credentials first',
        description:
          'Refused with 409 when no usable consent exists (revoked, or a scope missing: the message says which), 422 when the target or SpinPanel refuses the credentials, 502 `target_error` when the target answers with an error and 503 `target_unreachable` when it cannot be reached.',
        tags,
        params: AccountParams,
        querystring: NoQuery,
        body: strict(CreateLinkBody),
        response: answers({ 201: LinkSchema }, [409, 413, 415, 422, 502, 503]),
      },
    },
    async (req, reply) => {
      const link = await services.createLink(actorOf(req), req.params.accountId, req.body);
      return reply.status(201).send(publicLink(link));
    },
  );
  app.get(
    '/v1/accounts/:accountId/links',
    {
      schema: {
        summary: 'List the account’s links',
        tags,
        params: AccountParams,
        querystring: NoQuery,
        response: answers({ 200: z.object({ items: z.array(LinkSchema) }) }),
      },
    },
    async (req) => ({ items: (await services.listLinks(req.params.accountId)).map(publicLink) }),
  );
  app.get(
    '/v1/accounts/:accountId/links/:linkId',
    {
      schema: {
        summary: 'One link, with its last run',
        tags,
        params: LinkParams,
        querystring: NoQuery,
        response: answers({ 200: LinkSchema.extend({ lastRun: Run.nullable() }) }),
      },
    },
    async (req) => {
      const { accountId, linkId } = req.params;
      const link = await services.getLink(accountId, linkId);
      const [lastRun] = await services.listRuns(accountId, linkId);
      return { ...publicLink(link), lastRun: lastRun ?? null };
    },
  );
  app.post(
    '/v1/accounts/:accountId/links/:linkId/syncs',
    {
      schema: {
        summary: 'Sync now (or plan only, with `dryRun`)',
        description:
          'Queued: 202 with the run id. With `?wait=true`: 200 with the finished run. A link that is not active is refused with 409, saying why (revoked consent, suspended, unlinked) and what to do next.',
        tags: ['runs'],
        params: LinkParams,
        querystring: WaitQuery,
        body: SyncBody,
        response: answers(
          { 200: Run, 202: z.object({ runId: z.string(), state: z.string() }) },
          [409, 413, 415],
        ),
      },
    },
    async (req, reply) => {
      const { accountId, linkId } = req.params;
      const result = await services
        .syncNow(actorOf(req), accountId, linkId, {
          dryRun: req.body.dryRun,
          waitMs: req.query.wait === 'true' ? maxWaitMs : undefined,
        })
        .catch(async (error) => {
          if (error instanceof AppError && error.code === 'link_not_active') {
            throw inactiveLinkError(await services.getLink(accountId, linkId));
          }
          throw error;
        });
      if (result.run && result.run.status !== 'running') return reply.status(200).send(result.run);
      return reply.status(202).send({ runId: result.runId, state: result.state });
    },
  );
  app.get(
    '/v1/accounts/:accountId/links/:linkId/syncs',
    {
      schema: {
        summary: 'The link’s runs, newest first',
        tags: ['runs'],
        params: LinkParams,
        querystring: NoQuery,
        response: answers({ 200: z.object({ items: z.array(Run) }) }),
      },
    },
    async (req) => {
      const { accountId, linkId } = req.params;
      await services.getLink(accountId, linkId);
      return { items: await services.listRuns(accountId, linkId) };
    },
  );
  app.post(
    '/v1/accounts/:accountId/links/:linkId/runs/:runId/approve',
    {
      schema: {
        summary: 'Approve a run awaiting approval (review mode): apply its plan',
        description:
          'Queues a run that applies exactly the approved plan if SpinPanel and the target are as the approved run read them; otherwise it plans again and ends `awaiting-approval`, saying what changed (`changedSinceApproval`). Audited as `run.approved`. Queued: 202 with the run id; with `?wait=true`: 200 with the finished run. 409 when the run is not awaiting approval or the link is not active.',
        tags: ['runs'],
        params: RunParams,
        querystring: WaitQuery,
        body: NoBody,
        response: answers(
          { 200: Run, 202: z.object({ runId: z.string(), state: z.string() }) },
          [409, 413, 415],
        ),
      },
    },
    async (req, reply) => {
      const { accountId, linkId, runId } = req.params;
      const result = await services.approveRun(actorOf(req), accountId, linkId, runId, {
        waitMs: req.query.wait === 'true' ? maxWaitMs : undefined,
      });
      if (result.run && result.run.status !== 'running') return reply.status(200).send(result.run);
      return reply.status(202).send({ runId: result.runId, state: result.state });
    },
  );
  app.get(
    '/v1/accounts/:accountId/links/:linkId/syncs/:runId',
    {
      schema: {
        summary: 'One run, with its reconciliation',
        tags: ['runs'],
        params: RunParams,
        querystring: NoQuery,
        response: answers({ 200: Run }),
      },
    },
    async (req) => {
      const { accountId, linkId, runId } = req.params;
      return services.getRun(accountId, linkId, runId);
    },
  );
}
