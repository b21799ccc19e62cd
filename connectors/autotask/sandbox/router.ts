import { createAdjustment } from './adjustments.ts';
import type { Store } from './db.ts';
import { badRequest, businessError, noRoute, notFound, type SandboxReply, wrongVerb } from './errors.ts';
import { canonicalEntity, type EntityName } from './fields.ts';
import { entityFields, entityInfo, udfDefinitions } from './metadata.ts';
import { countQuery, parseQuerySpec, project, runQuery, tableRows } from './query.ts';
import { CAPABILITIES } from './specs.ts';
import {
  createCharge,
  createContract,
  createContractService,
  createService,
  deleteCharge,
  updateCharge,
  updateContract,
  updateContractService,
  updateService,
} from './writes.ts';

/** What a handler sees of the server. */
export interface Ctx {
  store: Store;
  method: string;
  url: URL;
  body: unknown;
  apiBaseUrl: string;
  webUrl: string;
  knownUser(userName: string): boolean;
  threshold(): { limit: number; count: number };
}

export interface Resolved {
  /** Endpoint name: for request records and the per-endpoint thread limit. */
  entity: string;
  /** Whether the ApiIntegrationCode/UserName/Secret headers are checked. */
  auth: boolean;
  run(ctx: Ctx): unknown;
}

type Handler = Resolved['run'];
const fail =
  (reply: SandboxReply): Handler =>
  () => {
    throw reply;
  };
const isId = (s: string | undefined): s is string => s !== undefined && /^\d+$/.test(s);

function objectBody(ctx: Ctx): Record<string, unknown> {
  if (ctx.body === undefined || ctx.body === null) return {};
  if (typeof ctx.body !== 'object' || Array.isArray(ctx.body))
    throw badRequest('The request body must be a JSON object');
  return ctx.body as Record<string, unknown>;
}

function searchParam(ctx: Ctx): { text: string; value: unknown } {
  const text = ctx.url.searchParams.get('search');
  if (text === null) throw businessError('The search parameter is required');
  try {
    return { text, value: JSON.parse(text) };
  } catch {
    throw badRequest('The search parameter is not valid JSON');
  }
}

/** One page of a query. nextPageUrl keeps the verb: a page of a POST query can only be fetched by POST. */
function queryPage(entity: EntityName, ctx: Ctx, paging?: { lastId: number; max: number }): unknown {
  const viaGet = ctx.method === 'GET';
  const search = viaGet ? searchParam(ctx) : undefined;
  const spec = parseQuerySpec(entity, viaGet ? search?.value : ctx.body, paging?.max);
  const { items, more, lastId } = runQuery(
    entity,
    tableRows(entity, ctx.store, spec.filter),
    spec,
    paging?.lastId,
  );
  let nextPageUrl: string | null = null;
  if (more && lastId !== undefined) {
    const token = encodeURIComponent(JSON.stringify({ lastId, max: spec.max }));
    nextPageUrl = `${ctx.apiBaseUrl}V1.0/${entity}/query/next?paging=${token}`;
    if (search) nextPageUrl += `&search=${encodeURIComponent(search.text)}`;
  }
  return {
    items,
    pageDetails: { count: items.length, requestCount: spec.max, prevPageUrl: null, nextPageUrl },
  };
}

function nextPage(entity: EntityName, ctx: Ctx): unknown {
  if (ctx.method === 'GET' && !ctx.url.searchParams.has('search')) throw wrongVerb('GET');
  let paging: { lastId: number; max: number };
  try {
    paging = JSON.parse(ctx.url.searchParams.get('paging') ?? '');
  } catch {
    throw badRequest('The paging parameter is not valid');
  }
  if (!Number.isInteger(paging?.lastId) || !Number.isInteger(paging?.max))
    throw badRequest('The paging parameter is not valid');
  return queryPage(entity, ctx, paging);
}

const verbs =
  (table: Partial<Record<string, Handler>>): Handler =>
  (ctx) => {
    const h = table[ctx.method];
    if (!h) throw wrongVerb(ctx.method);
    return h(ctx);
  };

function entityRoute(entity: EntityName, rest: string[]): Handler {
  const caps = CAPABILITIES[entity];
  const [a, b] = [rest[0]?.toLowerCase(), rest[1]?.toLowerCase()];
  if (rest.length === 0) {
    const create = ROOT_CREATE[entity];
    const update = ROOT_UPDATE[entity];
    return (ctx) => {
      if (ctx.method === 'POST' && !create) {
        // Child-only entities have no root create route at all, hence 404 rather than 405.
        if (entity === 'ContractServices' || entity === 'ContractCharges') throw noRoute(ctx.url.href);
        throw wrongVerb('POST');
      }
      return verbs({
        POST: create && ((c) => ({ itemId: create(c.store, objectBody(c)) })),
        PATCH: update && ((c) => ({ itemId: update(c.store, objectBody(c)) })),
      })(ctx);
    };
  }
  if (a === 'query' && caps.canQuery) {
    if (rest.length === 1)
      return verbs({ GET: (c) => queryPage(entity, c), POST: (c) => queryPage(entity, c) });
    if (rest.length === 2 && b === 'count') {
      const count = (c: Ctx) => {
        const spec = c.method === 'GET' ? searchParam(c).value : objectBody(c);
        const filter = parseQuerySpec(entity, spec).filter;
        return { queryCount: countQuery(entity, tableRows(entity, c.store, filter), filter) };
      };
      return verbs({ GET: count, POST: count });
    }
    if (rest.length === 2 && b === 'next')
      return verbs({ GET: (c) => nextPage(entity, c), POST: (c) => nextPage(entity, c) });
  }
  if (a === 'query') {
    // ContractServiceAdjustments cannot be queried: the route exists, no verb is allowed on it.
    return (ctx) => {
      throw wrongVerb(ctx.method);
    };
  }
  if (a === 'entityinformation') {
    if (rest.length === 1) return verbs({ GET: () => ({ info: entityInfo(entity) }) });
    if (rest.length === 2 && b === 'fields')
      return verbs({ GET: (c) => ({ fields: entityFields(entity, c.store) }) });
    if (rest.length === 2 && b === 'userdefinedfields')
      return verbs({ GET: (c) => ({ fields: udfDefinitions(entity, c.store) }) });
  }
  if (rest.length === 1 && isId(rest[0])) {
    const id = Number(rest[0]);
    if (!caps.canQuery) return fail(wrongVerb('GET'));
    return verbs({
      GET: (c) => {
        const row = tableRows(entity, c.store).find((r) => r.id === id);
        if (!row) throw notFound(`No ${entity} record with id ${id} was found`);
        return { item: project(row, undefined) };
      },
    });
  }
  return (ctx) => {
    throw noRoute(ctx.url.href);
  };
}

type Create = (s: Store, body: Record<string, unknown>) => number;
const ROOT_CREATE: Partial<Record<EntityName, Create>> = {
  Contracts: createContract,
  Services: createService,
  ContractServiceAdjustments: createAdjustment,
};
const ROOT_UPDATE: Partial<Record<EntityName, Create>> = {
  Contracts: updateContract,
  Services: updateService,
  ContractServices: (s, body) => updateContractService(s, undefined, body),
};

/** /V1.0/Contracts/{id}/Services and /V1.0/Contracts/{id}/Charges — the only way to create those children. */
function childRoute(parentId: number, child: string, rest: string[]): Resolved | undefined {
  const childOf = (entity: EntityName) => (c: Ctx) => {
    const items = tableRows(entity, c.store).filter((r) => r.contractID === parentId);
    return {
      items,
      pageDetails: { count: items.length, requestCount: 500, prevPageUrl: null, nextPageUrl: null },
    };
  };
  if (child === 'services' && rest.length === 0) {
    return {
      entity: 'ContractServices',
      auth: true,
      run: verbs({
        GET: childOf('ContractServices'),
        POST: (c) => ({ itemId: createContractService(c.store, parentId, objectBody(c)) }),
        PATCH: (c) => ({ itemId: updateContractService(c.store, parentId, objectBody(c)) }),
      }),
    };
  }
  if (child === 'charges' && rest.length === 0) {
    return {
      entity: 'ContractCharges',
      auth: true,
      run: verbs({
        GET: childOf('ContractCharges'),
        POST: (c) => ({ itemId: createCharge(c.store, parentId, objectBody(c)) }),
        PATCH: (c) => ({ itemId: updateCharge(c.store, parentId, objectBody(c)) }),
      }),
    };
  }
  if (child === 'charges' && rest.length === 1 && isId(rest[0])) {
    const id = Number(rest[0]);
    return {
      entity: 'ContractCharges',
      auth: true,
      run: verbs({ DELETE: (c) => ({ itemId: deleteCharge(c.store, parentId, id) }) }),
    };
  }
  return undefined;
}

/** Maps a request to its endpoint. Paths are matched case-insensitively, as Autotask's are. */
export function resolve(url: URL): Resolved {
  const seg = url.pathname.split('/').filter(Boolean);
  const lower = seg.map((s) => s.toLowerCase());
  const none = (entity: string, auth: boolean): Resolved => ({
    entity,
    auth,
    run: (c) => fail(noRoute(c.url.href))(c),
  });
  if (lower[0] !== 'atservicesrest') return none(seg[0] ?? '', false);
  if (lower[1] === 'versioninformation' && seg.length === 2) {
    return {
      entity: 'versionInformation',
      auth: false,
      run: verbs({ GET: () => ({ apiversions: ['1.0'] }) }),
    };
  }
  if (lower[1] !== 'v1.0' || seg.length < 3) return none(seg[1] ?? '', false);
  const [head, ...rest] = [seg[2] as string, ...seg.slice(3)];
  switch (head.toLowerCase()) {
    case 'zoneinformation':
      return { entity: 'zoneInformation', auth: false, run: verbs({ GET: zoneInformation }) };
    case 'versioninformation':
      return {
        entity: 'versionInformation',
        auth: true,
        run: verbs({ GET: () => ({ apiversions: ['1.0'] }) }),
      };
    case 'thresholdinformation':
      return { entity: 'ThresholdInformation', auth: true, run: verbs({ GET: thresholdInformation }) };
  }
  const entity = canonicalEntity(head);
  if (!entity) return none(head, true);
  if (entity === 'Contracts' && isId(rest[0]) && rest[1]) {
    return childRoute(Number(rest[0]), rest[1].toLowerCase(), rest.slice(2)) ?? none(rest[1], true);
  }
  return { entity, auth: true, run: entityRoute(entity, rest) };
}

function zoneInformation(ctx: Ctx): unknown {
  const user = ctx.url.searchParams.get('user') ?? '';
  if (!ctx.knownUser(user)) throw businessError('Zone information could not be determined');
  return { zoneName: 'Sandbox', url: ctx.apiBaseUrl, webUrl: ctx.webUrl, ci: 1 };
}

function thresholdInformation(ctx: Ctx): unknown {
  const { limit, count } = ctx.threshold();
  return {
    externalRequestThreshold: limit,
    requestThresholdTimeframe: 60,
    currentTimeframeRequestCount: count,
  };
}
